"""The torch binding: models, state_dicts and checkpoint files in, ``LayeredGraph`` / ``EpochStore`` out.

* :func:`from_module` — a model whose weighted layers are ``nn.Linear`` in sequence → ``LayeredGraph``
  (``Linear.weight`` is (out, in): the blocks are its transpose). On a CUDA device the blocks go to CuPy
  through DLPack, with no host copy.
* :func:`from_state_dict`, :func:`load_checkpoint` — the same from a state_dict or a checkpoint file
  (``torch.load(..., weights_only=True)`` only: never unpickle arbitrary objects; or safetensors).
* :class:`Recorder` — ``recorder.save(epoch, **scalars)`` from a user's own training loop into an epoch store
  (Linear sequences, convolutional models with ``input_shape``, any traceable model as a block DAG).
* :func:`ingest` — a directory of checkpoints (files, Hugging Face ``checkpoint-N/`` folders), each at the
  epoch it records or its name gives (``epoch_from``, :mod:`deepcnt.bindings.checkpoint_epochs`) → one
  epoch store, all or nothing; with ``model=``, read through the model and traced (block DAGs, pruned
  checkpoints as sparse blocks: :mod:`deepcnt.bindings.model_ingest`).

torch and safetensors are imported inside the functions that need them.
"""
import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np
from deepcnt.errors import InputError

from .tensors import to_array as _to_array

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar", ".safetensors")
_NESTED_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "net", "network", "weights")
#: The weight files of a Hugging Face ``checkpoint-N/`` folder, in order of preference.
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


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


def from_module(model, device=None, input_shape=None, example_input=None, fold_norm=True, **trace_options):
    """The layered graph of a model whose weighted layers are ``nn.Linear`` in sequence, or convolutional
    (``Conv2d``, pooling, ``Flatten``, ``Linear``: implicit conv blocks, see ``bindings.torch_conv``); with
    ``example_input``, of any model built from the operations :func:`deepcnt.bindings.trace.trace_module` maps
    (residual adds, normalisation, embeddings, attention: transformers as the graph of one token's features),
    following its real forward.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. ``nn.Sequential(nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10))``. Activations,
        dropout and flatten layers are ignored (the graph holds the weights only).
    device : {None, "cpu", "gpu"}
        ``None`` follows the model: CUDA parameters are handed to CuPy through DLPack (no host copy).
    input_shape : tuple (C, H, W), optional
        The input of a convolutional model (required there, unused for Linear sequences).
    example_input : torch.Tensor, shape (B, ...), optional
        A batch of inputs: the model is traced with ``torch.fx`` (:func:`deepcnt.bindings.trace.trace_module`)
        instead of read in registration order, so skips and residual adds become blocks. On a plain chain it
        gives the graph the registration order gives. Without it, the registration order is read as before
        where the forward calls the registered layers as a chain; otherwise the model is traced on zeros of
        ``input_shape``, or, without one, an error asks for ``example_input`` (never a wrong chain).
    fold_norm : bool
        Where the model is traced: fold each BatchNorm into the block it follows and each LayerNorm/GroupNorm
        into the blocks that read it (default), or keep every normalisation as a diagonal block.
    **trace_options
        ``tokens``, ``embedding``, ``attention``: passed to :func:`deepcnt.bindings.trace.trace_module` where
        the model is traced.

    Returns
    -------
    LayeredGraph
        Blocks ``W_l = Linear_l.weight^T`` of shape (in, out); biases where the layers have them (zeros for
        layers without).

    .. math:: W_l[i, j] = \\text{Linear}_l.\\text{weight}[j, i]
    """
    from deepcnt.model.graph import LayeredGraph

    from .torch_conv import from_conv_module, is_conv_model
    from .trace import chain_problem, trace_module

    if example_input is None:
        why = chain_problem(model)
        if why is not None and input_shape is None:
            raise InputError(f"{type(model).__name__}'s forward is not a chain of its layers in registration order "
                             f"({why}): pass example_input=<a batch of inputs> so that from_module traces it")
        if why is not None:
            example_input = _zeros_like_input(model, input_shape)
    if example_input is not None:
        return trace_module(model, example_input, fold_norm=fold_norm, device=device, **trace_options)
    if trace_options:
        raise InputError(f"{', '.join(sorted(trace_options))} apply where the model is traced: "
                         "pass example_input=<a batch of inputs>")
    if is_conv_model(model):
        return from_conv_module(model, input_shape, device)
    try:
        ws, bs, names = module_arrays(model, device)
    except InputError as exc:
        raise InputError(f"{exc}; pass example_input=<a batch of inputs> so that from_module traces the forward "
                         "(normalisation, embeddings, attention)") from None
    biases = None if all(b is None for b in bs) else bs
    return LayeredGraph.from_weights(ws, biases=biases, layer_names=names)


