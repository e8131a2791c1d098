"""Torch binding by tracing: the block DAG of a model's real forward (``torch.fx``), not its registration order.

:func:`trace_module` runs ``torch.fx.symbolic_trace`` on the model and the example input through
``ShapeProp`` (in eval mode, without gradients; the model's training flags are restored), then walks the traced
operations in order and maps each onto node sets (layers) and weight blocks of a
:meth:`deepcnt.LayeredGraph.from_blocks` graph (spec METRICS.md §16):

* ``Linear`` → a dense block ``weight.T`` (in, out) into a new layer; ``Conv2d`` → a :class:`ConvBlock`;
  ``MaxPool2d``/``AvgPool2d`` (and their adaptive forms where the size divides) → a :class:`PoolBlock`;
* elementwise activations, dropout, softmax, ``x + scalar``: the same nodes;
* ``flatten``/``view``/``reshape``/``Flatten``: the same units re-indexed (C-order ``c·H·W + y·W + x``);
* ``BatchNorm1d/2d`` (eval statistics): ``s = γ/√(σ²+ε)`` (``γ = 1`` without affine) multiplies the output
  columns of the block(s) feeding the layer it follows, and the layer's bias becomes ``s(b − μ) + β``
  (``fold_norm=True``); where there is no such block (the input, a pooling layer, a layer also read elsewhere)
  or with ``fold_norm=False`` it is its own layer joined by a :class:`DiagonalBlock` ``diag(s)``;
* a residual add ``a + b`` (``operator.add``, ``+=``, ``torch.add``, ``Tensor.add``): one node set fed by each
  operand's block(s). An operand whose layer is read by the add only (``bn2(conv2(...))``, a projection
  shortcut) merges into it: its blocks feed the sum directly. Any other operand (the block's input ``x``)
  joins through an identity block of weight 1. Two maps on one pair of layers are summed.

Anything else is one :class:`InputError` naming the operation and the module path. torch is imported inside
the functions.
"""
import heapq
import operator

import numpy as np

from deepcnt.errors import InputError

#: Parameter-free modules that keep the nodes (the graph holds the weights only).
SAME_MODULES = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
    "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Tanhshrink", "LogSigmoid", "Threshold",
    "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout", "Identity", "Softmax", "LogSoftmax",
)
_SAME_FUNCTIONS = (
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "selu", "celu", "gelu", "silu", "mish",
    "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid", "softplus", "softsign", "logsigmoid", "dropout",
    "softmax", "log_softmax", "contiguous", "clone", "detach",
)
_RESHAPES = ("flatten", "view", "reshape")
_ADDS = ("add", "add_", "iadd")
SUPPORTED = ("Linear, Conv2d, MaxPool2d/AvgPool2d (and adaptive), BatchNorm1d/2d, elementwise activations, "
             "dropout, flatten/view/reshape and residual adds")


class _Layer:
    """A node set under construction: per-sample ``shape``, ``name``, per-unit ``bias`` (tensor or None)."""

    def __init__(self, lid, shape, name, bias=None):
        self.id, self.shape, self.name, self.bias = lid, tuple(shape), name, bias
        self.nodes = set()  # fx nodes whose value is this layer's units

    @property
    def n(self):
        return int(np.prod(self.shape))


