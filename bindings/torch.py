"""The torch binding: models, state_dicts and checkpoint files in, ``LayeredGraph`` / ``EpochStore`` out.

* :func:`from_module` — a model whose weighted layers are ``nn.Linear`` in sequence → ``LayeredGraph``
  (``Linear.weight`` is (out, in): the blocks are its transpose). On a CUDA device the blocks go to CuPy
  through DLPack, with no host copy.
* :func:`from_state_dict`, :func:`load_checkpoint` — the same from a state_dict or a checkpoint file
  (``torch.load(..., weights_only=True)`` only: never unpickle arbitrary objects; or safetensors).
* :class:`Recorder` — ``recorder.save(epoch, **scalars)`` from a user's own training loop into an epoch store.
* :func:`ingest` — a directory of checkpoints, ordered by the epoch in the file name → one epoch store,
  all or nothing.

torch and safetensors are imported inside the functions that need them.
"""
import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np

from deepcnt.errors import DeviceError, InputError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar", ".safetensors")
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "network")


def _to_array(t, device):
    """A detached tensor as a numpy array, or as a CuPy array through DLPack when it lives on a CUDA device."""
    import torch

    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    if t.is_cuda and device != "cpu":
        try:
            import cupy
        except ImportError:
            if device == "gpu":
                raise DeviceError("the model is on a CUDA device but CuPy is not installed: "
                                  "pip install cupy-cuda12x, or pass device='cpu'") from None
        else:
            return cupy.from_dlpack(t.contiguous())
    if device == "gpu":
        raise DeviceError("device='gpu' needs the model on a CUDA device (model.to('cuda'))")
    return t.cpu().numpy()


def module_layers(model):
    """The ``nn.Linear`` layers of ``model`` in registration order: list of ``(name, linear)``.

    Raises
    ------
    InputError
        A module holding parameters that is not ``nn.Linear`` (convolution, normalisation, embedding,
        a custom parameter): the error names the first one.
    """
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise InputError(f"from_module needs a torch.nn.Module, got {type(model).__name__}")
    layers = []
    for name, mod in model.named_modules():
        label = name or "<model>"
        if isinstance(mod, nn.Linear):
            layers.append((label, mod))
        elif list(mod.parameters(recurse=False)) or list(mod.buffers(recurse=False)):
            raise InputError(
                f"layer {label!r} ({type(mod).__name__}) holds weights or statistics but is not nn.Linear: "
                "deepcnt's graph covers sequences of fully connected layers only"
            )
        # parameter-free leaves (activations, dropout, flatten, custom activations) are ignored: a layer that
        # changed the width between two Linear layers is caught by the chaining check of module_arrays
    if not layers:
        raise InputError("the model has no nn.Linear layer: nothing to build a layered graph from")
    return layers


def module_arrays(model, device=None):
    """``(weights, biases, names)`` of a Linear-sequence model; blocks shaped (n_in, n_out) (transposed)."""
    layers = module_layers(model)
    ws, bs = [], []
    for l, (name, lin) in enumerate(layers):
        if l and lin.in_features != layers[l - 1][1].out_features:
            raise InputError(
                f"layer {name!r} takes {lin.in_features} inputs but the previous Linear layer "
                f"{layers[l - 1][0]!r} gives {layers[l - 1][1].out_features}: not a sequence of fully connected layers"
            )
        ws.append(_to_array(lin.weight.T, device))
        bs.append(None if lin.bias is None else _to_array(lin.bias, device))
    names = ["input"] + [n for n, _ in layers]
    return ws, bs, names