def _zeros_like_input(model, input_shape):
    """A batch of one zero input of ``input_shape``, in the dtype and on the device of the model's parameters."""
    import torch

    p = next(model.parameters(), None)
    kw = {} if p is None else {"dtype": p.dtype, "device": p.device}
    try:
        return torch.zeros((1,) + tuple(int(v) for v in input_shape), **kw)
    except (TypeError, ValueError):
        raise InputError(f"input_shape must be the shape of one sample, got {input_shape!r}") from None


# ---------------------------------------------------------------------------------------------- state dicts
def _is_scalar(v):
    """A number kept beside the weights (``best_acc``, ``epoch``, a 0-d tensor), not a weight."""
    return isinstance(v, (int, float, bool, str, type(None))) or (hasattr(v, "shape") and len(v.shape) == 0)


def _weights_in(d):
    """True when dict ``d`` holds at least one tensor of one dimension or more."""
    return any(hasattr(v, "shape") and len(v.shape) > 0 for v in d.values())


def _find_state_dict(sd, source):
    """The dict of weights inside a checkpoint: ``sd`` itself, or the model's entry of a training checkpoint.

    A training checkpoint (``{"epoch": 3, "model_state_dict": ..., "optimizer_state_dict": ..., "best_acc":
    0.9}``, Lightning's ``{"state_dict": ..., "optimizer_states": [...], ...}``) holds the weights under a known
    key (:data:`_NESTED_KEYS`), or as the only dict of tensors that is not an optimiser's state.
    """
    if not isinstance(sd, dict):
        raise InputError(f"{source} is a {type(sd).__name__}, not a state_dict (a dict of tensors)")
    for key in _NESTED_KEYS:
        if isinstance(sd.get(key), dict) and _weights_in(sd[key]):
            return sd[key]
    if _weights_in(sd):
        return sd
    inner = [k for k, v in sd.items() if isinstance(v, dict) and _weights_in(v)
             and not {"state", "param_groups"} <= set(v)]
    if len(inner) == 1:
        return sd[inner[0]]
    keys = ", ".join(map(repr, list(sd)[:6])) + (", ..." if len(sd) > 6 else "")
    if inner:
        raise InputError(f"{source} holds several dicts of weights ({', '.join(map(repr, inner))}): "
                         "save the model's state_dict alone, or under the key 'state_dict'")
    raise InputError(f"{source} holds no weights (its entries: {keys}): save model.state_dict()")


def state_dict_arrays(sd, source="state_dict"):
    """``(weights, biases, names)`` from a state_dict of Linear layers, in key order.

    ``weights[l]`` is ``sd[prefix + ".weight"].T`` as numpy (shape (in, out)); a layer pruned with
    ``torch.nn.utils.prune`` (``weight_orig`` and ``weight_mask``) is the :class:`deepcnt.SparseBlock` of
    ``(weight_orig * weight_mask).T``; ``biases[l]`` the matching ``.bias`` or ``None``. A training checkpoint is searched for the model's state_dict (see
    :func:`_find_state_dict`); numbers kept at its top level beside the weights (``best_acc``, ``epoch``) are
    skipped. Any other key (convolution kernels, normalisation statistics) is refused by name.
    """
    sd = _find_state_dict(sd, source)
    groups = {}
    for key, val in sd.items():
        if "." not in str(key) and _is_scalar(val):
            continue  # a scalar beside the weights (best_acc = 0.93): not a layer
        if not hasattr(val, "shape"):
            raise InputError(f"{source}: entry {key!r} is a {type(val).__name__}, not a tensor")
        prefix, _, leaf = str(key).rpartition(".")
        groups.setdefault(prefix, {})[leaf] = val
    ws, bs, names = [], [], []
    for prefix, params in groups.items():
        w = params.pop("weight", None)
        b = params.pop("bias", None)
        label = prefix or "<root>"
        orig, mask = params.pop("weight_orig", None), params.pop("weight_mask", None)
        pruned = w is None and orig is not None and mask is not None
        if pruned:  # torch.nn.utils.prune: the weight is weight_orig * weight_mask
            w = _np(orig) * _np(mask)
        elif orig is not None or mask is not None:
            params["weight_orig" if orig is not None else "weight_mask"] = orig if orig is not None else mask
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
        if ws and ws[-1].shape[-1] != w.shape[1]:
            raise InputError(f"{source}: layer {label!r} takes {w.shape[1]} inputs but the previous layer "
                             f"gives {ws[-1].shape[-1]}")
        if pruned:
            from deepcnt.model.sparse import SparseBlock

            ws.append(SparseBlock(w.T))
        else:
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