class _Tracer:
    """Walks a traced graph and builds layers and block specs (torch tensors until :meth:`graph`)."""

    def __init__(self, gm, batch, fold_norm):
        self.gm, self.batch, self.fold_norm = gm, batch, fold_norm
        self.modules = dict(gm.named_modules())
        self.layers = {}  # id -> _Layer (merged layers are removed)
        self.blocks = {}  # (src id, dst id) -> spec tuple ("dense", W) | ("conv", K, geom) | ("pool", b) | ("diag", d)
        self.value = {}  # fx node -> _Layer
        self.next_id = 0  # creation order (ties of the final topological order)

    # ------------------------------------------------------------------ helpers
    def where(self, node):
        stack = node.meta.get("nn_module_stack") or {}
        path = node.target if node.op == "call_module" else (list(stack)[-1] if stack else "")
        return f"{path!r}" if path else "the model's forward"

    def refuse(self, node, what, why=None):
        why = why or f"the traced graph maps {SUPPORTED}; anything else is not supported yet"
        raise InputError(f"{what} at {self.where(node)} (fx node {node.name!r}): {why}")

    def shape(self, node):
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            return None
        s = tuple(int(v) for v in meta.shape)
        if not s or s[0] != self.batch:
            what = f"module {type(self.modules[node.target]).__name__}" if node.op == "call_module" else _describe(node)
            self.refuse(node, f"{what} giving shape {s}", "the batch axis must stay first and keep its size")
        return s[1:]

    def new_layer(self, node, shape, name, bias=None):
        layer = _Layer(self.next_id, shape, name, bias)
        self.next_id += 1
        self.layers[layer.id] = layer
        self.bind(node, layer)
        return layer

    def bind(self, node, layer):
        self.value[node] = layer
        layer.nodes.add(node)

    def operand(self, node, arg):
        if arg not in self.value:
            self.refuse(node, f"{_describe(node)} reads {getattr(arg, 'name', arg)!r}, which is not a tensor the "
                        "graph holds (a parameter or buffer used directly)")
        return self.value[arg]

    def incoming(self, layer):
        return [p for p in self.blocks if p[1] == layer.id]

    def exclusive(self, layer, consumer):
        """True when ``layer`` is not the input, has incoming blocks, and ``consumer`` is its only reader."""
        if layer.id == 0 or not self.incoming(layer):
            return False
        return all(u in layer.nodes or u is consumer or _no_tensor(u) for n in layer.nodes for u in n.users)

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

    # ------------------------------------------------------------------ ops
    def run(self):
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if node.meta.get("tensor_meta") is None:
                    continue  # an argument left at its non-tensor default (mask=None)
                if self.layers:
                    self.refuse(node, "a second input", "the traced graph takes one input tensor")
                self.new_layer(node, self.shape(node), "input")
            elif node.op == "output":
                out = node.args[0]
                if out not in self.value:
                    self.refuse(node, "an output that is not one tensor", "return one tensor from forward")
                self.output = self.value[out]
            elif node.op == "get_attr":
                continue  # checked where it is read
            elif node.op == "call_module":
                self.module(node, self.modules[node.target])
            else:
                self.function(node)

    def module(self, node, mod):
        import torch.nn as nn

        x = self.operand(node, node.args[0]) if node.args else None
        kind = type(mod).__name__
        out = self.shape(node)
        if isinstance(mod, nn.Linear):
            if len(x.shape) != 1:
                self.refuse(node, f"Linear applied to a {x.shape} tensor", "flatten to (features,) before it")
            W = mod.weight.detach().T
            bias = None if mod.bias is None else mod.bias.detach().clone()
            y = self.new_layer(node, out, node.target, bias)
            self.blocks[(x.id, y.id)] = ("dense", W)
        elif isinstance(mod, nn.Conv2d):
            from .torch_conv import _padding

            if len(x.shape) != 3 or mod.padding_mode != "zeros":
                self.refuse(node, "module Conv2d", "needs (C, H, W) units and padding_mode='zeros'")
            geom = (x.shape, tuple(mod.stride), _padding(mod, x.shape[1:]), tuple(mod.dilation), mod.groups)
            bias = None
            if mod.bias is not None:
                bias = mod.bias.detach().double().repeat_interleave(out[1] * out[2])
            y = self.new_layer(node, out, node.target, bias)
            self.blocks[(x.id, y.id)] = ("conv", mod.weight.detach(), geom)
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            self.pool(node, mod, x, out)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.batchnorm(node, mod, x, out)
        elif isinstance(mod, (nn.Flatten, nn.Unflatten)):
            self.reshape(node, x, out)
        elif kind in SAME_MODULES:
            self.bind(node, x)
        else:
            self.refuse(node, f"module {kind}")

    def pool(self, node, mod, x, out):
        import torch.nn as nn

        from deepcnt.model.conv import PoolBlock

        if len(x.shape) != 3:
            self.refuse(node, f"module {type(mod).__name__}", "pooling needs (C, H, W) units")
        mode = "max" if isinstance(mod, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "avg"
        if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            (H, W), (oh, ow) = x.shape[1:], out[1:]
            if H % oh or W % ow:
                self.refuse(node, f"module {type(mod).__name__}", f"an output size {(oh, ow)} that does not divide the input "
                            f"{(H, W)} gives windows of varying size")
            k = (H // oh, W // ow)
            block = PoolBlock(mode, x.shape, k, k)
        elif mod.ceil_mode:
            self.refuse(node, f"module {type(mod).__name__}", "ceil_mode=True is not supported")
        elif mode == "max":
            block = PoolBlock("max", x.shape, mod.kernel_size, mod.stride, mod.padding, mod.dilation)
        else:
            pad = (mod.padding,) * 2 if isinstance(mod.padding, int) else tuple(mod.padding)
            if not mod.count_include_pad and max(pad) > 0:
                self.refuse(node, "module AvgPool2d", "count_include_pad=False with padding is not a convolution")
            block = PoolBlock("avg", x.shape, mod.kernel_size, mod.stride, mod.padding, divisor=mod.divisor_override)
        if tuple(block.out_shape) != tuple(out):
            self.refuse(node, f"module {type(mod).__name__}", f"gives {out}, not the {tuple(block.out_shape)} of its window")
        y = self.new_layer(node, out, node.target)
        self.blocks[(x.id, y.id)] = ("pool", block)

    def batchnorm(self, node, mod, x, out):
        import torch

        if mod.running_var is None:
            self.refuse(node, f"module {type(mod).__name__}", "track_running_stats=False: there are no statistics to fold")
        if len(x.shape) not in (1, 3):
            self.refuse(node, f"module {type(mod).__name__}", f"units of shape {x.shape} (BatchNorm1d over a length axis)")
        var, mean = mod.running_var.detach().double(), mod.running_mean.detach().double()
        s_chan = 1.0 / torch.sqrt(var + mod.eps)
        beta = torch.zeros_like(s_chan)
        if mod.weight is not None:
            s_chan = s_chan * mod.weight.detach().double()
            beta = mod.bias.detach().double()
        per = int(np.prod(x.shape[1:])) if len(x.shape) == 3 else 1
        s_unit, mean_u, beta_u = (v.repeat_interleave(per) for v in (s_chan, mean, beta))
        if self.fold_norm and self.exclusive(x, node) and all(
                self.blocks[p][0] != "pool" for p in self.incoming(x)):
            self.scale_into(x, s_unit, s_chan)
            b = torch.zeros_like(s_unit) if x.bias is None else x.bias.double()
            x.bias = s_unit * (b - mean_u) + beta_u
            self.bind(node, x)
        else:
            y = self.new_layer(node, out, node.target, beta_u - s_unit * mean_u)
            self.blocks[(x.id, y.id)] = ("diag", s_unit)

    def reshape(self, node, x, out):
        if int(np.prod(out)) != x.n:
            self.refuse(node, _describe(node), f"turns {x.shape} into {out}: the units must stay per sample")
        x.shape = out  # the same units, C-order: later operations see the new shape
        self.bind(node, x)

    def function(self, node):
        name = getattr(node.target, "__name__", str(node.target)) if node.op == "call_function" else node.target
        if node.op == "call_function" and node.target is getattr:
            return
        out = self.shape(node)
        if out is None:  # a non-tensor value (x.size(0), x.shape): used as an argument only
            if name in ("size", "dim", "getitem"):
                return
            self.refuse(node, _describe(node))
        tensors = [a for a in node.args if hasattr(a, "op")] + [a for a in node.kwargs.values() if hasattr(a, "op")]
        tensors = [a for a in tensors if a.meta.get("tensor_meta") is not None]
        if name in _ADDS or node.target in (operator.add, operator.iadd):
            if node.kwargs.get("alpha", 1) != 1:
                self.refuse(node, _describe(node), "torch.add with alpha != 1 is not supported")
            if len(tensors) == 1:
                self.bind(node, self.operand(node, tensors[0]))  # x + scalar: a bias shift
            else:
                self.residual(node, [self.operand(node, a) for a in tensors], out)
        elif name in _RESHAPES:
            self.reshape(node, self.operand(node, node.args[0]), out)
        elif name in _SAME_FUNCTIONS and len(tensors) == 1:
            x = self.operand(node, tensors[0])
            if x.shape != out:
                self.refuse(node, _describe(node), f"changes the shape {x.shape} to {out}")
            self.bind(node, x)
        else:
            self.refuse(node, _describe(node))

    def residual(self, node, xs, out):
        if any(x.shape != out for x in xs):
            self.refuse(node, "a residual add", f"operands of shapes {[x.shape for x in xs]} broadcast; "
                        "residual adds need operands of one shape")
        ids = [x.id for x in xs]
        fresh = [x for x in xs if ids.count(x.id) == 1 and self.exclusive(x, node)]
        name = _path(node) + "add"
        if any(layer.name == name for layer in self.layers.values()):
            name = _path(node) + node.name
        if fresh:
            y = fresh[0]
            for other in fresh[1:]:  # its blocks feed the sum directly
                for p in self.incoming(other):
                    self.put((p[0], y.id), self.blocks.pop(p), node)
                if other.bias is not None:
                    y.bias = other.bias.double() if y.bias is None else y.bias.double() + other.bias.double()
                for n in other.nodes:
                    self.value[n] = y
                y.nodes |= other.nodes
                del self.layers[other.id]
            y.name = name
            self.bind(node, y)
        else:
            y = self.new_layer(node, out, name)
        for x in xs:
            if not any(x is f for f in fresh):
                self.put((x.id, y.id), ("identity", None), node)

    # ------------------------------------------------------------------ result
    def graph(self, device):
        from deepcnt.model.conv import ConvBlock
        from deepcnt.model.diagonal import DiagonalBlock
        from deepcnt.model.graph import LayeredGraph

        from .tensors import to_array as _to_array

        order = _topological(list(self.layers), list(self.blocks))
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
                  if layer.bias is not None}
        names = [self.layers[lid].name for lid in order]
        return LayeredGraph.from_blocks(sizes, blocks, biases=biases or None, layer_names=names)


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
    """Layer ids in a topological order of the blocks, ties broken by creation order."""
    indeg = {lid: 0 for lid in layers}
    out = {lid: [] for lid in layers}
    for a, b in pairs:
        indeg[b] += 1
        out[a].append(b)
    ready = [lid for lid in layers if indeg[lid] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        lid = heapq.heappop(ready)
        order.append(lid)
        for b in out[lid]:
            indeg[b] -= 1
            if indeg[b] == 0:
                heapq.heappush(ready, b)
    return order


def _no_tensor(node):
    """A node whose value is no tensor (``x.size(0)``, ``x.shape``): it reads a layer's shape, not its units."""
    return node.op not in ("output", "placeholder") and node.meta.get("tensor_meta") is None


def _path(node):
    stack = node.meta.get("nn_module_stack") or {}
    return f"{list(stack)[-1]}." if stack else ""


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
    order other than the registration's is named. ``None`` also when fx cannot trace the forward: the
    registration order is then all there is to read.
    """
    import torch.fx as fx
    import torch.nn as nn

    kinds = (nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    if not isinstance(model, nn.Module):
        return None  # refused by the reader
    try:
        gm = fx.symbolic_trace(model)
    except Exception:
        return None
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


def trace_module(model, example_input, fold_norm=True, device=None):
    """The block-DAG graph of ``model``'s real forward, traced with ``torch.fx`` on ``example_input``.

    Parameters
    ----------
    model : torch.nn.Module
        Linear, Conv2d, pooling, BatchNorm1d/2d, elementwise activations, dropout, flatten/reshape and
        residual adds (see the module docstring for the mapping), wired in any order by its ``forward``.
    example_input : torch.Tensor, shape (B, ...)
        A batch of inputs (any ``B >= 1``; zeros will do): the per-sample shape fixes the units. The model runs
        once on it in eval mode without gradients; its training flags and statistics are left as they were.
    fold_norm : bool
        ``True``: a BatchNorm's ``γ/√(σ²+ε)`` multiplies the output columns of the block(s) it follows.
        ``False``: every BatchNorm is its own layer joined by a diagonal block.
    device : {None, "cpu", "gpu"}
        As in :func:`deepcnt.bindings.torch.from_module`.

    Returns
    -------
    LayeredGraph
        Layers in a topological order, ``"input"`` first, named after the module (or the add) that makes them;
        biases per unit (folded with the BatchNorms) where any layer has one.

    Raises
    ------
    InputError
        A model fx cannot trace; an operation outside the mapping (named, with its module path); an input that
        is not one batch tensor.

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
    from torch.fx.passes.shape_prop import ShapeProp

    if not isinstance(model, torch.nn.Module):
        raise InputError(f"trace_module needs a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor) or example_input.ndim < 2 or example_input.shape[0] < 1:
        raise InputError("example_input must be one tensor holding a batch of inputs, shape (B, ...) with B >= 1, "
                         f"got {getattr(example_input, 'shape', type(example_input).__name__)}")
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:
        raise InputError(f"torch.fx cannot trace {type(model).__name__}'s forward "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}): deepcnt needs a forward "
                         "without data-dependent control flow") from None
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            ShapeProp(gm).propagate(example_input.to(next(model.parameters(), example_input).device))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{type(model).__name__} does not run on example_input of shape "
                         f"{tuple(example_input.shape)} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
                         ) from None
    finally:
        for m, training in modes:
            m.training = training
    with torch.no_grad():
        t = _Tracer(gm, int(example_input.shape[0]), fold_norm)
        t.run()
        return t.graph(device)
