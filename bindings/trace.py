"""Torch binding by tracing: the block DAG of a model's real forward, not its registration order.

:func:`trace_module` traces the model with ``torch.fx.symbolic_trace``, or, where fx cannot (Hugging Face
models, ``nn.TransformerEncoder``), with ``torch.export`` (ATen operations, the parameters as attributes). It
runs the traced graph once on the example input (eval mode, no gradients; the training flags are restored) and
walks the operations in order. Every tensor of the forward is one of: **units** (each element is a unit of a
node set, tracked as an integer tensor of unit ids of the same shape, carried through every re-indexing
operation by running that operation on the ids), an **attention mix** (scores and weights, made from the query
and key), a **constant** (no input dependence: parameters, masks, positions) or **token ids** (the integer
input of an ``Embedding``). The mapping (spec METRICS.md §16):

* ``Linear``, ``F.linear``/``addmm``/``matmul`` with a parameter, HF's ``Conv1D`` (a transposed Linear) → a
  dense block into a new layer, acting on the last axis; ``Conv1d``/``Conv2d`` → a :class:`ConvBlock` on the
  unrolled units (``Conv1d`` as a ``(C, 1, L)`` convolution); ``MaxPool2d``/``AvgPool2d`` (adaptive where the
  size divides) → a :class:`PoolBlock`;
* ``Embedding`` on the integer input → a source layer of its ``d`` features, or (``embedding="one-hot"``)
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
  it is its own layer joined by a :class:`DiagonalBlock` ``diag(s)``;
* ``LayerNorm``/``GroupNorm`` with affine parameters: the normalisation itself depends on the input and has
  no weights; the scale ``γ`` multiplies the **rows** of the blocks that read the normalised units (the
  weights it precedes: ``W' = diag(γ)·W``, exact for what follows the normalisation), and ``β`` goes into
  those layers' biases (``b' = b + Wᵀβ``); a skip that reads it becomes ``diag(γ)``. Where the normalised
  units meet a nonlinearity, a convolution or the output first, or with ``fold_norm=False``, the norm is its
  own layer joined by ``diag(γ)`` (bias ``β``). A multiplication by a constant (``q·d^{-1/2}``) is carried
  the same way;
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
  ``<projection>[start:stop]``.

Token mode (``tokens=None``: on when the model has attention or an ``Embedding``): a layer's units are the
features of one position, every other axis indexes positions; a float input is read per position by the first
operation on its last axis, and a patch-embedding ``Conv2d`` (kernel = stride, no padding) on the input makes
the input layer one patch's ``C·k_h·k_w`` pixels and the convolution a dense block (ViT).

Anything else is one :class:`InputError` naming the operation and the module path. torch is imported inside
the functions.
"""
import heapq

import numpy as np

from deepcnt.errors import InputError

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
    "broadcast_to", "view_as", "reshape_as",
}
_ATTENTION = {"scaled_dot_product_attention", "matmul", "bmm", "baddbmm", "MultiheadAttention", "embedding",
              "Embedding", "einsum"}
SUPPORTED = ("Linear, Conv1d/2d, HF Conv1D, Embedding, pooling, BatchNorm, LayerNorm, GroupNorm, attention, "
             "elementwise activations, dropout, re-indexing, concatenation and residual adds")
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


class _Ids:
    """The integer input of an Embedding (``sample``: the batch index of each element)."""

    def __init__(self, sample):
        self.sample = sample


_CONST = object()  # a tensor that does not depend on the input (its value is the traced one)