def hf_weights(folder):
    """The weight file of a Hugging Face ``checkpoint-N/`` folder (:data:`HF_WEIGHTS`), or ``None``."""
    folder = Path(folder)
    return next((folder / f for f in HF_WEIGHTS if (folder / f).is_file()), None)


def load_checkpoint(path, mmap=False):
    """Load a checkpoint file as a dict of arrays/tensors, safely.

    ``*.safetensors`` is read with safetensors; anything else with ``torch.load(path, map_location="cpu",
    weights_only=True)``, which refuses pickled Python objects (code) outright. A Hugging Face
    ``checkpoint-N/`` folder reads its ``model.safetensors`` or ``pytorch_model.bin``. ``mmap=True`` maps the
    tensors of a zip-format torch file instead of reading them (a cheap look at its other entries).

    Raises
    ------
    InputError
        Missing, empty, truncated or corrupt file; a pickle that holds anything but tensors and plain containers.
    """
    path = Path(path)
    if path.is_dir():
        inner = hf_weights(path)
        if inner is None:
            raise InputError(f"checkpoint folder {path} holds none of {', '.join(HF_WEIGHTS)} (a sharded or "
                             "adapter-only checkpoint is not supported)")
        path = inner
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

    _check_safe_torch(torch.__version__)
    try:
        if mmap:
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:
                pass  # a legacy (non-zip) file cannot be mapped: read it
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


#: The first torch whose ``torch.load(weights_only=True)`` has no known bypass (CVE-2025-32434, fixed in 2.6.0).
SAFE_TORCH = (2, 6)


def _check_safe_torch(version):
    """Refuse to unpickle checkpoints with a torch whose ``weights_only=True`` can be bypassed to run code."""
    try:
        have = tuple(int(v) for v in version.split("+")[0].split(".")[:2])
    except ValueError:
        return  # a development build: assume recent
    if have < SAFE_TORCH:
        raise InputError(f"torch {version} can be made to run code by a crafted checkpoint even with "
                         "weights_only=True (CVE-2025-32434): upgrade to torch>=2.6 to read .pt/.bin/.ckpt files "
                         "(.safetensors files are read without torch)")


def _short(exc):
    msg = " ".join(str(exc).split())
    first = msg.split(". ")[0]
    return f"{exc.__class__.__name__}: {first[:160]}"


def checkpoint_arrays(path):
    """``(weights, biases, names)`` of a checkpoint file of Linear layers."""
    return state_dict_arrays(load_checkpoint(path), source=f"checkpoint {path}")


def epoch_from_name(name):
    """The epoch in one checkpoint name (``epoch=1-step=45.ckpt`` → 1, ``weights.01-0.83.pt`` → 1).

    See :mod:`deepcnt.bindings.checkpoint_epochs` for the schemes; a folder of checkpoints is read with
    :func:`find_checkpoints`, which also compares the names with each other.
    """
    from .checkpoint_epochs import name_numbers

    stem = _stem(Path(name))
    numbers, why = name_numbers([stem])
    epoch = numbers[stem][0]
    if epoch is None:
        raise InputError(f"checkpoint {name} has no epoch number in its name (e.g. epoch_12.pt)"
                         + (f": {why[stem]}" if stem in why else ""))
    return epoch


def _stem(path):
    """A checkpoint's name without its suffix (``model.pth.tar`` → ``model.pth``; folders keep their name)."""
    return path.name if path.suffix not in CHECKPOINT_SUFFIXES else path.name[: -len(path.suffix)]


