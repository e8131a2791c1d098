"""The normalisations, reductions and pooling of the traced walk (part of :mod:`deepcnt.bindings.trace`):
BatchNorm folded, LayerNorm, GroupNorm and RMSNorm pending on their units, a pending scale made its own layer;
reductions: a mean over positions that hold one unit, a normalisation's statistic over a position's units
(``x − μ``, ``x·rsqrt(mean(x²) + ε)``), a mean over a layer's H and W; pooling modules and functions.
:class:`_NormOperations` is a mixin of :class:`deepcnt.bindings.trace_ops._Operations`; the mapping is described
in :mod:`deepcnt.bindings.trace`.
"""
import numpy as np

from .trace_values import (_BIG, _CONST, _LINEAR_SAME, _NONLINEAR, _REINDEX, _STATISTICS, _Stat, _Units, _arange_like,
                           _describe, _expand, _path, _scaled)


class _NormOperations:
    """The methods that map normalisations, reductions and pooling (mixed into :class:`_Operations`)."""

    def pool(self, node, mod, x, out, what=None):
        """A pooling module (or one made from a pooling function's arguments) on one layer's (C, H, W) units:
        a pooling block into a new layer of the window's output shape, laid out as ``out`` (a global pool's
        ``(C, 1, 1)`` may be read as ``(C,)``)."""
        import torch
        import torch.nn as nn

        from deepcnt.model.conv import PoolBlock

        what = what or f"module {type(mod).__name__}"
        mode = "max" if isinstance(mod, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "avg"
        value = getattr(x, "border", 0.0)
        x, border = self.unpad(node, x, 2) if x.key.ndim == 4 else (x, ((0, 0), (0, 0)))  # a padding before
        padded = any(map(any, border))
        if padded and (mode == "avg" and value != 0 or isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))
                       or mod.ceil_mode):
            self.refuse(node, what, f"a padding of {value} before it is not its window's padding")
        L, x = self.whole(node, x, what, "pooling needs one layer's (C, H, W) units")
        if len(L.shape) != 3:
            self.refuse(node, what, "pooling needs (C, H, W) units")
        if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            (H, W), size = L.shape[1:], mod.output_size
            oh, ow = (size, size) if isinstance(size, int) else (a or b for a, b in zip(size, (H, W)))
            if H % oh or W % ow:
                self.refuse(node, what, f"an output size {(oh, ow)} that does not divide the input "
                            f"{(H, W)} gives windows of varying size")
            k = (H // oh, W // ow)
            block = PoolBlock(mode, L.shape, k, k)
        elif mod.ceil_mode:
            pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
            (H, W), k = L.shape[1:], pair(mod.kernel_size)
            covers = k[0] >= H and k[1] >= W and not any(pair(mod.padding))
            plain = mod.divisor_override is None if mode == "avg" else pair(mod.dilation) == (1, 1)
            if not (covers and plain):
                self.refuse(node, what, "ceil_mode=True is supported only for one window over the whole map")
            block = PoolBlock(mode, L.shape, (H, W), (H, W))  # EfficientNet's pooler: a global pool
        else:
            pad = (mod.padding,) * 2 if isinstance(mod.padding, int) else tuple(mod.padding)
            if mode == "avg" and not mod.count_include_pad and max(pad) > 0:
                self.refuse(node, "module AvgPool2d", "count_include_pad=False with padding is not a convolution")
            pad = tuple((a + p, b + p) for (a, b), p in zip(border, pad))  # the padding before it adds to its own
            if mode == "max":
                block = PoolBlock("max", L.shape, mod.kernel_size, mod.stride, pad, mod.dilation)
            else:
                block = PoolBlock("avg", L.shape, mod.kernel_size, mod.stride, pad, divisor=mod.divisor_override)
        shape = tuple(block.out_shape)
        if shape != tuple(out) and not (shape[1:] == (1, 1) and tuple(out) == shape[:1]):
            self.refuse(node, what, f"gives {out}, not the {shape} of its window")
        y = self.new_layer(shape, node.target if isinstance(node.target, str) else _path(node, self.prefix) + node.name)
        self.blocks[(L.id, y.id)] = ("pool", block)
        e = self.env[node]
        e = e[0] if isinstance(e, (tuple, list)) else e
        shape = (e.shape[0],) + tuple(out)  # the value's, or (pooling one layer of a concatenation) its slice's
        key = (y.id * _BIG + torch.arange(y.n, dtype=torch.int64)).reshape(tuple(out))
        self.bind(node, _Units(key.expand(shape).contiguous(), _arange_like(torch.zeros(shape, dtype=torch.int64))))

    def pool_function(self, node, op, e):
        """``max_pool2d``/``avg_pool2d``/their adaptive forms called as functions (torch.export writes every
        pooling module so): the module of the same arguments."""
        import torch.nn as nn

        x = self.operand(node, node.args[0])
        if op.startswith("adaptive"):
            a = self.args(node, "input output_size")
            mod = (nn.AdaptiveMaxPool2d if "max" in op else nn.AdaptiveAvgPool2d)(a["output_size"])
        elif "max" in op:
            a = self.args(node, "input kernel_size stride padding dilation ceil_mode", stride=None, padding=0,
                          dilation=1, ceil_mode=False)
            mod = nn.MaxPool2d(a["kernel_size"], a["stride"] or None, a["padding"], a["dilation"],
                               ceil_mode=a["ceil_mode"])
        else:
            a = self.args(node, "input kernel_size stride padding ceil_mode count_include_pad divisor_override",
                          stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None)
            mod = nn.AvgPool2d(a["kernel_size"], a["stride"] or None, a["padding"], a["ceil_mode"],
                               a["count_include_pad"], a["divisor_override"])
        self.pool(node, mod, x, tuple(e.shape[1:]), what=_describe(node))

    def batchnorm(self, node, x, gamma, beta, mean, var, eps, kind):
        import torch

        what = f"module {kind}" if node.op == "call_module" else _describe(node)
        shared = self.shared_layer(x) if self.tokens and not x.pending else None  # token mode: units = channels
        if shared is None and not self.tokens and len(self.layer_ids(x)) > 1:
            parts = self.concat_parts(x)
            if parts is not None:
                return self.batchnorm_parts(node, x, parts, gamma, beta, mean, var, eps, kind)
        why = "a BatchNorm reads one layer's units, whole and in order"
        L, x = (shared, x) if shared is not None else self.whole(node, x, what, why)
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
            e = x.key  # the shape of what is normalised (one layer of a concatenation: its slice)
            if shared is not None:  # the new units along the channel axis, alike at every position
                key = (y.id * _BIG + torch.arange(y.n)).reshape((1, -1) + (1,) * (e.ndim - 2)).expand(e.shape)
                return self.bind(node, _Units(key.contiguous(), x.sample))
            self.bind(node, self.units(y, e.shape, x.sample))

    def batchnorm_parts(self, node, x, parts, gamma, beta, mean, var, eps, kind):
        """A BatchNorm of a concatenation of layers along the channels (DenseNet): each layer's slice of the
        channels normalised as a BatchNorm of that layer alone (folded where it can be), the result the
        concatenation of what each gives."""
        import torch

        C = sum(c1 - c0 for _, c0, c1 in parts)
        gamma = torch.ones(C, dtype=torch.float64) if gamma is None else gamma
        beta = torch.zeros(C, dtype=torch.float64) if beta is None else beta
        keys = []
        for L, c0, c1 in parts:  # each binds its normalised units to node: collected, then bound together
            self.batchnorm(node, self.channels(x, c0, c1), gamma[c0:c1], beta[c0:c1], mean[c0:c1], var[c0:c1], eps,
                           kind)
            keys.append(self.value[node].key)
        self.bind(node, _Units(torch.cat(keys, 1), x.sample, act=x.act))

    def norm(self, node, x, gamma, beta, n_axes, name):
        """LayerNorm (over the last ``n_axes``) or GroupNorm (``n_axes=None``, per channel): γ and β pending."""

        x = _without_constant_factor(x)
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
        y.materialised = True  # dropped at the end if nothing reads it (graph: a statistic's operand only)
        self.put((L.id, y.id), ("diag", d) if x.scale is not None else ("identity", None), node)
        key = torch.as_tensor(self.canon(x.key))
        key = torch.where(key >= 0, y.id * _BIG + key % _BIG, key)
        return _Units(key, x.sample)

    def reduce(self, node, op, e):
        """A mean or sum over axes that hold one unit (positions of a token model): the same units; over the
        axis of a position's units, kept as an axis (``keepdim``): a normalisation's statistic (:class:`_Stat`)."""
        x = self.operand(node, node.args[0])
        k = x.key
        keep = e.ndim == k.ndim
        if keep:  # the reduced axes: those of length 1 here and not in the input
            dims = [d for d in range(k.ndim) if e.shape[d] == 1 and k.shape[d] > 1]
        else:
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            if dims is None or op not in ("mean", "sum"):
                self.refuse(node, _describe(node), "a reduction over all units")
            dims = [dims] if isinstance(dims, int) else list(dims)
        same = all(bool((k == k.amax(d, keepdim=True)).all()) for d in dims)
        if not same and op == "mean" and sorted(d % k.ndim for d in dims) == [2, 3] and k.ndim == 4:
            import torch
            import torch.nn as nn

            lids = self.layer_ids(x)  # a mean over the (H, W) of one layer's (C, H, W) units: global average pooling
            if len(lids) == 1 and self.layers[lids[0]].shape == tuple(k.shape[1:]):
                return self.pool(node, nn.AdaptiveAvgPool2d(1), x, tuple(e.shape[1:]), what=_describe(node))
            parts = self.concat_parts(x)  # of a concatenation (DenseNet's last features): each layer pooled
            if parts is not None:
                keys = []
                for L, c0, c1 in parts:
                    self.pool(node, nn.AdaptiveAvgPool2d(1), self.channels(x, c0, c1), (c1 - c0,) + tuple(e.shape[2:]),
                              what=_describe(node))
                    keys.append(self.value[node].key)
                batch = _arange_like(torch.zeros(e.shape, dtype=torch.int64))
                return self.bind(node, _Units(torch.cat(keys, 1), batch))
        if not same or op not in ("mean", "sum"):
            if keep:
                self.value[node] = [_Stat(), _Stat()] if op == "var_mean" else _Stat()
                return
            self.refuse(node, _describe(node), "it reduces over axes that hold different units (use a pooling layer)")
        n = int(np.prod([k.shape[d] for d in dims]))
        red = lambda t: None if t is None else t.amax(tuple(dims), keepdim=keep).contiguous()
        y = _Units(red(k), red(x.sample), red(x.scale), red(x.shift), x.act)
        self.bind(node, _scaled(y, float(n)) if op == "sum" else y)

    def statistic(self, node, op, e, units):
        """An operation on a normalisation's statistic (:class:`_Stat`). Of the statistic alone (``+ ε``,
        ``rsqrt``, a re-index, a constant factor) it stays one. Units shifted or scaled by it (``x − μ``,
        ``x · rsqrt(σ² + ε)``, ``x / σ``) are the same units, normalised: the normalisation itself depends on the
        input and has no weights, as in a LayerNorm (a pending factor of the units becomes its own layer first).
        Anything else (a block reading the statistic, a gate made of it) is refused."""
        if not units:
            if op in _NONLINEAR or op in _LINEAR_SAME or op in _REINDEX or op in _STATISTICS or op in (
                    "add", "sub", "rsub", "mul", "div", "truediv", "neg", "iadd", "isub", "imul", "itruediv"):
                self.value[node] = _Stat()
                return
            self.refuse(node, f"{_describe(node)} reads a statistic of a position's features",
                        "such a mean or sum is no unit of the graph (a pooling layer makes units)")
        vals = [self.value.get(a, _CONST) if hasattr(a, "op") else _CONST for a in node.args[:2]]
        vals = [_without_constant_factor(v) for v in vals]
        kinds = [type(v) for v in vals]
        if kinds in ([_Units, _Stat], [_Stat, _Units]) and op in ("add", "sub", "mul", "iadd", "isub", "imul") or (
                kinds == [_Units, _Stat] and op in ("div", "truediv", "itruediv")):
            x = vals[kinds.index(_Units)]
            if x.pending:
                x = self.materialise(node, x, _path(node, self.prefix) + node.name + ".input")
            x = _expand(x, e.shape)
            return self.bind(node, _Units(x.key, x.sample))
        self.refuse(node, f"{_describe(node)} combines units with a statistic of a position's features",
                    "a normalisation subtracts it from, or divides by it, the units it was taken of")


def _without_constant_factor(x):
    """``x`` without a pending factor that is one positive number for every unit (Gemma's ``√d`` on its
    embeddings): a normalisation over the units cancels it, so it needs no layer of its own."""
    if not isinstance(x, _Units) or x.scale is None or x.shift is not None:
        return x
    valid = x.key >= 0
    s = x.scale[valid]
    if s.numel() and bool((s == s.flatten()[0]).all()) and float(s.flatten()[0]) > 0:
        return _Units(x.key, x.sample, act=x.act)
    return x
