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

The parts: :mod:`deepcnt.bindings.torch_checkpoints` (state dicts, checkpoint files, their epochs) and
:mod:`deepcnt.bindings.torch_ingest` (:func:`ingest`, :func:`find_checkpoints`, the store a recording writes
to), whose public names are importable from here. This module holds :func:`from_module` and :class:`Recorder`.
"""
from pathlib import Path

import numpy as np
from deepcnt.errors import InputError

from .tensors import to_array as _to_array

# the parts' public names (and the private ones other modules and tests import) stay importable from here
from .torch_checkpoints import (CHECKPOINT_SUFFIXES, HF_WEIGHTS, SAFE_TORCH, _check_safe_torch,  # noqa: F401
                                _find_state_dict, _is_scalar, checkpoint_arrays, checkpoint_record,
                                epoch_from_name, from_state_dict, hf_weights, load_checkpoint, state_dict_arrays)
from .torch_ingest import _entry_sizes, _store_for, find_checkpoints, ingest  # noqa: F401


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
