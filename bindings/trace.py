"""Torch binding by tracing: the block DAG of a model's real forward, not its registration order.

:func:`trace_module` traces the model with ``torch.fx.symbolic_trace``, or, where fx cannot (Hugging Face
models, ``nn.TransformerEncoder``), with ``torch.export`` (ATen operations, the parameters as attributes). It
runs the traced graph once on the example input (eval mode, no gradients; the training flags are restored) and
walks the operations in order. Every tensor of the forward is one of: **units** (each element is a unit of a
node set, tracked as an integer tensor of unit ids of the same shape, carried through every re-indexing
operation by running that operation on the ids), an **attention mix** (scores and weights, made from the query
and key), a normalisation's **statistic**, a **constant** (no input dependence: parameters, masks, positions)
or **token ids** (the integer input of an ``Embedding``). The mapping (the documentation's model page says the
same for users):

* ``Linear``, ``F.linear``/``addmm``/``matmul`` with a parameter, HF's ``Conv1D`` (a transposed Linear) → a
  dense block into a new layer, acting on the last axis (on a layer's (C, H, W) units laid channels-last, a
  1×1 :class:`ConvBlock`); ``Conv1d``/``Conv2d`` → a :class:`ConvBlock` on the unrolled units (``Conv1d`` as a
  ``(C, 1, L)`` convolution; ``ConvTranspose1d/2d`` the transpose of the convolution back; one over a
  concatenation of layers along the channels: a block from each), a zero padding just before it (``F.pad``,
  ``nn.ZeroPad2d``) its own padding, wider on one side where the padding is (so too before a pooling window,
  −inf allowed before max pooling); ``MaxPool2d``/``AvgPool2d``
  (adaptive where the size divides; with ``ceil_mode`` only one window over the whole map; modules or
  functions), a mean over a ``(C, H, W)`` layer's ``H, W`` and nearest-neighbour up-sampling by integer
  factors → a :class:`PoolBlock`;
* ``Embedding`` on the integer input (or on ids written from it: a decoder's shifted ids) → a source layer of
  its ``d`` features, or (``embedding="one-hot"``)
  an input layer of its ``vocab`` one-hot units joined by the dense block of the embedding table;
  ``Embedding`` of a constant (positions, token types) is a constant;
* elementwise activations (also composed ones: ``0.5·x·(1 + tanh(…))`` of one layer's units), dropout,
  softmax, ``x + constant`` (position embeddings, masks: not biases of the graph): the same nodes;
* ``flatten``/``view``/``reshape``/``permute``/``transpose``/``unflatten``/``squeeze``/indexing/``split``:
  the same units re-indexed; ``cat``/``stack``: the union of node sets (a layer that reads it gets one
  block from each); a mean over positions that hold the same units keeps them;
* ``BatchNorm1d/2d`` (eval statistics): ``s = γ/√(σ²+ε)`` multiplies the output columns of the block(s)
  feeding the layer it follows, and the layer's bias becomes ``s(b − μ) + β`` (``fold_norm=True``); where
  there is no such block (the input, a pooling layer, a layer also read elsewhere) or with ``fold_norm=False``
  it is its own layer joined by a :class:`DiagonalBlock` ``diag(s)``; of a concatenation along the channels
  (DenseNet), each layer's slice as its own BatchNorm (and so a global average pool of one);
* ``LayerNorm``/``GroupNorm`` with affine parameters: the normalisation itself depends on the input and has
  no weights; the scale ``γ`` multiplies the **rows** of the blocks that read the normalised units (the
  weights it precedes: ``W' = diag(γ)·W``, exact for what follows the normalisation), and ``β`` goes into
  those layers' biases (``b' = b + Wᵀβ``); a skip that reads it becomes ``diag(γ)``. Where the normalised
  units meet a nonlinearity, a convolution or the output first, or with ``fold_norm=False``, the norm is its
  own layer joined by ``diag(γ)`` (bias ``β``). A multiplication by a constant (``q·d^{-1/2}``) is carried
  the same way. ``RMSNorm`` is the same without ``β``, and so is a normalisation written out: a mean,
  variance or norm over a position's units kept as an axis is a **statistic** that shifts or scales every unit
  of the position by one amount (``x − μ``, ``x·rsqrt(mean(x²) + ε)``): the same units; a statistic read any
  other way (by a block) is refused;
* a residual add ``a + b`` (and ``a − b``): one node set fed by each operand's block(s). An operand whose layer
  is read by the add only merges into it: its blocks feed the sum directly. Any other operand joins through
  an identity block of weight 1 (``diag`` of a pending scale). Two maps on one pair of layers are summed;
* **attention** (``nn.MultiheadAttention``, ``F.scaled_dot_product_attention``, ``q @ kᵀ`` … ``@ v`` as in
  Hugging Face's modules) as **the graph of one token's features**: every token runs the same projections,
  so a layer holds the ``d`` features of one token (sequence positions and heads index the same units).
  The attention weights mix tokens per channel, so the value projection and the output projection lie on
  the path (``v`` → output projection, the attention mix adding no edge); the query and key projections
  are blocks into their own node sets (``q``, ``k``: sinks read only by the scores), so their weights count
  in every metric. ``attention="value"`` leaves ``q`` and ``k`` (and their blocks) out. A packed projection
  (``in_proj_weight``, GPT-2's ``c_attn``) split into ``q``, ``k``, ``v`` becomes three layers named
  ``<projection>[start:stop]``; one interleaved head by head and cut by one ``chunk`` (GPT-NeoX) becomes
  ``<projection>[i of n]``. A rotary position embedding (``x·cos + rotate_half(x)·sin``, two operands
  holding one layer's units in two orders, each times constant factors) keeps the units of ``x``: it turns
  pairs of units by a position's angle and has no weights;
* a **gated unit** ``act(x W_g) ⊙ (x W_u)`` (SwiGLU, GeGLU): the gate (the operand through an activation) is a
  sink, as a query is; the product holds the units of the linear operand, the value. A product of two linear
  layers' units is refused. Squeeze-and-excitation is a gate too: of the two operands, the one broadcast over
  the positions (a factor per channel), or the one computed from the other, is the gate; the product holds
  the units of the other;

Token mode (``tokens=None``: on when the model has attention or an ``Embedding``): a layer's units are the
features of one position, every other axis indexes positions; a float input is read per position by the first
operation on its last axis, and a patch-embedding ``Conv2d`` (kernel = stride, no padding) on the input makes
the input layer one patch's ``C·k_h·k_w`` pixels and the convolution a dense block (ViT); any other
convolution that alone reads the input, one window's pixel slots (Whisper, wav2vec2, SegFormer). A convolution
over positions that all hold the same units adds its taps up: the dense block ``Σ_k K[:, :, k]``; a
BatchNorm scales such units per unit, an interpolation of such positions keeps them (MobileViT, LeViT).

Anything else is one :class:`InputError` naming the operation and the module path. torch is imported inside
the functions.

The parts: :mod:`deepcnt.bindings.trace_values` (the tables of operations, the values a traced tensor is read
as, helpers on them), :mod:`deepcnt.bindings.trace_walk` (the walk over the traced graph and its bookkeeping),
:mod:`deepcnt.bindings.trace_ops` (one method per kind of operation). This module holds the entry points.
"""
from deepcnt.errors import InputError