def _number(v):
    if hasattr(v, "shape") and len(v.shape) == 0 and hasattr(v, "item"):
        v = v.item()
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def checkpoint_record(path):
    """``{"epoch": e, "step": s}`` as a checkpoint records them (``None`` where it does not).

    A dict checkpoint's ``epoch`` and ``global_step`` (or ``step``) entries (Lightning, hand-written loops);
    the ``epoch`` / ``global_step`` of a Hugging Face folder's ``trainer_state.json`` (a float epoch there);
    the same keys in a ``.safetensors`` header's metadata. Torch files are memory-mapped, not read.
    """
    import json

    path = Path(path)
    keys = {"epoch": ("epoch",), "step": ("global_step", "step")}
    if path.is_dir():
        state = path / "trainer_state.json"
        if state.is_file():
            try:
                d = json.loads(state.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"{state} is unreadable ({_short(exc)})") from None
            return {k: next((_number(d[n]) for n in names if n in d), None) for k, names in keys.items()}
        path = hf_weights(path) or path
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), "np") as f:
                d = f.metadata() or {}
        except Exception as exc:
            raise InputError(f"checkpoint {path} is corrupt or truncated ({_short(exc)})") from None
    else:
        d = load_checkpoint(path, mmap=True)
        if not isinstance(d, dict):
            d = {}
    return {k: next((_number(d[n]) for n in names if n in d), None) for k, names in keys.items()}


# ---------------------------------------------------------------------------------------------- stores
def _store_for(run_dir, ws, bs, names, metadata, blocks=None):
    """The epoch store at ``run_dir``: opened for appending when it holds the same architecture, else created.

    ``ws`` are what one entry stores per block (dense (n_in, n_out) arrays, convolution kernels, ``None`` for a
    pooling layer); ``blocks`` the implicit blocks (``None`` for dense ones) whose geometry the store records.
    """
    from deepcnt.model.conv import block_spec
    from deepcnt.runs.store import EpochStore

    blocks = blocks or [None] * len(ws)
    sizes = _entry_sizes(ws, blocks)
    specs = [block_spec(b) if b is not None else None for b in blocks]
    dtype = "float64" if any(w is not None and w.dtype == np.float64 for w in ws) else "float32"
    run_dir = Path(run_dir)
    if (run_dir / "meta.json").exists():
        store = EpochStore.open(run_dir, "a")
        if store.sizes != tuple(sizes) or [s or None for s in store.block_specs] != specs:
            store.close()
            raise InputError(f"run {run_dir} holds architecture {store.sizes}, not {tuple(sizes)}"
                             + (" (same widths, other convolution geometry)" if store.sizes == tuple(sizes) else ""))
        return store
    return EpochStore.create(run_dir, sizes, n_members=1, biases=any(b is not None for b in bs), dtype=dtype,
                             layer_names=names, metadata=metadata,
                             blocks=None if not any(specs) else blocks)


def _entry_sizes(ws, blocks):
    """Layer widths of one entry: the implicit blocks' shapes, the dense blocks' (n_in, n_out)."""
    shapes = [b.shape[-2:] if b is not None else w.shape for w, b in zip(ws, blocks)]
    return [int(shapes[0][0])] + [int(sh[1]) for sh in shapes]


def model_entry(model, input_shape=None):
    """What an epoch store keeps of a model, as :func:`from_module` reads it.

    Returns
    -------
    weights, biases, names, blocks
        ``weights[l]``: a dense block (n_in, n_out), a convolution kernel (C_out, C_in/groups, kh, kw), or
        ``None`` (pooling); ``biases[l]`` per unit or ``None``; ``blocks[l]`` the implicit block (its geometry)
        or ``None`` for a dense one.
    """
    from deepcnt.model.graph import ImplicitBlock

    from .torch_conv import is_conv_model, module_blocks

    if not is_conv_model(model):
        ws, bs, names = module_arrays(model, device="cpu")
        return ws, bs, names, [None] * len(ws)
    blocks, bs, names = module_blocks(model, input_shape, device="cpu")
    ws, implicit = [], []
    for b in blocks:
        if isinstance(b, ImplicitBlock):
            kernel = getattr(b, "kernel", None)
            ws.append(None if kernel is None else np.asarray(kernel)[0])
            implicit.append(b)
        else:
            ws.append(b)
            implicit.append(None)
    return ws, bs, names, implicit