def from_module(model, device=None, input_shape=None):
    """The layered graph of a model whose weighted layers are ``nn.Linear`` in sequence, or convolutional
    (``Conv2d``, pooling, ``Flatten``, ``Linear``: implicit conv blocks, see ``bindings.torch_conv``).

    Parameters
    ----------
    model : torch.nn.Module
        E.g. ``nn.Sequential(nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10))``. Activations,
        dropout and flatten layers are ignored (the graph holds the weights only).
    device : {None, "cpu", "gpu"}
        ``None`` follows the model: CUDA parameters are handed to CuPy through DLPack (no host copy).
    input_shape : tuple (C, H, W), optional
        The input of a convolutional model (required there, unused for Linear sequences).

    Returns
    -------
    LayeredGraph
        Blocks ``W_l = Linear_l.weight^T`` of shape (in, out); biases where the layers have them (zeros for
        layers without).

    .. math:: W_l[i, j] = \\text{Linear}_l.\\text{weight}[j, i]
    """
    from deepcnt.model.graph import LayeredGraph

    from .torch_conv import from_conv_module, is_conv_model

    if is_conv_model(model):
        return from_conv_module(model, input_shape, device)
    ws, bs, names = module_arrays(model, device)
    biases = None if all(b is None for b in bs) else bs
    return LayeredGraph.from_weights(ws, biases=biases, layer_names=names)


# ---------------------------------------------------------------------------------------------- state dicts
def state_dict_arrays(sd, source="state_dict"):
    """``(weights, biases, names)`` from a state_dict of Linear layers, in key order.

    ``weights[l]`` is ``sd[prefix + ".weight"].T`` as numpy (shape (in, out)); ``biases[l]`` the matching
    ``.bias`` or ``None``. Any other key (convolution kernels, normalisation statistics) is refused by name.
    """
    if not isinstance(sd, dict):
        raise InputError(f"{source} is a {type(sd).__name__}, not a state_dict (a dict of tensors)")
    for key in _NESTED_KEYS:
        if isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    groups = {}
    for key, val in sd.items():
        if not hasattr(val, "shape"):
            raise InputError(f"{source}: entry {key!r} is a {type(val).__name__}, not a tensor")
        prefix, _, leaf = str(key).rpartition(".")
        groups.setdefault(prefix, {})[leaf] = val
    ws, bs, names = [], [], []
    for prefix, params in groups.items():
        w = params.pop("weight", None)
        b = params.pop("bias", None)
        label = prefix or "<root>"
        if params:
            extra = next(iter(params))
            raise InputError(f"{source}: layer {label!r} has {extra!r}, which a Linear layer does not have: "
                             "only sequences of fully connected (Linear) layers are supported")
        if w is None:
            raise InputError(f"{source}: layer {label!r} has a bias but no weight")
        w = _np(w)
        if w.ndim != 2:
            raise InputError(f"{source}: layer {label!r} has a weight of shape {tuple(w.shape)}: only Linear "
                             "layers (2-D weights) are supported")
        if b is not None:
            b = _np(b)
            if b.shape != (w.shape[0],):
                raise InputError(f"{source}: layer {label!r} has a bias of shape {tuple(b.shape)} for "
                                 f"{w.shape[0]} outputs")
        if ws and ws[-1].shape[1] != w.shape[1]:
            raise InputError(f"{source}: layer {label!r} takes {w.shape[1]} inputs but the previous layer "
                             f"gives {ws[-1].shape[1]}")
        ws.append(w.T)
        bs.append(b)
        names.append(label)
    if not ws:
        raise InputError(f"{source} holds no weights")
    return ws, bs, ["input"] + names


def _np(t):
    if isinstance(t, np.ndarray):
        return t
    import torch

    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.cpu().numpy()


def from_state_dict(sd):
    """The layered graph of a state_dict of Linear layers (see :func:`state_dict_arrays`)."""
    from deepcnt.model.graph import LayeredGraph

    ws, bs, names = state_dict_arrays(sd)
    return LayeredGraph.from_weights(ws, biases=None if all(b is None for b in bs) else bs, layer_names=names)