class _Tracer:
    """Walks a traced graph and builds layers and block specs (torch tensors until :meth:`graph`)."""

    def __init__(self, gm, env, batch, fold_norm, tokens, embedding, attention, prefix=""):
        self.gm, self.env, self.batch, self.fold_norm = gm, env, batch, fold_norm
        self.tokens, self.embedding, self.attention, self.prefix = tokens, embedding, attention, prefix
        self.modules = dict(gm.named_modules())
        self.layers = {}  # id -> _Layer (merged layers are removed)
        # (src id, dst id) -> ("dense", W) | ("conv", K, geom) | ("pool", b) | ("diag", d) | ("identity", None)
        self.blocks = {}
        self.value = {}  # fx node -> _Units | _Mix | _Ids | _CONST | list of them
        self.remap = {}  # a merged or re-read layer id -> (layer id per old unit, unit per old unit)
        self.scores = set()  # layer ids read by attention scores (queries and keys)
        self.next_id = 0
        self.output = None

    # ------------------------------------------------------------------ helpers
    def where(self, node):
        if node.op == "call_module":
            return repr(node.target)
        path = _path(node, self.prefix).rstrip(".")
        return repr(path) if path else "the model's forward"

    def refuse(self, node, what, why=None):
        why = why or f"the traced graph maps {SUPPORTED}; anything else is not supported yet"
        raise InputError(f"{what} at {self.where(node)} (fx node {node.name!r}): {why}")

    def new_layer(self, shape, name, bias=None, order=None):
        taken = {layer.name for layer in self.layers.values()}
        base, k = name, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        layer = _Layer(self.next_id, shape, name, bias)
        layer.order = self.next_id if order is None else order
        self.next_id += 1
        self.layers[layer.id] = layer
        return layer

    def bind(self, node, val):
        self.value[node] = val
        for v in val if isinstance(val, list) else [val]:
            if isinstance(v, _Units):
                for lid in self.layer_ids(v):
                    self.layers[lid].nodes.add(node)

    def resolve(self, key):
        """Layer ids and units of unit keys (numpy int64 array, all >= 0), through merges and re-reads."""
        lid, uid = key >> 32, key & (_BIG - 1)
        while self.remap:
            table = np.zeros(self.next_id, dtype=bool)
            table[list(self.remap)] = True
            stale = table[lid]
            if not stale.any():
                break
            for old in np.flatnonzero(np.bincount(lid[stale])):
                m = lid == old
                new_l, new_u = self.remap[int(old)]
                lid[m], uid[m] = new_l[uid[m]], new_u[uid[m]]
        return lid, uid

    def canon(self, key):
        """Keys (numpy, same shape) resolved to the current layers, ``-1`` kept."""
        k = key.numpy().astype(np.int64, copy=True)
        if not self.remap:
            return k
        ok = k >= 0
        lid, uid = self.resolve(k[ok])
        k[ok] = (lid << 32) + uid
        return k

    def layer_ids(self, v):
        """The current layers whose units ``v`` holds (sorted ids)."""
        k = v.key.numpy()
        k = k[k >= 0]
        raw = np.flatnonzero(np.bincount(k >> 32))
        if not any(int(lid) in self.remap for lid in raw):
            return raw.tolist()
        return np.flatnonzero(np.bincount(self.resolve(k.copy())[0])).tolist()

    def units(self, layer, shape, sample):
        """The units of a new ``layer`` laid along the last ``len(layer.shape)`` axes of a value of ``shape``."""
        import torch

        key = (layer.id * _BIG + torch.arange(layer.n, dtype=torch.int64)).reshape(layer.shape)
        return _Units(key.expand(shape).contiguous(), sample.expand(shape).contiguous())

    def row_sample(self, x, d):
        """The sample of each row (last axis of length ``d``) of ``x``, as a (rows..., 1) tensor."""
        import torch

        s = torch.where(x.key >= 0, x.sample, torch.full_like(x.sample, -1))
        return s.amax(-1, keepdim=True)

    def operand(self, node, arg):
        v = self.value.get(arg, _CONST)
        if isinstance(v, _Units):
            return v
        self.refuse(node, f"{_describe(node)} reads {getattr(arg, 'name', arg)!r}, which holds no units")

    def incoming(self, layer):
        return [p for p in self.blocks if p[1] == layer.id]

    def outgoing(self, layer):
        return [p for p in self.blocks if p[0] == layer.id]

    def exclusive(self, layer, consumer):
        """True when ``layer`` has incoming blocks and ``consumer`` is the only reader of its values."""
        if not self.incoming(layer):
            return False
        return all(u in layer.nodes or u is consumer or not _is_tensor(self.env.get(u))
                   for n in layer.nodes for u in n.users)

    def put(self, pair, spec, node):
        old = self.blocks.get(pair)
        if old is None:
            self.blocks[pair] = spec
        else:
            self.blocks[pair] = _sum_specs(old, spec, self.layers[pair[1]].n, lambda why: self.refuse(node, why))

    def scale_into(self, layer, s_unit, s_chan):
        """Multiply every block into ``layer`` by the per-unit scale (per channel for a convolution)."""
        for p in self.incoming(layer):
            kind = self.blocks[p][0]
            if kind == "dense":
                W = self.blocks[p][1]
                self.blocks[p] = ("dense", (W * s_unit[None, :]).to(W.dtype))
            elif kind == "conv":
                _, K, geom = self.blocks[p]
                self.blocks[p] = ("conv", (K * s_chan.reshape(-1, 1, 1, 1)).to(K.dtype), geom)
            elif kind == "identity":  # a skip of weight 1 scaled: diag(s)
                self.blocks[p] = ("diag", s_unit.clone())
            else:
                self.blocks[p] = ("diag", self.blocks[p][1] * s_unit)

    def per_unit(self, node, layer, x, t, fill):
        """A per-position tensor ``t`` of ``x`` as one value per unit of ``layer`` (``fill`` where absent);
        refused where one unit gets different values at different positions."""
        import torch

        key = self.canon(x.key).reshape(-1)
        ok = key >= 0
        lid, uid = key[ok] >> 32, key[ok] & (_BIG - 1)
        out = torch.full((layer.n,), float(fill), dtype=torch.float64)
        if t is not None:
            sel = lid == layer.id
            idx = torch.as_tensor(uid[sel])
            vals = t.expand(x.key.shape).reshape(-1)[torch.as_tensor(np.flatnonzero(ok)[sel])].double()
            out[idx] = vals
            if not torch.allclose(out[idx], vals):
                self.refuse(node, f"{_describe(node)} reads units scaled by a factor that varies by position",
                            "per-position factors are not weights of the graph")
        return out

    # ------------------------------------------------------------------ the walk
    def run(self):
        import torch

        for node in self.gm.graph.nodes:
            e = self.env.get(node)
            if node.op == "placeholder":
                if not isinstance(e, torch.Tensor):
                    continue  # an argument left at its non-tensor default (mask=None)
                if any(isinstance(v, (_Units, _Ids)) for v in self.value.values()):
                    self.refuse(node, "a second input", "the traced graph takes one input tensor")
                sample = torch.arange(self.batch).reshape((-1,) + (1,) * (e.ndim - 1)).expand(e.shape).contiguous()
                if e.is_floating_point():
                    layer = self.new_layer(e.shape[1:], "input")
                    self.bind(node, self.units(layer, e.shape, sample))
                else:
                    self.bind(node, _Ids(sample))
            elif node.op == "output":
                self.finish(node)
            elif node.op == "get_attr":
                self.value[node] = _CONST
            elif node.op == "call_module":
                self.module(node, self.modules[node.target])
            else:
                self.function(node)

    def finish(self, node):
        import torch.utils._pytree as pytree

        leaves = [a for a in pytree.tree_leaves(node.args[0]) if isinstance(self.value.get(a), _Units)]
        if not leaves:
            self.refuse(node, "an output that holds no units", "return a tensor computed from the input")
        out = self.value[leaves[0]]
        if out.pending:
            out = self.materialise(node, out, "output.scale")
        s = out.sample
        if s.ndim == 0 or s.shape[0] != self.batch or bool(((s != _arange_like(s)) & (out.key >= 0)).any()):
            self.refuse(node, f"an output of shape {tuple(s.shape)}",
                        "the batch axis must stay first and keep its size")
        self.output = out

    def module(self, node, mod):
        import torch.nn as nn

        kind = type(mod).__name__
        vals = [self.value.get(a, _CONST) for a in node.all_input_nodes]
        if kind == "GuardsFn" or not any(isinstance(v, (_Units, _Ids, _Mix)) for v in vals):
            self.value[node] = _CONST
            return
        x = self.value.get(node.args[0], _CONST) if node.args else _CONST
        e = self.env[node]
        if isinstance(mod, nn.Embedding):
            return self.embed(node, x, mod.weight.detach(), node.target)
        if not isinstance(x, _Units) and not isinstance(mod, nn.MultiheadAttention):
            self.refuse(node, f"module {kind} reads {node.args[0].name!r}, which holds no units")
        if isinstance(mod, nn.Linear):
            self.bind(node, self.feed(node, x, mod.weight.detach().T, mod.bias, node.target, e.shape, "Linear"))
        elif kind == "Conv1D" and hasattr(mod, "nf"):  # transformers.pytorch_utils.Conv1D: weight (in, out)
            self.bind(node, self.feed(node, x, mod.weight.detach(), mod.bias, node.target, e.shape, "Conv1D"))
        elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            if mod.padding_mode != "zeros":
                self.refuse(node, f"module {kind}", "needs padding_mode='zeros'")
            self.conv(node, x, mod.weight.detach(), mod.bias, mod.stride, mod.padding, mod.dilation, mod.groups,
                      node.target, kind)
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            self.pool(node, mod, x, tuple(e.shape[1:]))
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if mod.running_var is None:
                self.refuse(node, f"module {kind}", "track_running_stats=False: there are no statistics to fold")
            self.batchnorm(node, x, mod.weight, mod.bias, mod.running_mean, mod.running_var, mod.eps, kind)
        elif isinstance(mod, nn.LayerNorm):
            self.norm(node, x, mod.weight, mod.bias, len(mod.normalized_shape), node.target)
        elif isinstance(mod, nn.GroupNorm):
            g = None if mod.weight is None else mod.weight.detach().reshape((-1,) + (1,) * (x.key.ndim - 2))
            b = None if mod.bias is None else mod.bias.detach().reshape((-1,) + (1,) * (x.key.ndim - 2))
            self.norm(node, x, g, b, None, node.target)
        elif isinstance(mod, nn.MultiheadAttention):
            self.mha(node, mod)
        elif isinstance(mod, (nn.Flatten, nn.Unflatten)):
            self.reindex(node, lambda *a: mod(*a))
        elif kind in SAME_MODULES:
            self.same(node, x, linear=False)
        elif kind in _LINEAR_SAME:
            self.bind(node, x)
        else:
            self.refuse(node, f"module {kind}")

    def function(self, node):
        import torch

        op = _opname(node)
        e = self.env.get(node)
        if node.op == "call_function" and node.target is getattr:
            self.value[node] = _CONST
            return
        if op == "getitem" and isinstance(self.value.get(node.args[0]), list):
            return self.bind(node, self.value[node.args[0]][node.args[1]])  # one result of split, MHA, ...
        vals = [self.value.get(a, _CONST) for a in node.all_input_nodes]
        flat = [w for v in vals for w in (v if isinstance(v, list) else [v])]
        has = {t: any(isinstance(v, t) for v in flat) for t in (_Units, _Mix, _Ids)}
        if not (has[_Units] or has[_Mix] or has[_Ids]) or not _is_tensor(e):
            if not has[_Units] or op in ("size", "dim", "sym_size", "numel", "getattr", "_assert_tensor_metadata",
                                         "sym_numel", "sym_stride", "stride", "_guards_fn"):
                self.value[node] = _CONST  # a constant, or a shape read from units
                return
            self.refuse(node, _describe(node))
        if has[_Ids] and not has[_Units]:
            if op == "embedding":
                a = self.args(node, "weight input" if _is_aten(node) else "input weight")
                return self.embed(node, self.value.get(a["input"], _CONST), self.env[a["weight"]],
                                  self.param_name(node, a["weight"]))
            if op in _REINDEX or op in _LINEAR_SAME:
                ids = self.value[node.args[0]]
                args = _map(node.args, lambda a: ids.sample if a is node.args[0] else self.env.get(a, a))
                out = _call(node, args, _map(node.kwargs, lambda a: self.env.get(a, a)), self.modules)
                self.value[node] = _Ids(out.contiguous()) if isinstance(out, torch.Tensor) else _CONST
            else:
                self.value[node] = _CONST
            return
        if op == "scaled_dot_product_attention":
            a = self.args(node, "query key value")
            q, k, v = (self.operand(node, a[n]) for n in ("query", "key", "value"))
            return self.bind(node, self.mixed(node, q, k, v, e.shape))
        if op in ("matmul", "bmm", "mm", "baddbmm", "addmm", "linear", "einsum"):
            return self.product(node, op, e)
        if has[_Mix]:
            if has[_Units] and op not in _REINDEX:
                self.refuse(node, _describe(node), "mixes attention weights with units outside an attention product")
            self.value[node] = _Mix()
            return
        if op in ("conv1d", "conv2d"):
            a = self.args(node, "input weight bias stride padding dilation groups", stride=1, padding=0, dilation=1,
                          groups=1)
            v = {k: self.env.get(n, n) if hasattr(n, "op") else n for k, n in a.items()}
            return self.conv(node, self.operand(node, a["input"]), v["weight"], v["bias"], v["stride"], v["padding"],
                             v["dilation"], v["groups"], self.param_name(node, a["weight"]), op)
        if op in ("layer_norm", "group_norm"):
            second = "normalized_shape" if op == "layer_norm" else "num_groups"
            a = self.args(node, f"input {second} weight bias")
            x = self.operand(node, a["input"])
            g, b = (self.env.get(a[k]) if hasattr(a[k], "op") else None for k in ("weight", "bias"))
            name = self.param_name(node, a["weight"])
            if op == "layer_norm":
                shape = a["normalized_shape"]
                return self.norm(node, x, g, b, 1 if isinstance(shape, int) else len(shape), name)
            r = (-1,) + (1,) * (x.key.ndim - 2)
            return self.norm(node, x, None if g is None else g.reshape(r), None if b is None else b.reshape(r), None,
                             name)
        if op in ("batch_norm", "_native_batch_norm_legit_no_training"):
            names = ("input weight bias running_mean running_var" if _is_aten(node)
                     else "input running_mean running_var weight bias")
            a = self.args(node, names + (" training momentum eps" if op == "batch_norm" else " momentum eps"),
                          training=False, momentum=0.1, eps=1e-5)
            v = {k: self.env.get(n, n) if hasattr(n, "op") else n for k, n in a.items()}
            if v.get("training"):
                self.refuse(node, _describe(node), "batch statistics (training mode) cannot be folded")
            self.batchnorm(node, self.operand(node, a["input"]), v["weight"], v["bias"], v["running_mean"],
                           v["running_var"], v["eps"], op)
            if op != "batch_norm":
                self.value[node] = [self.value[node], _CONST, _CONST]
            return
        if op in ("add", "sub", "rsub", "iadd", "isub"):
            return self.add(node, op, e)
        if op in ("mul", "div", "truediv", "neg", "imul", "itruediv"):
            return self.mul(node, op, e)
        if op in ("mean", "sum"):
            return self.reduce(node, op, e)
        if op in _REINDEX:
            return self.reindex(node)
        if op in _LINEAR_SAME and len([v for v in flat if isinstance(v, _Units)]) == 1:
            return self.bind(node, self.operand(node, node.args[0]))
        if op in _NONLINEAR or op in ("gelu", "glu_same"):
            units = [a for a in node.all_input_nodes if isinstance(self.value.get(a), _Units)]
            if len(units) == 1:
                return self.same(node, self.value[units[0]], linear=False)
        self.refuse(node, _describe(node))

    # ------------------------------------------------------------------ operations
    def args(self, node, names, **defaults):
        """An operation's arguments by name (``names``: its signature's leading names, space separated), from
        its positional and keyword arguments; fx nodes are left as nodes."""
        out = dict(defaults)
        names = names.split()
        out.update({n: None for n in names if n not in out})
        out.update(zip(names, node.args))
        out.update({k: v for k, v in node.kwargs.items() if k in out})
        return out

    def param_name(self, node, weight_node):
        """A layer's name: its weight's module path (``h.0.attn.c_attn``), else the operation's module path."""
        target = getattr(weight_node, "target", None) if getattr(weight_node, "op", None) == "get_attr" else None
        if isinstance(target, str):
            name = target[len(self.prefix):] if self.prefix and target.startswith(self.prefix) else target
            for suffix in (".weight", "_weight", ".bias"):
                if name.endswith(suffix):
                    return name[: -len(suffix)]
            return name
        return _path(node, self.prefix) + node.name

    def feed(self, node, x, W, b, name, out_shape, what):
        """A dense block ``W`` (d_in, d_out) from the units along ``x``'s last axis into a new layer."""
        import torch

        d_in, d_out = W.shape
        if x.key.shape[-1] != d_in:
            self.refuse(node, f"{what} applied to a {tuple(x.key.shape[1:])} tensor", f"it reads {d_in} features")
        r, s, sh, rows = self.rows(node, x, what)
        Wd = W.detach()
        bias = None if b is None else b.detach().double().clone()
        if sh is not None:
            bias = (0 if bias is None else bias) + sh @ Wd.double()
        if s is not None:
            Wd = Wd.double() * s[:, None]
        y = self.new_layer((d_out,), name, bias)
        lid, uid = r // _BIG, r % _BIG
        for L in np.unique(lid):
            m = lid == L
            if m.all() and self.layers[int(L)].n == d_in and np.array_equal(uid, np.arange(d_in)):
                M = Wd
            else:
                M = torch.zeros((self.layers[int(L)].n, d_out), dtype=torch.float64)
                M.index_add_(0, torch.as_tensor(uid[m]), Wd[torch.as_tensor(np.flatnonzero(m))].double())
            self.put((int(L), y.id), ("dense", M), node)
        sample = rows.reshape(tuple(x.key.shape[:-1]) + (1,))
        return self.units(y, tuple(out_shape), sample)

    def rows(self, node, x, what, retry=True):
        """``(keys, scale, shift, row samples)`` of ``x`` read along its last axis: every row that holds units
        must hold the same ones (the graph of one position's features)."""
        d = x.key.shape[-1]
        K = self.canon(x.key).reshape(-1, d)
        valid = (K >= 0).any(1)
        ok = valid.any()
        r = K[valid][0] if ok else None
        ok = ok and (K[valid] == r).all() and (r >= 0).all()
        if not ok and retry and self.tokens and self.reread(x, d):
            return self.rows(node, x, what, retry=False)
        if not ok:
            self.refuse(node, f"{what} applied to a {tuple(x.key.shape[1:])} tensor",
                        "flatten to (features,) before it, or trace with tokens=True where positions share the units")
        out = [r]
        for t in (x.scale, x.shift):
            if t is None:
                out.append(None)
                continue
            T = t.expand(x.key.shape).reshape(-1, d)[valid.tolist()]
            if not bool((T == T[0]).all()):
                self.refuse(node, f"{what} reads units scaled by a factor that varies by position",
                            "per-position factors are not weights of the graph")
            out.append(T[0].double())
        return (*out, self.row_sample(x, d).reshape(-1))

    def reread(self, x, d):
        """Token mode: read a source layer (the input) per position, its last axis the units. True if done."""
        K = self.canon(x.key).reshape(-1, d)
        lids = np.unique(K[K >= 0] // _BIG)
        if len(lids) != 1:
            return False
        L = self.layers[int(lids[0])]
        if self.incoming(L) or self.outgoing(L):
            return False
        uid = np.where(K >= 0, K % _BIG, -1)
        m = np.arange(L.n) % d
        for j in range(d):
            col = uid[:, j]
            m[col[col >= 0]] = j
        if not all(np.all(m[uid[:, j][uid[:, j] >= 0]] == j) for j in range(d)):
            return False
        self.retire(L, self.new_layer((d,), L.name, L.bias, order=L.order), m)
        return True

    def retire(self, L, new, uid_map):
        """Replace layer ``L`` by ``new`` (unit ``u`` of ``L`` is unit ``uid_map[u]`` of ``new``)."""
        del self.layers[L.id]
        new.name = L.name
        self.remap[L.id] = (np.full(L.n, new.id, dtype=np.int64), np.asarray(uid_map, dtype=np.int64))
        new.nodes |= L.nodes

    def whole(self, node, x, what, why):
        """The layer whose units ``x`` holds whole, in C-order, one sample per batch row (else refused)."""
        if x.pending:
            x = self.materialise(node, x, _path(node, self.prefix) + "scale")
        lids = self.layer_ids(x)
        if len(lids) == 1 and self.layers[lids[0]].shape == tuple(x.key.shape[1:]):
            L = self.layers[lids[0]]
            B = x.key.shape[0]
            key = self.canon(x.key).reshape(B, -1)
            if (np.array_equal(key, np.broadcast_to((L.id << 32) + np.arange(L.n), key.shape))
                    and np.array_equal(x.sample.numpy().reshape(B, -1),
                                       np.broadcast_to(np.arange(B)[:, None], key.shape))):
                return L, x
        self.refuse(node, what, why)

    def conv(self, node, x, K, b, stride, padding, dilation, groups, name, what):
        """Conv2d, or Conv1d as the ``(C, 1, L)`` convolution of the kernel ``(C_out, C_in/g, 1, k)``."""
        import torch

        from .torch_conv import _padding

        one = K.ndim == 3
        K = K.detach().unsqueeze(2) if one else K.detach()
        pair = lambda v: (int(v),) * 2 if isinstance(v, int) else tuple(int(u) for u in v) * (2 if len(v) == 1 else 1)
        st, dil = ((1, pair(v)[0]) if one else pair(v) for v in (stride, dilation))
        if isinstance(padding, str):
            pad = _padding(type("Geometry", (), {"padding": padding, "kernel_size": tuple(K.shape[2:]),
                                                 "dilation": dil})(), None)
        else:
            pad = (0, pair(padding)[0]) if one else pair(padding)
        e = self.env[node]
        batch = _arange_like(torch.zeros(e.shape, dtype=torch.int64))
        kh, kw = K.shape[2:]
        lids = self.layer_ids(x)
        if (self.tokens and not one and st == (kh, kw) and pad == (0, 0) and dil == (1, 1) and groups == 1
                and len(lids) == 1 and not self.incoming(self.layers[lids[0]]) and not x.pending):
            # a patch embedding on the input, in token mode: one patch's pixels are the units of a position
            L, _ = self.whole(node, x, f"{what} on a {tuple(x.key.shape[1:])} tensor",
                              "a patch embedding reads the input")
            C, H, W = L.shape
            c, yy, xx = np.unravel_index(np.arange(L.n), L.shape)
            new = self.new_layer((C, kh, kw), L.name, order=L.order)
            self.retire(L, new, (c * kh + yy % kh) * kw + xx % kw)
            y = self.new_layer((K.shape[0],), name, None if b is None else b.detach().double().clone())
            self.put((new.id, y.id), ("dense", K.reshape(K.shape[0], -1).T), node)
            key = (y.id * _BIG + torch.arange(K.shape[0])).reshape(1, -1, 1, 1).expand(e.shape).contiguous()
            return self.bind(node, _Units(key, batch))
        need = 2 if one else 3
        if x.key.ndim - 1 != need:
            self.refuse(node, f"{what} applied to a {tuple(x.key.shape[1:])} tensor", f"it needs {need}-axis units")
        L, x = self.whole(node, x, f"{what} on units that are not one layer's, whole and in order",
                          "convolutions read one layer's (C, H, W) units")
        out = tuple(e.shape[1:])
        in_shape = (L.shape[0], 1, L.shape[1]) if one else L.shape
        bias = None if b is None else b.detach().double().repeat_interleave(int(np.prod(out[1:])))
        y = self.new_layer(out, name, bias)
        self.put((L.id, y.id), ("conv", K, (in_shape, st, pad, dil, int(groups))), node)
        self.bind(node, self.units(y, e.shape, batch))

    def pool(self, node, mod, x, out):
        import torch
        import torch.nn as nn

        from deepcnt.model.conv import PoolBlock

        what = f"module {type(mod).__name__}"
        L, x = self.whole(node, x, what, "pooling needs one layer's (C, H, W) units")
        if len(L.shape) != 3:
            self.refuse(node, what, "pooling needs (C, H, W) units")
        mode = "max" if isinstance(mod, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "avg"
        if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            (H, W), (oh, ow) = L.shape[1:], out[1:]
            if H % oh or W % ow:
                self.refuse(node, what, f"an output size {(oh, ow)} that does not divide the input "
                            f"{(H, W)} gives windows of varying size")
            k = (H // oh, W // ow)
            block = PoolBlock(mode, L.shape, k, k)
        elif mod.ceil_mode:
            self.refuse(node, what, "ceil_mode=True is not supported")
        elif mode == "max":
            block = PoolBlock("max", L.shape, mod.kernel_size, mod.stride, mod.padding, mod.dilation)
        else:
            pad = (mod.padding,) * 2 if isinstance(mod.padding, int) else tuple(mod.padding)
            if not mod.count_include_pad and max(pad) > 0:
                self.refuse(node, "module AvgPool2d", "count_include_pad=False with padding is not a convolution")
            block = PoolBlock("avg", L.shape, mod.kernel_size, mod.stride, mod.padding, divisor=mod.divisor_override)
        if tuple(block.out_shape) != tuple(out):
            self.refuse(node, what, f"gives {out}, not the {tuple(block.out_shape)} of its window")
        y = self.new_layer(out, node.target)
        self.blocks[(L.id, y.id)] = ("pool", block)
        e = self.env[node]
        self.bind(node, self.units(y, e.shape, _arange_like(torch.zeros(e.shape, dtype=torch.int64))))

    def batchnorm(self, node, x, gamma, beta, mean, var, eps, kind):
        import torch

        what = f"module {kind}" if node.op == "call_module" else _describe(node)
        L, x = self.whole(node, x, what, "a BatchNorm reads one layer's units, whole and in order")
        if len(L.shape) not in (1, 2, 3):
            self.refuse(node, what, f"units of shape {L.shape}")
        var, mean = var.detach().double(), mean.detach().double()
        s_chan = 1.0 / torch.sqrt(var + eps)
        b_chan = torch.zeros_like(s_chan)
        if gamma is not None:
            s_chan = s_chan * gamma.detach().double()
        if beta is not None:
            b_chan = beta.detach().double()
        per = int(np.prod(L.shape[1:]))
        s_unit, mean_u, beta_u = (v.repeat_interleave(per) for v in (s_chan, mean, b_chan))
        if self.fold_norm and self.exclusive(L, node) and all(self.blocks[p][0] != "pool" for p in self.incoming(L)):
            self.scale_into(L, s_unit, s_chan)
            b = torch.zeros_like(s_unit) if L.bias is None else L.bias.double()
            L.bias = s_unit * (b - mean_u) + beta_u
            self.bind(node, x)
        else:
            name = node.target if node.op == "call_module" else _path(node, self.prefix) + node.name
            y = self.new_layer(L.shape, name,
                               beta_u - s_unit * mean_u)
            self.blocks[(L.id, y.id)] = ("diag", s_unit)
            e = self.env[node]
            self.bind(node, self.units(y, e.shape, x.sample))

    def norm(self, node, x, gamma, beta, n_axes, name):
        """LayerNorm (over the last ``n_axes``) or GroupNorm (``n_axes=None``, per channel): γ and β pending."""

        if x.pending:
            x = self.materialise(node, x, name + ".input")
        if self.tokens and n_axes == 1:
            self.rows(node, x, "LayerNorm")  # one position's features (the input is read per position)
        shape = x.key.shape
        if n_axes is not None and n_axes > 1:
            self.refuse(node, _describe(node) if node.op != "call_module" else "module LayerNorm",
                        "a LayerNorm over more than the last axis is not supported")
        s = None if gamma is None else gamma.detach().double().expand(shape).contiguous()
        b = None if beta is None else beta.detach().double().expand(shape).contiguous()
        y = _Units(x.key, x.sample, s, b)
        if (s is None and b is None) or self.fold_norm:
            return self.bind(node, y)
        self.bind(node, self.materialise(node, y, name))

    def materialise(self, node, x, name):
        """A pending scale/shift of ``x`` as its own layer joined by ``diag`` (bias: the shift)."""
        import torch

        lids = self.layer_ids(x)
        if len(lids) != 1:
            self.refuse(node, f"{_describe(node)} reads a pending normalisation or factor over several layers",
                        "trace with fold_norm=True")
        L = self.layers[lids[0]]
        d = self.per_unit(node, L, x, x.scale, 1.0)
        bias = None if x.shift is None else self.per_unit(node, L, x, x.shift, 0.0)
        y = self.new_layer(L.shape, name, bias)
        self.put((L.id, y.id), ("diag", d) if x.scale is not None else ("identity", None), node)
        key = torch.as_tensor(self.canon(x.key))
        key = torch.where(key >= 0, y.id * _BIG + key % _BIG, key)
        return _Units(key, x.sample)

    def same(self, node, x, linear):
        if x.pending and not x.act:
            x = self.materialise(node, x, _path(node, self.prefix) + node.name)
        self.bind(node, x if linear else _Units(x.key, x.sample, act=True))

    def reindex(self, node, fn=None):
        import torch

        vals = {a: self.value.get(a, _CONST) for a in node.all_input_nodes}

        def field(name):
            def sub(a):
                if not hasattr(a, "op"):
                    return a
                v, e = vals.get(a, _CONST), self.env.get(a)
                if isinstance(v, list):
                    return [_field(w, name, None, self.batch) for w in v]
                return _field(v, name, e, self.batch) if isinstance(e, torch.Tensor) or isinstance(v, _Units) else e
            return sub

        flat = [w for v in vals.values() for w in (v if isinstance(v, list) else [v])]
        res = {}
        for name in _Units.FIELDS:
            if name in ("scale", "shift") and all(getattr(w, name, None) is None for w in flat):
                res[name] = None
                continue
            args, kwargs = _map(node.args, field(name)), _map(node.kwargs, field(name))
            res[name] = fn(*args) if fn else _call(node, args, kwargs, self.modules)
        act = all(w.act for w in flat if isinstance(w, _Units))

        def make(k, s, sc, sh):
            u = _Units(k.contiguous(), s.contiguous(), None if sc is None else sc.contiguous(),
                       None if sh is None else sh.contiguous(), act)
            if not bool((u.key >= 0).any()):
                return _CONST
            d = u.key.shape[-1] if u.key.ndim else 1
            valid = (u.key >= 0).reshape(-1, d)
            smp = u.sample.reshape(-1, d)
            lo = torch.where(valid, smp, torch.full_like(smp, 1 << 40)).amin(1)
            hi = torch.where(valid, smp, torch.full_like(smp, -1)).amax(1)
            if bool(((lo != hi) & valid.any(1)).any()):
                self.refuse(node, f"{_describe(node)} giving shape {tuple(u.key.shape)}",
                            "it mixes the units of different samples: the batch axis must stay first and keep its size")
            return u

        if isinstance(res["key"], (list, tuple)):
            n = len(res["key"])
            part = lambda f, i: None if res[f] is None else res[f][i]
            val = [make(res["key"][i], res["sample"][i], part("scale", i), part("shift", i)) for i in range(n)]
            for u in val:
                if isinstance(u, _Units):
                    self.split(node, u)
        else:
            val = make(res["key"], res["sample"], res["scale"], res["shift"])
            if isinstance(val, _Units) and _opname(node) in ("select", "slice", "getitem", "narrow"):
                self.split(node, val)
        self.bind(node, val)

    def split(self, node, u):
        """A part of a layer's units read on its own (q, k, v of a packed projection): the part becomes its own
        layer where the layer has dense blocks in only and no block out yet."""

        lids = self.layer_ids(u)
        if len(lids) != 1:
            return
        L = self.layers[lids[0]]
        if len(L.shape) != 1 or self.outgoing(L) or not self.incoming(L) or any(
                self.blocks[p][0] != "dense" for p in self.incoming(L)):
            return
        k = self.canon(u.key)
        part = np.unique(k[k >= 0] % _BIG)
        if len(part) == L.n or not np.array_equal(part, np.arange(part[0], part[-1] + 1)):
            return
        a, b = int(part[0]), int(part[-1]) + 1
        pieces = [(0, a), (a, b), (b, L.n)]
        lid_map, uid_map = np.empty(L.n, np.int64), np.empty(L.n, np.int64)
        base = L.name.split("[")[0]
        off = int(L.name.split("[")[1].split(":")[0]) if "[" in L.name else 0
        for lo, hi in pieces:
            if hi <= lo:
                continue
            bias = None if L.bias is None else L.bias[lo:hi].clone()
            P = self.new_layer((hi - lo,), f"{base}[{off + lo}:{off + hi}]", bias, order=L.order)
            for p in self.incoming(L):
                self.blocks[(p[0], P.id)] = ("dense", self.blocks[p][1][:, lo:hi])
            lid_map[lo:hi], uid_map[lo:hi] = P.id, np.arange(hi - lo)
            P.nodes |= L.nodes
        for p in self.incoming(L):
            del self.blocks[p]
        del self.layers[L.id]
        self.remap[L.id] = (lid_map, uid_map)

    def mixed(self, node, q, k, v, out_shape):
        """Attention: ``q``, ``k`` are read by the scores (sinks); the output holds ``v``'s units per channel."""
        for x in (q, k):
            if x is not None:
                self.scores.update(self.layer_ids(x))
        if not bool((v.key == v.key[..., :1, :]).all()):
            self.refuse(node, f"{_describe(node)} mixes positions that hold different units",
                        "the values of one head must hold the same units at every position")
        shape = tuple(out_shape)
        pick = lambda t: None if t is None else t.expand(v.key.shape)[..., :1, :].expand(shape).contiguous()
        return _Units(pick(v.key), pick(v.sample), pick(v.scale), pick(v.shift), v.act)

    def product(self, node, op, e):
        args = list(node.args)
        if op in ("baddbmm", "addmm"):
            bias_node, args = args[0], args[1:]
        kinds = [self.value.get(a, _CONST) if hasattr(a, "op") else _CONST for a in args[:2]]
        a, b = kinds
        if op == "linear":
            a = self.args(node, "input weight bias")
            x, bias = self.operand(node, a["input"]), a["bias"]
            bias = self.env[bias] if hasattr(bias, "op") else None
            return self.bind(node, self.feed(node, x, self.env[a["weight"]].T, bias, self.param_name(node, a["weight"]),
                                             e.shape, "Linear"))
        if isinstance(a, _Units) and isinstance(b, _Units):
            self.scores.update(self.layer_ids(a) + self.layer_ids(b))
            self.value[node] = _Mix()
            return
        if isinstance(a, _Mix) and isinstance(b, _Units):
            return self.bind(node, self.mixed(node, None, None, b, e.shape))  # weights @ v
        if isinstance(a, _Units) and b is _CONST and self.env[args[1]].ndim == 2:
            bias = self.env[bias_node] if op == "addmm" else None
            return self.bind(node, self.feed(node, a, self.env[args[1]], bias, self.param_name(node, args[1]),
                                             e.shape, _describe(node)))
        ins = [self.value.get(n, _CONST) for n in node.all_input_nodes]
        if op != "einsum" and not any(isinstance(v, _Units) for v in ins):
            self.value[node] = _Mix() if any(isinstance(v, _Mix) for v in ins) else _CONST
            return
        self.refuse(node, _describe(node), "a product that is neither a weight, attention scores nor an attention mix "
                    "(write it with Linear or matmul)")

    def mha(self, node, mod):
        """``nn.MultiheadAttention``: q, k, v projections (packed or not) into their own layers, the output
        projection from v's layer."""
        q_in, k_in, v_in = (self.value.get(a, _CONST) for a in node.args[:3])
        for t, a in zip((q_in, k_in, v_in), node.args[:3]):
            if not isinstance(t, _Units):
                self.refuse(node, "module MultiheadAttention", f"its input {a.name!r} holds no units")
        E = mod.embed_dim
        if mod._qkv_same_embed_dim:
            Ws = mod.in_proj_weight.detach().chunk(3)
        else:
            Ws = (mod.q_proj_weight.detach(), mod.k_proj_weight.detach(), mod.v_proj_weight.detach())
        bs = mod.in_proj_bias.detach().chunk(3) if mod.in_proj_bias is not None else (None,) * 3
        out = self.env[node][0]
        proj = []
        for x, W, b, tag in zip((q_in, k_in, v_in), Ws, bs, "qkv"):
            shape = tuple(x.key.shape[:-1]) + (E,)
            proj.append(self.feed(node, x, W.T, b, f"{node.target}.{tag}", shape, "MultiheadAttention"))
        q, k, v = proj
        for x in (q, k):
            self.scores.update(self.layer_ids(x))
        # the attention mix acts per channel: the output projection reads v's units at the query positions

        vk = v.key.reshape(-1, E)[0]
        att = _Units(vk.expand(q.key.shape).contiguous(), q.sample)
        y = self.feed(node, att, mod.out_proj.weight.detach().T, mod.out_proj.bias, f"{node.target}.out_proj",
                      tuple(out.shape), "MultiheadAttention")
        self.bind(node, [y, _CONST])

    def embed(self, node, ids, weight, name):
        if not isinstance(ids, _Ids):
            self.value[node] = _CONST  # positions, token types: a constant
            return
        V, d = weight.shape
        e = self.env[node]
        if self.embedding == "one-hot":
            src = self.new_layer((V,), "input" if not self.layers else f"{name}.one_hot")
            y = self.new_layer((d,), name)
            self.put((src.id, y.id), ("dense", weight.detach()), node)
        else:
            y = self.new_layer((d,), name)
        self.bind(node, self.units(y, e.shape, ids.sample.unsqueeze(-1)))

    def add(self, node, op, e):
        import torch

        args = [a for a in node.args]
        ops = [self.value.get(a, _CONST) if hasattr(a, "op") else _CONST for a in args[:2]]
        alpha = node.kwargs.get("alpha", args[2] if len(args) > 2 and op != "rsub" else 1)
        if alpha != 1:
            self.refuse(node, _describe(node), "torch.add with alpha != 1 is not supported")
        sign = [1, -1] if op in ("sub", "isub") else ([-1, 1] if op == "rsub" else [1, 1])
        units = [(i, v) for i, v in enumerate(ops) if isinstance(v, _Units)]
        if len(units) == 1:
            i, v = units[0]
            v = _expand(v, e.shape)
            if sign[i] < 0:
                v = _scaled(v, -1.0)
            return self.bind(node, v)  # x + constant: the same nodes
        a, b = (_expand(v, e.shape) for v in ops)
        if sign[1] < 0:
            b = _scaled(b, -1.0)
        if sign[0] < 0:
            a = _scaled(a, -1.0)
        ka, kb = torch.as_tensor(self.canon(a.key)), torch.as_tensor(self.canon(b.key))
        if bool((ka == kb).all()) and (a.act or b.act):
            return self.bind(node, _Units(a.key, a.sample, act=True))  # an elementwise function of one layer's units
        self.residual(node, [args[0], args[1]], [a, b], e)

    def mul(self, node, op, e):
        import torch

        args = list(node.args)
        ops = [self.value.get(a, _CONST) if hasattr(a, "op") else _CONST for a in args[:2]]
        if op == "neg":
            return self.bind(node, _scaled(self.operand(node, args[0]), -1.0))
        units = [(i, v) for i, v in enumerate(ops) if isinstance(v, _Units)]
        if len(units) == 2:
            a, b = (_expand(v, e.shape) for v in ops)
            if bool((torch.as_tensor(self.canon(a.key)) == torch.as_tensor(self.canon(b.key))).all()):
                return self.bind(node, _Units(a.key, a.sample, act=True))  # x·σ(x), x²: one layer's units
            self.refuse(node, f"a product of two layers' units ({_describe(node)})",
                        "gating (GLU, SwiGLU) is not a weighted map")
        i, v = units[0]
        other = args[1 - i] if len(args) > 1 else None
        c = self.env.get(other, other) if hasattr(other, "op") else other
        if op in ("div", "truediv", "itruediv"):
            if i == 1:
                return self.same(node, v, linear=False)  # c / x
            c = 1.0 / c
        v = _expand(v, e.shape)
        if v.act:
            return self.bind(node, v)
        self.bind(node, _scaled(v, c))

    def reduce(self, node, op, e):

        x = self.operand(node, node.args[0])
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        keep = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        if dims is None:
            self.refuse(node, _describe(node), "a reduction over all units")
        dims = [dims] if isinstance(dims, int) else list(dims)
        k = x.key
        if not all(bool((k == k.amax(d, keepdim=True)).all()) for d in dims):
            self.refuse(node, _describe(node), "it reduces over axes that hold different units (use a pooling layer)")
        n = int(np.prod([k.shape[d] for d in dims]))
        red = lambda t: None if t is None else t.amax(tuple(dims), keepdim=bool(keep)).contiguous()
        y = _Units(red(k), red(x.sample), red(x.scale), red(x.shift), x.act)
        self.bind(node, _scaled(y, float(n)) if op == "sum" else y)

    def residual(self, node, args, xs, e):
        import torch

        out = tuple(e.shape[1:])
        if any(tuple(x.key.shape[1:]) != out for x in xs):
            self.refuse(node, "a residual add", f"operands of shapes {[tuple(x.key.shape[1:]) for x in xs]} broadcast; "
                        "residual adds need operands of one shape")
        keys = [self.canon(x.key) for x in xs]
        lids = [np.unique(k[k >= 0] // _BIG) for k in keys]
        if any(len(l) != 1 for l in lids):
            self.refuse(node, "a residual add of an operand that holds units of several layers (a concatenation)",
                        "each operand of a residual add must be one layer's units")
        Ls = [self.layers[int(l[0])] for l in lids]
        uids = [np.where(k >= 0, k % _BIG, -1) for k in keys]
        both = (uids[0] >= 0) & (uids[1] >= 0)
        if Ls[0].n != Ls[1].n or not np.array_equal(uids[0][both], uids[1][both]):
            self.refuse(node, "a residual add of units that do not match one to one",
                        f"layers {Ls[0].name!r} ({Ls[0].n} units) and {Ls[1].name!r} ({Ls[1].n} units)")
        same = Ls[0].id == Ls[1].id
        fresh = [i for i, (L, x) in enumerate(zip(Ls, xs))
                 if not same and not x.pending and self.exclusive(L, node)]
        name = _path(node, self.prefix) + "add"
        if any(layer.name == name for layer in self.layers.values()):
            name = _path(node, self.prefix) + node.name
        if fresh:
            y = Ls[fresh[0]]
            for i in fresh[1:]:
                other = Ls[i]
                for p in self.incoming(other):
                    self.put((p[0], y.id), self.blocks.pop(p), node)
                if other.bias is not None:
                    y.bias = other.bias.double() if y.bias is None else y.bias.double() + other.bias.double()
                self.retire(other, y, np.arange(other.n))
                self.layers[y.id] = y
            y.name = name
        else:
            y = self.new_layer(Ls[0].shape, name)
        for i, (L, x) in enumerate(zip(Ls, xs)):
            if i in fresh:
                continue
            if x.scale is not None:
                self.put((L.id, y.id), ("diag", self.per_unit(node, L, x, x.scale, 1.0)), node)
            else:
                self.put((L.id, y.id), ("identity", None), node)
            if x.shift is not None:
                sh = self.per_unit(node, L, x, x.shift, 0.0)
                y.bias = sh if y.bias is None else y.bias.double() + sh
        u = np.where(uids[0] >= 0, uids[0], uids[1])
        key = torch.as_tensor(np.where(u >= 0, y.id * _BIG + u, -1))
        sample = torch.maximum(xs[0].sample, xs[1].sample)
        self.bind(node, _Units(key, sample))

    # ------------------------------------------------------------------ result
    def graph(self, device):
        from deepcnt.model.conv import ConvBlock
        from deepcnt.model.diagonal import DiagonalBlock
        from deepcnt.model.graph import LayeredGraph

        from .tensors import to_array as _to_array

        if self.attention == "value":  # leave out the query and key layers and their blocks
            out_ids = set(self.layer_ids(self.output)) if self.output is not None else set()
            live = {self.resolve(np.array([lid * _BIG]))[0][0] for lid in self.scores}
            for lid in live:
                if lid in self.layers and not self.outgoing(self.layers[lid]) and lid not in out_ids:
                    for p in self.incoming(self.layers[lid]):
                        del self.blocks[p]
                    del self.layers[lid]
        order = _topological([(self.layers[lid].order, lid) for lid in self.layers], list(self.blocks))
        new = {lid: k for k, lid in enumerate(order)}
        sizes = [self.layers[lid].n for lid in order]
        blocks = {}
        for (a, b), spec in self.blocks.items():
            kind = spec[0]
            if kind == "dense":
                w = _to_array(spec[1], device)
            elif kind == "conv":
                in_shape, stride, pad, dil, groups = spec[2]
                w = ConvBlock(_to_array(spec[1], device), in_shape, stride, pad, dil, groups)
            elif kind == "pool":
                w = spec[1]
            elif kind == "identity":
                w = "identity"
            else:
                w = DiagonalBlock(_to_array(spec[1], device))
            blocks[(new[a], new[b])] = w
        biases = {new[lid]: _to_array(layer.bias, device) for lid, layer in self.layers.items()
                  if layer.bias is not None and new[lid] > 0}
        names = [self.layers[lid].name for lid in order]
        return LayeredGraph.from_blocks(sizes, blocks, biases=biases or None, layer_names=names)


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
    if kinds <= {"dense", "diag", "identity"}:
        dense, other = (a, b) if a[0] == "dense" else (b, a)
        W = dense[1].double().clone()
        if other[0] == "dense":
            return ("dense", W + other[1].double())
        return ("dense", W + torch.diag(diag(other)))
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

        def forward(self, x):
            out = self.m(x)
            leaves = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
            return leaves[0]

    return FirstTensor(model)


def _trace(model, x):
    """``(graph module, prefix)``: torch.fx where it traces the forward, else torch.export (ATen operations)."""
    import torch
    import torch.fx as fx

    try:
        return fx.symbolic_trace(model), ""
    except Exception as exc:
        fx_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else type(exc).__name__
    try:
        ep = torch.export.export(_first_tensor_module(model), (x,), strict=False)
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


def trace_module(model, example_input, fold_norm=True, device=None, tokens=None, embedding="features",
                 attention="query-key"):
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
    example_input : torch.Tensor, shape (B, ...)
        A batch of inputs (any ``B >= 1``; zeros will do; token ids for a model that starts with an
        Embedding): the per-sample shape fixes the units. The model runs once on it in eval mode without
        gradients; its training flags and statistics are left as they were.
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
    if not isinstance(example_input, torch.Tensor) or example_input.ndim < 2 or example_input.shape[0] < 1:
        raise InputError("example_input must be one tensor holding a batch of inputs, shape (B, ...) with B >= 1, "
                         f"got {getattr(example_input, 'shape', type(example_input).__name__)}")
    modes = [(m, m.training) for m in model.modules()]
    env = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            env[n] = super().run_node(n)
            return env[n]

    try:
        model.eval()
        x = example_input.to(next(model.parameters(), example_input).device)
        gm, prefix = _trace(model, x)
        with torch.no_grad():
            Recorder(gm).run(x)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{type(model).__name__} does not run on example_input of shape "
                         f"{tuple(example_input.shape)} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
                         ) from None
    finally:
        for m, training in modes:
            m.training = training
    env = {n: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for n, v in env.items()}
    with torch.no_grad():
        t = _Tracer(gm, env, int(example_input.shape[0]), fold_norm, _has_tokens(gm) if tokens is None else tokens,
                    embedding, attention, prefix)
        t.run()
        return t.graph(device)
