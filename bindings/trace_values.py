"""The values a traced forward carries, and helpers on them and on fx nodes (part of :mod:`deepcnt.bindings.trace`).

The tables of operations the tracer maps (``SAME_MODULES``, ``SUPPORTED``, ...); the values every tensor of the
forward is read as: :class:`_Units` (unit ids of a :class:`_Layer`), :class:`_Mix` (attention scores or
weights), :class:`_Stat` (a normalisation's statistic), :class:`_Ids` (token ids) and ``_CONST``; helpers that
reshape, scale or fill those values, name fx operations and their module paths, sum two block specs and order
the layers. torch is imported inside the
functions.
"""
import heapq

import numpy as np


#: Parameter-free modules that keep the nodes (the graph holds the weights only).
SAME_MODULES = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
    "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Tanhshrink", "LogSigmoid", "Threshold",
    "Softmax", "LogSoftmax", "NewGELUActivation", "GELUActivation", "FastGELUActivation", "QuickGELUActivation",
    "GELUTanh", "SiLUActivation",
)
#: Modules and functions that keep the nodes and are linear (identity at inference).
_LINEAR_SAME = {
    "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout", "Identity", "dropout", "feature_dropout", "alpha_dropout",
    "contiguous", "clone", "detach", "alias", "to", "type_as", "float", "double", "half", "bfloat16", "type",
    "_to_copy", "lift_fresh_copy", "identity",
}
#: Elementwise nonlinear functions of one tensor: the same nodes.
_NONLINEAR = {
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "sigmoid", "tanh", "hardtanh",
    "hardswish", "hardsigmoid", "softplus", "softsign", "logsigmoid", "log_sigmoid", "softmax", "log_softmax",
    "_softmax", "pow", "sqrt", "rsqrt", "exp", "log", "erf", "abs", "square", "reciprocal", "sin", "cos",
    "threshold", "clamp", "clamp_min", "clamp_max", "prelu", "glu_same",
}
#: Operations that only re-index a tensor (run on the unit ids as on the values).
_REINDEX = {
    "view", "reshape", "_unsafe_view", "flatten", "unflatten", "permute", "transpose", "t", "swapaxes", "movedim",
    "squeeze", "unsqueeze", "expand", "expand_as", "select", "slice", "narrow", "split", "split_with_sizes",
    "chunk", "unbind", "getitem", "cat", "concat", "concatenate", "stack", "index_select", "repeat", "tile",
    "broadcast_to", "view_as", "reshape_as", "roll",
}
_ATTENTION = {"scaled_dot_product_attention", "matmul", "bmm", "baddbmm", "MultiheadAttention", "embedding",
              "Embedding", "einsum"}
SUPPORTED = ("Linear, Conv1d/2d and their transposes, HF Conv1D, Embedding, pooling, nearest up-sampling, "
             "BatchNorm, LayerNorm, GroupNorm, RMSNorm, attention, rotary position embeddings, gated units (GLU), "
             "elementwise activations, dropout, re-indexing, concatenation and residual adds")
#: Reductions over the axis of a position's units that make a normalisation's statistic (kept as an axis).
_STATISTICS = {"mean", "sum", "var", "std", "norm", "linalg_vector_norm", "var_mean"}
_BIG = 1 << 32  # a unit's key: layer id · 2³² + unit


class _Layer:
    """A node set under construction: per-sample ``shape``, ``name``, per-unit ``bias`` (tensor or None)."""

    def __init__(self, lid, shape, name, bias=None):
        self.id, self.shape, self.name, self.bias = lid, tuple(shape), name, bias
        self.nodes = set()  # fx nodes whose value holds this layer's units

    @property
    def n(self):
        return int(np.prod(self.shape))


class _Units:
    """A tensor of units: ``key`` (int64, ``layer·2³² + unit``, ``-1`` at constant positions) and ``sample``
    (the batch index of each element), same shape as the traced value; ``scale``/``shift`` (float64 or None):
    a pending per-position affine map (a LayerNorm's γ, β; a constant factor) not yet folded into a block;
    ``act``: a nonlinear function of the units (no pending map)."""

    FIELDS = ("key", "sample", "scale", "shift")

    def __init__(self, key, sample, scale=None, shift=None, act=False):
        self.key, self.sample, self.scale, self.shift, self.act = key, sample, scale, shift, act

    @property
    def pending(self):
        return self.scale is not None or self.shift is not None


class _Mix:
    """Attention scores or weights (made from a query and a key): they mix positions, per channel."""


class _Stat:
    """A statistic of each position's units taken over the axis that holds them and kept as an axis of length 1
    (RMSNorm's mean of squares, a hand-written LayerNorm's mean and variance): it shifts or scales every unit of
    its position by one data-dependent amount, as a normalisation does, and holds no units itself."""


class _Ids:
    """The integer input of an Embedding (``sample``: the batch index of each element)."""

    def __init__(self, sample):
        self.sample = sample


_CONST = object()  # a tensor that does not depend on the input (its value is the traced one)


def _expand(v, shape):
    if not isinstance(v, _Units) or tuple(v.key.shape) == tuple(shape):
        return v
    f = lambda t: None if t is None else t.expand(shape).contiguous()
    return _Units(f(v.key), f(v.sample), f(v.scale), f(v.shift), v.act)


