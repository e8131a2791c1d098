"""State dicts and checkpoint files (part of :mod:`deepcnt.bindings.torch`).

Finding the weights in a state_dict (nested under ``state_dict``, ``model`` ...) and reading them as arrays
(:func:`state_dict_arrays`, :func:`from_state_dict`); loading a checkpoint file safely
(:func:`load_checkpoint`: ``torch.load(..., weights_only=True)`` on torch >= 2.6, or safetensors; a Hugging
Face ``checkpoint-N/`` folder through :func:`hf_weights`); the epoch a checkpoint records or its name gives
(:func:`checkpoint_record`, :func:`epoch_from_name`). torch and safetensors are imported inside the functions.
"""
import re
from pathlib import Path

import numpy as np
from deepcnt.errors import InputError


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar", ".safetensors")
_NESTED_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "net", "network", "weights")
#: The weight files of a Hugging Face ``checkpoint-N/`` folder, in order of preference.
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


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
