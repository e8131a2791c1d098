"""Checkpoints read through the model that wrote them: the model class (a module instance, a class, or
``"package.module:Class"`` with its arguments) loads each state_dict and is traced on an example input
(:func:`deepcnt.bindings.trace.trace_module`), so any architecture the tracer maps (residual adds, BatchNorm,
convolutions) becomes a block DAG.

Pruned checkpoints (``torch.nn.utils.prune``: ``weight_orig`` and ``weight_mask`` in place of ``weight``) are read
as ``weight = weight_orig * weight_mask``, into a model that is pruned or not; the dense blocks of a pruned
``Linear`` weight are held as :class:`deepcnt.SparseBlock` (CSR, O(kept edges)). A block is recognised as a
pruned weight's by its shape and its zeros (it is zero wherever the mask is: BatchNorm folding scales columns,
which keeps them); whichever blocks are, the weights are the same.

torch is imported inside the functions.
"""
import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from deepcnt.errors import InputError

from .torch_checkpoints import _find_state_dict, _is_scalar, load_checkpoint
from .trace import trace_module


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def model_args_of(model_args):
    """Keyword arguments of the model class: a dict, a JSON object (``'{"width": 8}'``) or None."""
    if model_args is None:
        return {}
    if isinstance(model_args, str):
        try:
            model_args = json.loads(model_args)
        except ValueError as exc:
            raise InputError(f"model arguments {model_args!r} are not JSON ({exc}): give an object such as "
                             "'{\"width\": 8}'") from None
    if not isinstance(model_args, dict):
        raise InputError(f"model arguments must be a JSON object of keyword arguments, got {model_args!r}")
    return dict(model_args)


def _import(spec):
    """The object named by ``"package.module:Attr"`` or ``"path/to/file.py:Attr"`` (the current directory is
    searched for modules, as ``python -m`` does)."""
    modname, _, attr = spec.rpartition(":")
    if not modname or not attr:
        raise InputError(f"model {spec!r} is not 'package.module:Class' (or 'file.py:Class')")
    try:
        if modname.endswith(".py") or "/" in modname or "\\" in modname:
            path = Path(modname)
            if not path.is_file():
                raise InputError(f"model file {path} does not exist")
            loader = importlib.util.spec_from_file_location(f"deepcnt_model_{abs(hash(str(path.resolve())))}",
                                                            path)
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(modname)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot import the model's module {modname!r} ({_first_line(exc)}): make it importable "
                         "(run from its folder or set PYTHONPATH)") from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InputError(f"module {modname!r} has no {attr!r}") from None
    return obj


def resolve_model(model, model_args=None, checkpoint=None):
    """A ``torch.nn.Module`` from an instance, a class or ``"package.module:Class"`` (called with
    ``model_args``, a dict or a JSON object). A Hugging Face model class (``transformers:LlamaForCausalLM``) is
    built from the ``config.json`` that ``save_pretrained`` writes beside ``checkpoint`` (a checkpoint file or
    folder), ``model_args`` overriding its entries; without one, from ``model_args`` alone."""
    import torch.nn as nn

    args = model_args_of(model_args)
    what = model
    if isinstance(model, str):
        model = _import(model)
    if isinstance(model, nn.Module):
        if args:
            raise InputError("model arguments are for a model class; this model is an instance already")
        return model
    if not callable(model):
        raise InputError(f"model {what!r} is a {type(model).__name__}: give an nn.Module, its class, or "
                         "'package.module:Class'")
    name = getattr(model, "__name__", type(model).__name__)
    if isinstance(model, type) and hasattr(model, "config_class") and hasattr(model, "from_pretrained"):
        return _hf_model(model, name, args, checkpoint)
    try:
        inst = model(**args)
    except Exception as exc:
        raise InputError(f"{name}(**{args}) failed ({_first_line(exc)}): check the model arguments "
                         "(--model-args)") from None
    if not isinstance(inst, nn.Module):
        raise InputError(f"{name}(...) gave a {type(inst).__name__}, not a torch.nn.Module")
    return inst