def load_checkpoint(path):
    """Load a checkpoint file as a dict of arrays/tensors, safely.

    ``*.safetensors`` is read with safetensors; anything else with ``torch.load(path, map_location="cpu",
    weights_only=True)``, which refuses pickled Python objects (code) outright.

    Raises
    ------
    InputError
        Missing, empty, truncated or corrupt file; a pickle that holds anything but tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"checkpoint {path} is empty")
    if path.suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise InputError("reading .safetensors needs the safetensors package: pip install safetensors") from None
        try:
            return load_file(str(path))
        except Exception as exc:
            if "bf16" in str(exc).lower() or "bfloat16" in str(exc).lower():
                from safetensors.torch import load_file as load_torch

                return load_torch(str(path))
            raise InputError(f"checkpoint {path} is corrupt or truncated ({_short(exc)})") from None
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:  # the weights-only unpickler met bytes that are no pickle at all
            raise InputError(f"checkpoint {path} is corrupt or truncated (not a torch checkpoint)") from None
        raise InputError(
            f"checkpoint {path} was refused: it holds Python objects other than tensors ({found.group(1)}); "
            "deepcnt loads checkpoints with weights_only=True and never unpickles code: save "
            "model.state_dict() instead"
        ) from None
    except Exception as exc:
        raise InputError(f"checkpoint {path} is corrupt or truncated ({_short(exc)})") from None


def _short(exc):
    msg = " ".join(str(exc).split())
    first = msg.split(". ")[0]
    return f"{exc.__class__.__name__}: {first[:160]}"


def checkpoint_arrays(path):
    """``(weights, biases, names)`` of a checkpoint file of Linear layers."""
    return state_dict_arrays(load_checkpoint(path), source=f"checkpoint {path}")


def epoch_from_name(name):
    """The epoch in a checkpoint file name: the last integer in its stem (``epoch_0012.pt`` → 12)."""
    nums = re.findall(r"\d+", Path(name).stem)
    if not nums:
        raise InputError(f"checkpoint {name} has no epoch number in its name (e.g. epoch_12.pt)")
    return int(nums[-1])


# ---------------------------------------------------------------------------------------------- stores
def _store_for(run_dir, ws, bs, names, metadata):
    from deepcnt.runs.store import EpochStore

    sizes = [ws[0].shape[0]] + [w.shape[1] for w in ws]
    dtype = "float64" if any(w.dtype == np.float64 for w in ws) else "float32"
    run_dir = Path(run_dir)
    if (run_dir / "meta.json").exists():
        store = EpochStore.open(run_dir, "a")
        if store.sizes != tuple(sizes):
            store.close()
            raise InputError(f"run {run_dir} holds architecture {store.sizes}, not {tuple(sizes)}")
        return store
    return EpochStore.create(run_dir, sizes, n_members=1, biases=any(b is not None for b in bs), dtype=dtype,
                             layer_names=names, metadata=metadata)


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


class Recorder:
    """Save a model's Linear weights into an epoch store from your own training loop.

    Examples
    --------
    >>> rec = Recorder("runs/mine", model, metadata={"data": "mnist"})   # doctest: +SKIP
    >>> for epoch in range(10):                                         # doctest: +SKIP
    ...     train_one_epoch(model)
    ...     rec.save(epoch, loss=loss, test_acc=acc)
    >>> rec.close()                                                     # doctest: +SKIP

    An existing run directory of the same architecture is resumed (epochs must keep increasing).
    """

    def __init__(self, run_dir, model, metadata=None):
        self.run_dir = Path(run_dir)
        self.model = model
        ws, bs, names = module_arrays(model, device="cpu")
        meta = {"source": "Recorder", "model": type(model).__name__}
        meta.update(metadata or {})
        self.store = _store_for(self.run_dir, ws, bs, names, meta)

    def save(self, epoch, **scalars):
        """Append the model's current weights as ``epoch`` with the given scalars (loss=..., acc=...)."""
        ws, bs, _ = module_arrays(self.model, device="cpu")
        sizes = tuple([ws[0].shape[0]] + [w.shape[1] for w in ws])
        if sizes != self.store.sizes:
            raise InputError(f"the model's architecture changed to {sizes} (the run holds {self.store.sizes})")
        biases = None
        if self.store.has_biases:
            biases = [np.zeros(w.shape[1], w.dtype) if b is None else b for w, b in zip(ws, bs)]
        sc = {k: float(v) for k, v in scalars.items()}
        return self.store.append(epoch, ws, biases=biases, scalars=sc)

    def close(self):
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def find_checkpoints(folder):
    """Checkpoint files of ``folder`` as ``[(epoch, path)]`` sorted by epoch."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"checkpoint directory {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    if not files:
        raise InputError(f"{folder} holds no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)})")
    pairs = sorted((epoch_from_name(p.name), p) for p in files)
    for (e1, p1), (e2, p2) in zip(pairs, pairs[1:]):
        if e1 == e2:
            raise InputError(f"checkpoints {p1.name} and {p2.name} both name epoch {e1}")
    return pairs


_INGEST_TMP = re.compile(r"^\..+\.ingest-(.+)-(\d+)\.tmp$")


def _remove_dead_ingests(parent):
    """Remove the temporary stores of ingests killed in ``parent`` (named after their host and pid; those of
    live processes stay), and the pid-less ones of older versions."""
    from deepcnt.runs.store import _pid_alive

    if not parent.is_dir():
        return
    for p in parent.iterdir():
        m = _INGEST_TMP.match(p.name)
        dead = m and m.group(1) == socket.gethostname() and not _pid_alive(int(m.group(2)))
        if dead or (p.name.startswith(".") and p.name.endswith(".ingest-tmp")):
            shutil.rmtree(p, ignore_errors=True)


def ingest(folder, run_dir, metadata=None, progress=None):
    """Ingest a directory of checkpoints (state_dicts or safetensors) into a new epoch store, all or nothing.

    Files are ordered by the epoch in their names. Every checkpoint must hold the same Linear architecture.
    The store is built in a temporary directory beside ``run_dir`` (``.NAME.ingest-HOST-PID.tmp``) and renamed
    into place only when every checkpoint has been read; on any error nothing is left behind, and the
    temporary of a killed ingest is removed by the next ingest into the same folder.

    Returns
    -------
    EpochStore
        The new store, open for reading.
    """
    from deepcnt.runs.store import EpochStore

    run_dir = Path(run_dir)
    if run_dir.exists():
        raise InputError(f"{run_dir} exists already: ingest into a new run directory")
    pairs = find_checkpoints(folder)
    _remove_dead_ingests(run_dir.parent)
    tmp = run_dir.with_name(f".{run_dir.name}.ingest-{socket.gethostname()}-{os.getpid()}.tmp")
    store = None
    try:
        for k, (epoch, path) in enumerate(pairs):
            ws, bs, names = checkpoint_arrays(path)
            if store is None:
                meta = {"source": "ingest", "checkpoints": str(Path(folder).resolve())}
                meta.update(metadata or {})
                store = _store_for(tmp, ws, bs, names, meta)
            sizes = tuple([ws[0].shape[0]] + [w.shape[1] for w in ws])
            if sizes != store.sizes:
                raise InputError(f"checkpoint {path} has architecture {sizes}, but {pairs[0][1].name} has "
                                 f"{store.sizes}: one run holds one architecture")
            if (any(b is not None for b in bs)) != store.has_biases:
                raise InputError(f"checkpoint {path} {'has' if not store.has_biases else 'lacks'} biases, "
                                 f"unlike {pairs[0][1].name}")
            biases = None
            if store.has_biases:
                biases = [np.zeros(w.shape[1], w.dtype) if b is None else b for w, b in zip(ws, bs)]
            store.append(epoch, ws, biases=biases, scalars={})
            if progress is not None:
                progress(k + 1, len(pairs))
        store.close()
        if run_dir.exists():
            raise InputError(f"{run_dir} was created while ingesting: ingest into a new run directory")
        tmp.rename(run_dir)
    except BaseException:
        if store is not None:
            store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return EpochStore.open(run_dir)