class Recorder:
    """Save a model's weights into an epoch store from your own training loop.

    A model whose forward is a chain of its layers in registration order is read as :func:`from_module` reads
    it: a sequence of ``nn.Linear`` layers, or a convolutional model (``Conv2d``, pooling, ``Flatten``,
    ``Linear``) with ``input_shape=(C, H, W)``, whose kernels and geometry are stored (never the unrolled
    edges). Any other model (residual adds, BatchNorm), or any model given ``example_input``, is traced at every
    save (:func:`deepcnt.bindings.trace.trace_module`) and stored as its block DAG; a layer pruned with
    ``torch.nn.utils.prune`` when the recorder is made is held as a sparse block. ``store.graph(i)`` gives
    ``from_module``'s graph back.

    Parameters
    ----------
    run_dir : path
    model : torch.nn.Module
    metadata : dict, optional
    input_shape : tuple, optional
        One sample's shape (convolutional models; traced models, where the model does not start with
        ``nn.Linear``).
    example_input : torch.Tensor, optional
        A batch of inputs to trace the model on (traces it even where it is a chain).
    fold_norm : bool
        Traced models: fold BatchNorm into the block before (default), or keep it as a diagonal block.

    Examples
    --------
    >>> rec = Recorder("runs/mine", model, metadata={"data": "mnist"})   # doctest: +SKIP
    >>> for epoch in range(10):                                         # doctest: +SKIP
    ...     train_one_epoch(model)
    ...     rec.save(epoch, loss=loss, test_acc=acc)
    >>> rec.close()                                                     # doctest: +SKIP

    An existing run directory of the same architecture is resumed (epochs must keep increasing).
    """

    def __init__(self, run_dir, model, metadata=None, input_shape=None, example_input=None, fold_norm=True):
        from .trace import chain_problem

        self.run_dir = Path(run_dir)
        self.model = model
        self.input_shape = input_shape
        self.example = None
        meta = {"source": "Recorder", "model": type(model).__name__}
        if input_shape is not None:
            meta["input_shape"] = [int(v) for v in input_shape]
        meta.update(metadata or {})
        why = chain_problem(model) if example_input is None else None
        if example_input is not None or why is not None:
            self._start_traced(example_input, fold_norm, meta)
            return
        ws, bs, names, blocks = model_entry(model, input_shape)
        self.store = _store_for(self.run_dir, ws, bs, names, meta, blocks)

    def _start_traced(self, example_input, fold_norm, meta):
        from deepcnt.runs.store import EpochStore

        from .model_ingest import _sparse_blocks, example_input_for, module_masks

        self.example = example_input if example_input is not None else example_input_for(self.model, self.input_shape)
        self.fold_norm = bool(fold_norm)
        g = self._traced()
        self.sparse = _sparse_blocks(g, module_masks(self.model))
        g = self._with_sparse(g)
        if (self.run_dir / "meta.json").exists():
            self.store = EpochStore.open(self.run_dir, "a")
            if (self.store.sizes, self.store.pairs) != (g.sizes, g.pairs):
                self.store.close()
                raise InputError(f"run {self.run_dir} holds layers {self.store.sizes} with blocks on "
                                 f"{list(self.store.pairs)}, not the model's {g.sizes} with blocks on {list(g.pairs)}")
            return
        self.store = EpochStore.create_for(self.run_dir, g, metadata=meta)

    def _traced(self):
        from .trace import trace_module

        return trace_module(self.model, self.example, fold_norm=self.fold_norm, device="cpu")

    def _with_sparse(self, g):
        from .model_ingest import with_sparse

        return with_sparse(g, self.sparse)

    def save(self, epoch, **scalars):
        """Append the model's current weights as ``epoch`` with the given scalars (loss=..., acc=...)."""
        sc = {k: float(v) for k, v in scalars.items()}
        if self.example is not None:
            return self.store.append_graph(epoch, self._traced(), scalars=sc)
        ws, bs, _, blocks = model_entry(self.model, self.input_shape)
        sizes = tuple(_entry_sizes(ws, blocks))
        if sizes != self.store.sizes:
            raise InputError(f"the model's architecture changed to {sizes} (the run holds {self.store.sizes})")
        biases = None
        if self.store.has_biases:
            biases = [np.zeros(n, np.float32) if b is None else b for n, b in zip(sizes[1:], bs)]
        return self.store.append(epoch, ws, biases=biases, scalars=sc)

    def close(self):
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def find_checkpoints(folder, epoch_from="auto"):
    """The checkpoints of ``folder`` as ``[(epoch, path)]`` sorted by epoch.

    Checkpoints are the files with a suffix of :data:`CHECKPOINT_SUFFIXES` and the Hugging Face
    ``checkpoint-N/`` sub-folders (``model.safetensors`` or ``pytorch_model.bin`` inside).

    Parameters
    ----------
    folder : path
    epoch_from : {"auto", "checkpoint", "name", "step", "order"}
        Where each epoch comes from: ``auto`` the epoch the checkpoint records (Lightning's and most loops'
        ``epoch`` entry, ``trainer_state.json``), else the one its name gives (``epoch=1-step=45.ckpt``,
        ``epoch01-val_loss0.83.pt``, ``weights.01-0.83.pt``), refusing where the two disagree;
        ``checkpoint`` / ``name`` one source only; ``step`` the training step (``global_step``,
        ``step=N``, ``checkpoint-N``); ``order`` the natural order of the names, numbered 0, 1, 2, ...

    Raises
    ------
    InputError
        No checkpoint; an epoch that cannot be told; two checkpoints mapping to one epoch (see
        :func:`deepcnt.bindings.checkpoint_epochs.assign_epochs`).
    """
    from .checkpoint_epochs import EPOCH_FROM, assign_epochs

    if epoch_from not in EPOCH_FROM:
        raise InputError(f"unknown epoch_from {epoch_from!r}: use one of {', '.join(EPOCH_FROM)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"checkpoint directory {folder} does not exist")
    found = [p for p in folder.iterdir()
             if (p.is_file() and p.suffix in CHECKPOINT_SUFFIXES) or (p.is_dir() and hf_weights(p) is not None)]
    if not found:
        raise InputError(f"{folder} holds no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)}) and no "
                         f"checkpoint-N/ folders")
    need = epoch_from in ("auto", "checkpoint", "step")
    items = [(p, _stem(p), p.is_dir(), checkpoint_record(p) if need else None) for p in found]
    return assign_epochs(items, epoch_from)


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


def ingest(folder, run_dir, metadata=None, progress=None, epoch_from="auto", model=None, model_args=None,
           input_shape=None, example_input=None, fold_norm=True):
    """Ingest a directory of checkpoints (state_dicts or safetensors) into a new epoch store, all or nothing.

    Each checkpoint's epoch comes from what it records or from its name (``epoch_from``, see
    :func:`find_checkpoints`). Without ``model``, every checkpoint must hold the same Linear architecture.
    With ``model``, each checkpoint is loaded into it and the model is traced
    (:class:`deepcnt.bindings.model_ingest.ModelReader`): residual networks, BatchNorm and convolutions become
    a block DAG, and pruned checkpoints (``weight_orig`` × ``weight_mask``) sparse blocks.
    The store is built in a temporary directory beside ``run_dir`` (``.NAME.ingest-HOST-PID.tmp``) and renamed
    into place only when every checkpoint has been read; on any error nothing is left behind, and the
    temporary of a killed ingest is removed by the next ingest into the same folder.

    Parameters
    ----------
    folder, run_dir : path
    metadata : dict, optional
        Recorded in the store beside the source.
    progress : callable ``(done, total)``, optional
    epoch_from : str
        See :func:`find_checkpoints`.
    model : torch.nn.Module, class or str, optional
        The model that reads the checkpoints: an instance, a class, or ``"package.module:Class"`` (also
        ``"path/to/file.py:Class"``).
    model_args : dict or str, optional
        Keyword arguments of a model class (a JSON object as a string).
    input_shape : tuple, optional
        One sample's shape, traced on zeros; default the ``in_features`` of a model whose first weighted module
        is ``nn.Linear``.
    example_input : torch.Tensor, optional
        A batch of inputs to trace on instead.
    fold_norm : bool
        Fold BatchNorm into the block it follows (default) or keep it as a diagonal block.

    Returns
    -------
    EpochStore
        The new store, open for reading.
    """
    from deepcnt.runs.store import EpochStore

    run_dir = Path(run_dir)
    if run_dir.exists():
        raise InputError(f"{run_dir} exists already: ingest into a new run directory")
    pairs = find_checkpoints(folder, epoch_from)
    reader = None
    if model is not None:
        from .model_ingest import ModelReader

        reader = ModelReader(model, model_args, input_shape, example_input, fold_norm)
    elif model_args is not None or input_shape is not None or example_input is not None:
        raise InputError("model arguments and input shapes are for ingest with a model: give the model too")
    _remove_dead_ingests(run_dir.parent)
    tmp = run_dir.with_name(f".{run_dir.name}.ingest-{socket.gethostname()}-{os.getpid()}.tmp")
    store = None
    try:
        if reader is not None:
            store = _ingest_traced(reader, pairs, tmp, folder, epoch_from, metadata, progress)
        sparse = None
        if reader is None and len(pairs) > 1:  # pruned layers: stored sparse if the last checkpoint has them
            sparse = [_is_sparse(w) for w in checkpoint_arrays(pairs[-1][1])[0]]
        for k, (epoch, path) in enumerate([] if reader is not None else pairs):
            ws, bs, names = checkpoint_arrays(path)
            sparse = sparse or [_is_sparse(w) for w in ws]
            if any(sparse) or any(map(_is_sparse, ws)):
                store = _append_pruned(store, tmp, epoch, path, ws, bs, names, sparse, folder, epoch_from, metadata)
                if progress is not None:
                    progress(k + 1, len(pairs))
                continue
            if store is None:
                meta = {"source": "ingest", "checkpoints": str(Path(folder).resolve()), "epoch_from": epoch_from}
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
            try:
                store.append(epoch, ws, biases=biases, scalars={})
            except InputError as exc:  # NaN weights, a wrong shape: say which file
                raise InputError(f"checkpoint {path}: {exc}") from None
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


def _is_sparse(w):
    from deepcnt.model.sparse import SparseBlock

    return isinstance(w, SparseBlock)


def _append_pruned(store, tmp, epoch, path, ws, bs, names, sparse, folder, epoch_from, metadata):
    """Append a checkpoint of Linear layers some of which are pruned (sparse blocks ``sparse``) as a graph;
    the store (created at ``tmp`` for the first checkpoint) is returned."""
    from deepcnt.model.graph import LayeredGraph
    from deepcnt.model.sparse import SparseBlock
    from deepcnt.runs.store import EpochStore

    if len(sparse) != len(ws):
        raise InputError(f"checkpoint {path} has {len(ws)} layers, unlike the last checkpoint's {len(sparse)}")
    blocks = [SparseBlock(w) if s and not _is_sparse(w) else w for w, s in zip(ws, sparse)]
    g = LayeredGraph.from_weights(blocks, biases=None if all(b is None for b in bs) else bs, layer_names=names)
    if store is None:
        meta = {"source": "ingest", "checkpoints": str(Path(folder).resolve()), "epoch_from": epoch_from}
        meta.update(metadata or {})
        store = EpochStore.create_for(tmp, g, metadata=meta)
    try:
        store.append_graph(epoch, g)
    except InputError as exc:  # another architecture, NaN weights: say which file
        raise InputError(f"checkpoint {path}: {exc}") from None
    return store


def _ingest_traced(reader, pairs, tmp, folder, epoch_from, metadata, progress):
    """The checkpoints ``pairs`` read through ``reader``'s model into a new store at ``tmp``; returns it."""
    from deepcnt.runs.store import EpochStore

    first = reader.layout(pairs[-1][1])  # which blocks are sparse: those of the last (most pruned) checkpoint
    meta = {"source": "ingest", "checkpoints": str(Path(folder).resolve()), "epoch_from": epoch_from}
    meta.update(reader.metadata)
    meta.update(metadata or {})
    store = EpochStore.create_for(tmp, first, metadata=meta)
    try:
        for k, (epoch, path) in enumerate(pairs):
            g = first if k == len(pairs) - 1 else reader.graph(path)
            try:
                store.append_graph(epoch, g)
            except InputError as exc:  # NaN weights, another layout: say which file
                raise InputError(f"checkpoint {path}: {exc}") from None
            if progress is not None:
                progress(k + 1, len(pairs))
    except BaseException:
        store.close()
        raise
    return store