def _hf_model(cls, name, args, checkpoint):
    """A Hugging Face model of class ``cls`` from the ``config.json`` beside ``checkpoint`` (or its folder),
    updated with ``args``; from ``args`` alone where there is none."""
    where = None if checkpoint is None else Path(checkpoint)
    folders = [] if where is None else [where] if where.is_dir() else [where.parent]
    found = next((f for f in folders if (f / "config.json").is_file()), None)
    if found is None and not args:
        raise InputError(f"{name} is built from its config.json, which save_pretrained writes beside the weights: "
                         f"none is beside {where}; put it there, or give the configuration as --model-args")
    try:
        config = cls.config_class.from_pretrained(str(found)) if found else cls.config_class(**args)
        for k, v in args.items() if found else ():
            setattr(config, k, v)
        return cls(config)
    except Exception as exc:
        raise InputError(f"{name} could not be built from {found / 'config.json' if found else args} "
                         f"({_first_line(exc)})") from None


#: The sequence length of the zero token ids a token model is traced on, where none is given (the graph of one
#: token's features does not depend on it).
TOKENS = 8


def example_input_for(model, input_shape=None):
    """A batch of one zero input: of ``input_shape`` (one sample's shape), or, for a model whose first weighted
    module is ``nn.Linear``, of its ``in_features``; token ids (``torch.long``) where it is an ``nn.Embedding``
    (``input_shape``: the sequence length, default :data:`TOKENS`)."""
    import torch
    import torch.nn as nn

    p = next(model.parameters(), None)
    kw = {} if p is None else {"dtype": p.dtype if p.dtype.is_floating_point else torch.float32}
    first = next((m for m in model.modules() if list(m.parameters(recurse=False))), None)
    if isinstance(first, nn.Embedding):  # token ids (a transformer): zeros of the sequence length
        kw = {"dtype": torch.long}
    if input_shape is None and isinstance(first, nn.Embedding):
        input_shape = (TOKENS,)
    if input_shape is None:
        if not isinstance(first, nn.Linear):
            raise InputError(f"give the shape of one input of {type(model).__name__} (input_shape, --input-shape "
                             "C,H,W): it is traced on an example input")
        input_shape = (first.in_features,)
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise InputError(f"input_shape must be the shape of one sample (ints), got {input_shape!r}") from None
    if not shape or min(shape) < 1:
        raise InputError(f"input_shape {shape} is not the shape of one sample: give sizes >= 1, e.g. 3,32,32")
    return torch.zeros((1,) + shape, **kw)