def _scaled(v, c):
    """``v`` times a constant (a number or a tensor broadcasting to it): a pending per-position factor."""
    import torch

    if v.act:
        return v
    c = torch.as_tensor(c, dtype=torch.float64)
    scale = (torch.ones(v.key.shape, dtype=torch.float64) if v.scale is None else v.scale) * c
    shift = None if v.shift is None else v.shift * c
    f = lambda t: t.expand(v.key.shape).contiguous() if t is not None else None
    return _Units(v.key, v.sample, f(scale), f(shift))


def _field(v, name, e, batch):
    """One field of a value for re-indexing: the units' tensor, or a filler of a constant's shape."""
    import torch

    if isinstance(v, _Units):
        t = getattr(v, name)
        if t is not None:
            return t
        e = v.key
    elif isinstance(v, _Ids):
        if name == "sample":
            return v.sample
        e = v.sample
    if name == "key":
        return torch.full(e.shape, -1, dtype=torch.int64)
    if name == "sample":
        if e.ndim and e.shape[0] == batch:
            return _arange_like(torch.zeros(e.shape, dtype=torch.int64))
        return torch.full(e.shape, -1, dtype=torch.int64)
    return torch.full(e.shape, 1.0 if name == "scale" else 0.0, dtype=torch.float64)


def _arange_like(t):
    """The batch index of each element of a tensor whose first axis is the batch."""
    import torch

    if t.ndim == 0:
        return torch.zeros((), dtype=torch.int64)
    return torch.arange(t.shape[0]).reshape((-1,) + (1,) * (t.ndim - 1)).expand(t.shape)


def _is_tensor(v):
    import torch

    return isinstance(v, torch.Tensor) or (isinstance(v, (list, tuple)) and any(isinstance(w, torch.Tensor) for w in v))


def _map(args, fn):
    from torch.fx.node import map_aggregate

    return map_aggregate(args, fn)


def _call(node, args, kwargs, modules):
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    if node.op == "call_module":
        return modules[node.target](*args, **kwargs)
    return node.target(*args, **kwargs)


def _is_aten(node):
    """An ATen operation (torch.export's graph), whose argument order can differ from torch.nn.functional's."""
    return hasattr(node.target, "_opname")


def _opname(node):
    """The operation's name without namespace, overload or in-place underscore (``aten.add.Tensor`` → add)."""
    t = node.target
    if node.op in ("call_method", "call_module"):
        name = str(t)
    elif hasattr(t, "_opname"):
        name = t._opname
    else:
        name = getattr(t, "__name__", str(t))
    name = {"__getitem__": "getitem", "__add__": "add", "__iadd__": "iadd", "__radd__": "add", "__mul__": "mul",
            "__rmul__": "mul", "__truediv__": "truediv", "__sub__": "sub", "__matmul__": "matmul"}.get(name, name)
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def _sum_specs(a, b, n, refuse):
    """Two maps on one pair of layers of ``n`` units each (where diagonal) as one block: dense + dense,
    diagonal, or identity → dense; diagonal/identity + diagonal/identity → diagonal."""
    import torch

    def diag(s):
        return torch.ones(n, dtype=torch.float64) if s[0] == "identity" else s[1].double()

    kinds = {a[0], b[0]}
    if kinds <= {"diag", "identity"}:
        return ("diag", diag(a) + diag(b))
    if kinds <= {"dense", "diag", "identity"}:  # summed in float64, kept in the model's precision
        dense, other = (a, b) if a[0] == "dense" else (b, a)
        W = dense[1].double().clone()
        if other[0] == "dense":
            return ("dense", (W + other[1].double()).to(dense[1].dtype))
        return ("dense", (W + torch.diag(diag(other))).to(dense[1].dtype))
    refuse(f"two maps join one pair of layers ({a[0]} and {b[0]}) and cannot be summed into one block")


def _topological(layers, pairs):
    """Layer ids in a topological order of the blocks, ties broken by creation order (``layers``: (order, id))."""
    rank = dict((lid, order) for order, lid in layers)
    indeg = {lid: 0 for lid in rank}
    out = {lid: [] for lid in rank}
    for a, b in pairs:
        indeg[b] += 1
        out[a].append(b)
    ready = [(rank[lid], lid) for lid in rank if indeg[lid] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, lid = heapq.heappop(ready)
        order.append(lid)
        for b in out[lid]:
            indeg[b] -= 1
            if indeg[b] == 0:
                heapq.heappush(ready, (rank[b], b))
    return order


def _path(node, prefix=""):
    """The module path of an operation, with a trailing dot (``""`` at the top level)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    key, val = list(stack.items())[-1]
    path = val[0] if isinstance(val, tuple) and isinstance(val[0], str) else key
    if prefix and (path + ".").startswith(prefix):
        path = path[len(prefix):]
    return f"{path}." if path else ""


def _describe(node):
    if node.op == "call_method":
        return f"method Tensor.{node.target}"
    target = node.target
    mod = getattr(target, "__module__", None) or ""
    return f"function {mod + '.' if mod else ''}{getattr(target, '__name__', target)}"