# SAME_MODULES and SUPPORTED are public tables of this module (re-exported from their part)
from .trace_values import _ATTENTION, SAME_MODULES, SUPPORTED, _opname  # noqa: F401
from .trace_walk import _Tracer


def chain_problem(model):
    """Why ``model``'s forward is not the chain its registration order gives, or ``None``.

    The registration-order readers (``from_module`` without ``example_input``) take the ``Linear``,
    ``Conv2d`` and pooling layers in the order they are registered, each feeding the next. This traces the
    forward (``torch.fx``, no input needed) and follows which of those layers each value depends on: a layer
    that reads anything but the layer before it (a residual add, a skip), a layer called twice or never, or an
    order other than the registration's is named. Where fx cannot trace the forward: ``None`` if every module
    holding parameters is one the registration order reads (it is then all there is to read), else that
    module is named (the model is to be traced, with ``torch.export``: a Hugging Face model, a
    ``TransformerEncoder``).
    """
    import torch.fx as fx
    import torch.nn as nn

    kinds = (nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    if not isinstance(model, nn.Module):
        return None  # refused by the reader
    try:
        gm = fx.symbolic_trace(model)
    except Exception:
        other = next((f"{name!r} ({type(m).__name__})" for name, m in model.named_modules()
                      if list(m.parameters(recurse=False)) and not isinstance(m, kinds)), None)
        if other is None:
            return None  # the registration order is all there is to read
        return f"torch.fx cannot trace its forward and it holds {other}, which the registration order does not read"
    modules = dict(gm.named_modules())
    registered = [name for name, m in model.named_modules() if isinstance(m, kinds)]
    src, used, seen_input = {}, [], False

    def names(deps):
        return " and ".join(sorted(map(repr, deps)))

    for node in gm.graph.nodes:
        deps = set().union(*(src.get(a, set()) for a in node.all_input_nodes))
        if node.op == "placeholder":
            src[node] = set() if seen_input else {"input"}
            seen_input = True
        elif node.op == "call_module" and isinstance(modules[node.target], kinds):
            prev = used[-1] if used else "input"
            if deps != {prev}:
                if len(deps) > 1:
                    return f"{node.target!r} reads {names(deps)} (a skip or residual connection)"
                return f"{node.target!r} reads {names(deps) or 'no layer'}, not the layer before it {prev!r}"
            used.append(node.target)
            src[node] = {node.target}
        elif node.op == "output":
            last = used[-1] if used else "input"
            if deps != {last}:
                return f"the output is made of {names(deps) or 'no layer'}, not of the last layer {last!r}"
        else:
            src[node] = deps
    if used != registered:
        twice = sorted({n for n in used if used.count(n) > 1})
        if twice:
            return f"{twice[0]!r} is called {used.count(twice[0])} times"
        unused = [n for n in registered if n not in used]
        if unused:
            return f"{unused[0]!r} is registered but the forward never calls it"
        return f"the forward calls the layers in the order {used}, not in their registration order {registered}"
    return None



def _first_tensor_module(model):
    import torch
    import torch.utils._pytree as pytree

    class FirstTensor(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args, **kwargs):
            out = self.m(*args, **kwargs)
            leaves = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
            return leaves[0]

    return FirstTensor(model)


def _inputs(gm, x):
    """The traced module's placeholders' values, in order: ``x``, or the tensors of a dict of keyword inputs
    (matched by name, else in the dict's order)."""
    if not isinstance(x, dict):
        return [x]
    names = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    if set(names) <= set(x):
        return [x[n] for n in names]
    return list(x.values())


def _trace(model, x):
    """``(graph module, prefix)``: torch.fx where it traces the forward, else torch.export (ATen operations)."""
    import torch
    import torch.fx as fx

    fx_error = "keyword inputs"
    if not isinstance(x, dict):
        try:
            return fx.symbolic_trace(model), ""
        except Exception as exc:
            fx_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else type(exc).__name__
    try:
        args, kwargs = ((), x) if isinstance(x, dict) else ((x,), {})
        ep = torch.export.export(_first_tensor_module(model), args, kwargs, strict=False)
        return ep.module(), "m."
    except Exception as exc:
        raise InputError(f"neither torch.fx ({fx_error}) nor torch.export ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else ''}) can trace {type(model).__name__}'s "
                         "forward: deepcnt needs a forward without data-dependent control flow") from None


def _has_tokens(gm):
    """A model with attention or an Embedding (its graph is the graph of one position's features)."""
    import torch.nn as nn

    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module" and isinstance(modules[node.target], (nn.MultiheadAttention, nn.Embedding)):
            return True
        if node.op in ("call_function", "call_method") and _opname(node) in _ATTENTION:
            return True
    return False


class Program:
    """A model's traced forward (``torch.fx`` or ``torch.export``), kept to read more weights of the same
    architecture without tracing again: an epoch's checkpoint loaded into another instance of the class.

    Attributes
    ----------
    module : torch.fx.GraphModule
    prefix : str
        What the traced module puts before the model's parameter names (``"m."`` under export).
    """

    def __init__(self, module, prefix):
        import copy
        import warnings

        # its own copy: the traced module shares the model's parameters, which loading must not change
        with warnings.catch_warnings():  # torch.export's tree specs warn of their own deprecations when copied
            warnings.simplefilter("ignore", FutureWarning)
            self.module = copy.deepcopy(module)
        self.prefix = prefix
        self.keys = set(self.module.state_dict())

    def load(self, model):
        """Copy ``model``'s parameters and buffers into the traced module; False (nothing changed) where its
        state does not name exactly the traced module's."""
        import torch

        state = {self.prefix + k: v for k, v in model.state_dict().items()}
        if set(state) != self.keys:
            return False
        mine = self.module.state_dict()
        if any(tuple(v.shape) != tuple(mine[k].shape) for k, v in state.items()):
            return False
        with torch.no_grad():
            self.module.load_state_dict(state)
        return True


def trace_module(model, example_input, fold_norm=True, device=None, tokens=None, embedding="features",
                 attention="query-key", program=None):
    """The block-DAG graph of ``model``'s real forward, traced on ``example_input``.

    The mapping of every operation, and the definition of the graph of an attention model, are in the module
    docstring (:mod:`deepcnt.bindings.trace`).

    Parameters
    ----------
    model : torch.nn.Module
        Linear, Conv1d/2d, HF Conv1D, Embedding, pooling, BatchNorm/LayerNorm/GroupNorm, attention
        (``nn.MultiheadAttention``, scaled-dot-product or ``q @ kᵀ … @ v``), elementwise activations, dropout,
        re-indexing, concatenation and residual adds, wired in any order by its ``forward``. Traced with
        ``torch.fx``, or with ``torch.export`` where fx fails (Hugging Face models: the first tensor of the
        output is taken, ``last_hidden_state`` or ``logits``).
    example_input : torch.Tensor, shape (B, ...), or dict of them
        A batch of inputs (any ``B >= 1``; zeros will do; token ids for a model that starts with an
        Embedding): the per-sample shape fixes the units. The model runs once on it in eval mode without
        gradients; its training flags and statistics are left as they were. A dict gives keyword inputs of one
        batch size, traced with torch.export: an encoder-decoder's input and its decoder's token ids
        (``{"input_ids": ids, "decoder_input_ids": ids}``); one of them may hold units, the others token ids.
    fold_norm : bool
        ``True``: a BatchNorm's ``γ/√(σ²+ε)`` multiplies the output columns of the block(s) it follows; a
        LayerNorm's or GroupNorm's ``γ`` the rows of the blocks that read it. ``False``: every normalisation is
        its own layer joined by a diagonal block.
    device : {None, "cpu", "gpu"}
        As in :func:`deepcnt.bindings.torch.from_module`.
    tokens : bool, optional
        The graph of one position's features (see the module docstring). Default: on where the model has
        attention or an Embedding.
    embedding : {"features", "one-hot"}
        An Embedding of the input ids: a source layer of its ``d`` features (default), or an input layer of
        ``vocab`` one-hot units with the embedding table as a dense block.
    attention : {"query-key", "value"}
        ``"query-key"``: the query and key projections are blocks into their own node sets (sinks), so their
        weights count everywhere. ``"value"``: only the value → output path is kept (q and k left out).
    program : list, optional
        A cache of the traced forward: empty, it receives the :class:`Program` traced here; holding one whose
        parameters ``model``'s state names exactly, that program runs with ``model``'s weights and nothing is
        traced again (``ingest`` reads every checkpoint of a run so).

    Returns
    -------
    LayeredGraph
        Layers in a topological order, ``"input"`` first (or the first Embedding), named after the module
        (or the add) that makes them; biases per unit (folded with the norms) where any layer has one.

    Raises
    ------
    InputError
        A model neither fx nor export can trace; an operation outside the mapping (named, with its module
        path); an input that is not one batch tensor; an unknown option.

    Examples
    --------
    >>> import torch, torch.nn as nn                                       # doctest: +SKIP
    >>> class Res(nn.Module):                                              # doctest: +SKIP
    ...     def __init__(self):
    ...         super().__init__(); self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 4)
    ...     def forward(self, x):
    ...         return x + self.b(torch.relu(self.a(x)))
    >>> trace_module(Res(), torch.zeros(1, 4)).pairs                       # doctest: +SKIP
    ((0, 1), (0, 2), (1, 2))
    """
    import torch
    import torch.fx as fx

    from deepcnt.errors import check_choice

    check_choice("embedding", embedding, ("features", "one-hot"))
    check_choice("attention", attention, ("query-key", "value"))
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"trace_module needs a torch.nn.Module, got {type(model).__name__}")
    given = list(example_input.values()) if isinstance(example_input, dict) and example_input else [example_input]
    if not all(isinstance(t, torch.Tensor) and t.ndim >= 2 and t.shape[0] >= 1 for t in given) or len(
            {t.shape[0] for t in given}) != 1:
        raise InputError("example_input must be one tensor holding a batch of inputs, shape (B, ...) with B >= 1 "
                         "(or a dict of such keyword inputs, one batch size), got "
                         f"{getattr(example_input, 'shape', type(example_input).__name__)}")
    batch = int(given[0].shape[0])
    modes = [(m, m.training) for m in model.modules()]
    env = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            env[n] = super().run_node(n)
            return env[n]

    try:
        model.eval()
        device = next(model.parameters(), given[0]).device
        x = {k: t.to(device) for k, t in example_input.items()} if isinstance(example_input, dict) else \
            example_input.to(device)
        if program and program[0].load(model):
            gm, prefix = program[0].module, program[0].prefix
        else:
            gm, prefix = _trace(model, x)
            if program is not None:
                program[:] = [Program(gm, prefix)]
        with torch.no_grad():
            Recorder(gm).run(*_inputs(gm, x))
    except InputError:
        raise
    except Exception as exc:
        shapes = [tuple(t.shape) for t in given]
        raise InputError(f"{type(model).__name__} does not run on example_input of shape "
                         f"{shapes[0] if len(shapes) == 1 else shapes} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:160]})") from None
    finally:
        for m, training in modes:
            m.training = training
    env = {n: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for n, v in env.items()}
    with torch.no_grad():
        t = _Tracer(gm, env, batch, fold_norm, _has_tokens(gm) if tokens is None else tokens,
                    embedding, attention, prefix)
        t.run()
        return t.graph(device)