def _decoder_keywords(model):
    """``(first parameter, "decoder_input_ids")`` of an encoder-decoder's forward (T5, the full Whisper), which
    needs the decoder's token ids beside its input; else None."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return None
    return (params[0], "decoder_input_ids") if params and "decoder_input_ids" in params[1:] else None


def _tensor(v):
    import torch

    return torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v


def fit_state_dict(model, sd, source):
    """``sd`` (a state_dict) made to load into ``model``, or one :class:`InputError` that says what differs.

    Pruned entries (``X_orig``, ``X_mask``) become ``X = X_orig * X_mask`` for an unpruned model, and a plain
    ``X`` becomes ``X_orig = X``, ``X_mask = 1`` for a pruned one. Numbers kept beside the weights
    (``epoch``, ``best_acc``) are skipped; a key the model leaves out because it is tied to another
    (``save_pretrained`` drops shared tensors) may be missing, and so may BatchNorm's ``num_batches_tracked``.

    Returns
    -------
    state : dict of str -> tensor
    masks : dict of str -> tensor
        The pruning mask of each pruned weight, by the name of the weight (``"fc1.weight"``).
    """
    import torch

    own = model.state_dict(keep_vars=True)
    sd = {str(k): _tensor(v) for k, v in sd.items() if not ("." not in str(k) and _is_scalar(v) and str(k) not in own)}
    masks = {}
    for key in [k for k in sd if k.endswith("_orig")]:
        base, mask = key[: -len("_orig")], key[: -len("_orig")] + "_mask"
        if mask not in sd:
            continue
        masks[base] = sd[mask]
        if base in own and key not in own:  # an unpruned model: the pruned weight itself
            sd[base] = sd.pop(key) * sd.pop(mask)
    for key in list(sd):
        if key not in own and f"{key}_orig" in own and f"{key}_mask" in own:  # a pruned model, a plain weight
            sd[f"{key}_orig"] = sd.pop(key)
            sd[f"{key}_mask"] = torch.ones_like(sd[f"{key}_orig"])
    ptrs = {}
    for k, v in own.items():
        if isinstance(v, torch.Tensor) and v.numel():
            ptrs.setdefault(v.data_ptr(), []).append(k)
    tied = {k for ks in ptrs.values() if len(ks) > 1 and any(o in sd for o in ks) for k in ks}
    # BatchNorm's step counter is no weight (and older checkpoints lack it): the model's own value stays
    missing = [k for k in own if k not in sd and k not in tied and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} has shape {tuple(sd[k].shape)} but the model's has {tuple(own[k].shape)}"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        def keys(ks):
            return ", ".join(ks[:3]) + (f" and {len(ks) - 3} more" if len(ks) > 3 else "")

        why = ([f"it lacks {keys(missing)}"] if missing else []) + \
              ([f"the model has no {keys(unexpected)}"] if unexpected else []) + shapes[:1]
        raise InputError(f"{source} does not fit the model {type(model).__name__}: {'; '.join(why)} (check the "
                         "model class and its arguments)")
    return sd, masks


def _sparse_blocks(g, masks):
    """Indices of the dense blocks of ``g`` that hold a pruned ``Linear`` weight: shape (in, out) of a 2-D mask
    whose zeros the block shares."""
    found = set()
    for mask in masks.values():
        m = mask.detach().cpu().numpy()
        if m.ndim != 2 or m.all():
            continue
        off = m.T == 0
        for b, w in enumerate(g.blocks):
            if isinstance(w, np.ndarray) and w.shape[1:] == off.shape and not np.any(w[:, off]):
                found.add(b)
    return found


class ModelReader:
    """Checkpoints → graphs through one model: ``reader.graph(path)`` loads the checkpoint into the model and
    traces it.

    Parameters
    ----------
    model : torch.nn.Module, class or str
        An instance, a class, or ``"package.module:Class"`` (``"file.py:Class"``).
    model_args : dict or str, optional
        Keyword arguments of the class (a JSON object as a string).
    input_shape : tuple, optional
        One sample's shape; default the ``in_features`` of a model that starts with ``nn.Linear``.
    example_input : torch.Tensor, optional
        A batch of inputs to trace on, instead of zeros of ``input_shape``.
    fold_norm : bool
        As in :func:`deepcnt.bindings.trace.trace_module`.
    trace_options : dict, optional
        ``tokens``, ``embedding``, ``attention``: as in :func:`deepcnt.bindings.trace.trace_module`.
    checkpoint : str or Path, optional
        A checkpoint (file or folder) whose ``config.json`` builds a Hugging Face model class.
    """

    def __init__(self, model, model_args=None, input_shape=None, example_input=None, fold_norm=True,
                 checkpoint=None, trace_options=None):
        self.spec = model if isinstance(model, str) else f"{type(model).__module__}:{type(model).__qualname__}"
        self.model = resolve_model(model, model_args, checkpoint)
        cls = _import(model) if isinstance(model, str) else model
        #: a Hugging Face model class: its checkpoints are save_pretrained folders, read by from_pretrained
        self.hf_class = cls if isinstance(cls, type) and hasattr(cls, "config_class") and hasattr(
            cls, "from_pretrained") else None
        self.args = model_args_of(model_args)
        self.example = example_input if example_input is not None else example_input_for(self.model, input_shape)
        #: an encoder-decoder's forward also takes the decoder's token ids: the example input is then keyword
        #: inputs, the main one by the name of the forward's first parameter
        self.keywords = _decoder_keywords(self.model)
        self.fold_norm = bool(fold_norm)
        self.options = dict(trace_options or {})
        unknown = sorted(set(self.options) - {"tokens", "embedding", "attention"})
        if unknown:
            raise InputError(f"unknown trace option(s) {unknown}: the options are tokens, embedding and attention")
        #: blocks held sparse (pruned weights), fixed by :meth:`layout`
        self.sparse = set()
        #: the traced forward, run again with each checkpoint's weights
        self.program = []

    @property
    def metadata(self):
        """What a store records of the model."""
        return {"model": self.spec, "model_args": self.args, "input_shape": list(self.example.shape[1:]),
                **({"decoder_tokens": TOKENS} if self.keywords else {}),
                "input_dtype": str(self.example.dtype).replace("torch.", ""), "fold_norm": self.fold_norm,
                **({"trace_options": self.options} if self.options else {})}

    def _trace(self, path):
        source = f"checkpoint {path}"
        if self.hf_class is not None and (Path(path) / "config.json").is_file():
            # a save_pretrained folder of a Hugging Face class: its own loader reads it (sharded weights, keys
            # renamed between versions, tied weights)
            try:
                import transformers

                transformers.utils.logging.disable_progress_bar()  # one bar per checkpoint on stderr: ours counts
                model = self.hf_class.from_pretrained(str(path), **self.args)
            except Exception as exc:
                raise InputError(f"{source}: {self.hf_class.__name__}.from_pretrained failed ({_first_line(exc)})"
                                 ) from None
            return self._traced(model), {}
        sd, masks = fit_state_dict(self.model, _find_state_dict(load_checkpoint(path), source), source)
        self.model.load_state_dict(sd, strict=False)  # checked by fit_state_dict (tied keys may be left out)
        return self._traced(self.model), masks

    def _traced(self, model):
        import torch

        x = self.example
        if self.keywords:
            x = {self.keywords[0]: x, self.keywords[1]: torch.zeros((x.shape[0], TOKENS), dtype=torch.long)}
        return trace_module(model, x, fold_norm=self.fold_norm, device="cpu", program=self.program, **self.options)

    def layout(self, path):
        """Fix which blocks are sparse from the checkpoint ``path`` (the last, usually the most pruned)."""
        g, masks = self._trace(path)
        self.sparse = _sparse_blocks(g, masks)
        return self._with_sparse(g)

    def graph(self, path):
        """The graph of the model with the weights of checkpoint ``path``."""
        return self._with_sparse(self._trace(path)[0])

    def _with_sparse(self, g):
        return with_sparse(g, self.sparse)


def with_sparse(g, indices):
    """``g`` (one network) with its dense blocks ``indices`` held as :class:`SparseBlock` (their non-zero
    entries)."""
    from deepcnt.model.graph import LayeredGraph
    from deepcnt.model.sparse import SparseBlock

    if not indices:
        return g
    blocks = {p: SparseBlock(b[0]) if k in indices else (b[0] if isinstance(b, np.ndarray) else b)
              for k, (p, b) in enumerate(zip(g.pairs, g.blocks))}
    biases = None if g.biases is None else list(g.biases)
    return LayeredGraph.from_blocks(g.sizes, blocks, biases=biases, layer_names=g.layer_names)


def module_masks(model):
    """The pruning masks of a model pruned in place (``torch.nn.utils.prune``), by weight name."""
    return {name[: -len("_mask")]: buf for name, buf in model.named_buffers() if name.endswith("_mask")}
