"""The convolutions of the traced walk (part of :mod:`deepcnt.bindings.trace`): ``Conv1d``/``Conv2d`` and their
transposed forms as :class:`~deepcnt.model.conv.ConvBlock` s, a zero padding read by the convolution that follows
it, and a convolution over a concatenation of layers along the channels (a U-Net's skip) as one block from each.
:class:`_ConvOperations` is a mixin of :class:`deepcnt.bindings.trace_ops._Operations`; the mapping is described
in :mod:`deepcnt.bindings.trace`.
"""
import numpy as np

from .torch_conv import _padding
from .trace_values import _BIG, _Units, _arange_like, _call, _describe, _opname, _path


class _ConvOperations:
    """The methods that map convolutions and paddings (mixed into :class:`_Operations`)."""

    def conv(self, node, x, K, b, stride, padding, dilation, groups, name, what, output_padding=None):
        """Conv2d, or Conv1d as the ``(C, 1, L)`` convolution of the kernel ``(C_out, C_in/g, 1, k)``; with an
        ``output_padding`` (not None), a transposed convolution (kernel ``(C_in, C_out/g, k...)``)."""
        import torch

        one = K.ndim == 3
        K = K.detach().unsqueeze(2) if one else K.detach()
        pair = lambda v: (int(v),) * 2 if isinstance(v, int) else tuple(int(u) for u in v) * (2 if len(v) == 1 else 1)
        st, dil = ((1, pair(v)[0]) if one else pair(v) for v in (stride, dilation))
        if isinstance(padding, str):
            pad = _padding(type("Geometry", (), {"padding": padding, "kernel_size": tuple(K.shape[2:]),
                                                 "dilation": dil})(), None)
        else:
            pad = (0, pair(padding)[0]) if one else pair(padding)
        pad = tuple((p, p) if isinstance(p, int) else p for p in pad)  # ((top, bottom), (left, right))
        value = getattr(x, "border", 0.0)
        x, border = self.unpad(node, x, 1 if one else 2)  # a zero padding before the convolution adds to its own
        if output_padding is not None and any(map(any, border)):
            self.refuse(node, what, "a zero padding before a transposed convolution is not its padding")
        if value != 0 and any(map(any, border)):
            self.refuse(node, what, f"a padding of {value} before a convolution adds a constant, not a zero")
        pad = tuple((a + p, b + q) for (a, b), (p, q) in zip(border, pad))
        e = self.env[node]
        batch = _arange_like(torch.zeros(e.shape, dtype=torch.int64))
        kh, kw = K.shape[2:]
        lids = self.layer_ids(x)
        if (output_padding is None and self.tokens and not one and st == (kh, kw) and pad == ((0, 0), (0, 0))
                and dil == (1, 1) and groups == 1
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
        if self.tokens and output_padding is None and self.token_conv(node, x, K, b, lids, groups, name):
            return
        need = 2 if one else 3
        if x.key.ndim - 1 != need:
            self.refuse(node, f"{what} applied to a {tuple(x.key.shape[1:])} tensor", f"it needs {need}-axis units")
        parts = self.channel_parts(node, x, what, int(groups))
        out = tuple(e.shape[1:])
        bias = None if b is None else b.detach().double().repeat_interleave(int(np.prod(out[1:])))
        y = self.new_layer(out, name, bias)
        for L, c0, c1 in parts:  # one layer, or each layer of a concatenation along the channels
            in_shape = (L.shape[0], 1, L.shape[1]) if one else L.shape
            geom = (in_shape, st, pad, dil, int(groups))
            if output_padding is not None:  # the rows a transposed convolution adds at the end (or output_size's)
                made = [(n - 1) * s_ - 2 * p[0] + d * (k - 1) + 1 for n, s_, p, d, k in
                        zip(in_shape[1:], st, pad, dil, (kh, kw))]
                geom += (tuple(o - m for o, m in zip(((1,) if one else ()) + out[1:], made)),)
            part = K if len(parts) == 1 else K[c0:c1] if output_padding is not None else K[:, c0:c1]
            self.put((L.id, y.id), ("conv", part, geom), node)
        self.bind(node, self.units(y, e.shape, batch))

    def token_conv(self, node, x, K, b, lids, groups, name):
        """A convolution in token mode (a position's units are its features), where it is not a patch
        embedding: on the input, one window's pixel slots ``(C, k_h, k_w)`` are the units of a position (as a
        patch's pixels are; Whisper, wav2vec2, SegFormer), the kernel a dense block from them; on units that
        every position holds alike (a stride over tokens, SegFormer's depthwise Mix-FFN), each tap reads the
        same units, so the taps add up: the block ``Σ_{k} K[:, :, k]`` (block-diagonal by groups). Binds the
        output and returns True, or returns False where neither applies."""
        import torch

        e = self.env[node]
        C_out = K.shape[0]
        if len(lids) == 1 and not self.incoming(self.layers[lids[0]]) and not x.pending:
            L = self.layers[lids[0]]
            held = self.canon(x.key).reshape(x.key.shape[0], -1)  # its units in order (raw audio: (L,) as (1, L))
            if groups != 1 or not self.sole_reader(node) or held.shape[1] != L.n or not (
                    held == (L.id << 32) + np.arange(L.n)).all():
                return False
            new = self.new_layer((K.shape[1],) + tuple(K.shape[2:]), L.name, order=L.order)
            self.retire(L, new, np.zeros(L.n, dtype=np.int64))  # nothing else reads the pixels
            W = K.reshape(C_out, -1).T
            parts = [(new, 0, new.n)]
        else:
            parts = self.shared_parts(x)  # one layer, or a concatenation along the channels (MobileViT's fusion)
            if parts is not None and x.pending:  # the pending factor becomes its own layer, read in its place
                x = self.materialise(node, x, _path(node, self.prefix) + "scale")
                parts = self.shared_parts(x)
            if parts is None or (groups > 1 and len(parts) > 1):
                return False
            taps = K.sum(dim=tuple(range(2, K.ndim)))  # (C_out, C_in / groups)
            cin_g, cout_g = taps.shape[1], C_out // groups
            W = torch.zeros((cin_g * groups, C_out), dtype=K.dtype)
            for g in range(groups):
                W[g * cin_g:(g + 1) * cin_g, g * cout_g:(g + 1) * cout_g] = taps[g * cout_g:(g + 1) * cout_g].T
        y = self.new_layer((C_out,), name, None if b is None else b.detach().double().clone())
        for src, c0, c1 in parts:
            self.put((src.id, y.id), ("dense", W[c0:c1]), node)
        key = (y.id * _BIG + torch.arange(C_out)).reshape((1, -1) + (1,) * (e.ndim - 2)).expand(e.shape)
        self.bind(node, _Units(key.contiguous(), _arange_like(torch.zeros(e.shape, dtype=torch.int64))))
        return True

    def shared_parts(self, x):
        """``[(layer, c0, c1)]``: the layers whose units ``x`` holds along its channel axis (1), each whole and in
        order as channels ``c0:c1``, alike at every position of the axes after it and in every row before it
        (token mode); None where it holds anything else."""
        if x.key.ndim < 2:
            return None
        key = self.canon(x.key)
        flat = key.reshape(key.shape[0], key.shape[1], -1)
        if (key < 0).any() or not (flat == flat[:1, :, :1]).all():
            return None
        first = flat[0, :, 0]
        parts = self.owner_runs(first >> 32)
        if any(L.n != c1 - c0 or not (first[c0:c1] == (L.id << 32) + np.arange(L.n)).all() for L, c0, c1 in parts):
            return None
        return parts if len({L.id for L, _, _ in parts}) == len(parts) else None

    def owner_runs(self, owner):
        """``[(layer, c0, c1)]``: the runs of channels ``c0:c1`` that one layer owns (``owner``: a layer id per
        channel)."""
        starts = [0] + [c for c in range(1, len(owner)) if owner[c] != owner[c - 1]] + [len(owner)]
        return [(self.layers[int(owner[c0])], c0, c1) for c0, c1 in zip(starts, starts[1:])]

    def shared_layer(self, x):
        """The one layer of :meth:`shared_parts`, or None."""
        parts = self.shared_parts(x)
        return parts[0][0] if parts and len(parts) == 1 else None

    def sole_reader(self, node):
        """Whether ``node`` is the only reader of the model's input (through operations with one reader each)."""
        def reads_units(u):  # torch.export's guard function, or a look at the shape, reads no unit
            if u.op == "call_module":
                return "guards" not in str(u.target)
            return not (u.target is getattr or _opname(u) in ("size", "dim", "sym_size", "sym_numel"))

        def readers(n):
            return [u for u in n.users if reads_units(u)]

        prev = node.args[0]
        while hasattr(prev, "op") and len(readers(prev)) == 1:
            if prev.op == "placeholder":
                return True
            ins = [a for a in prev.all_input_nodes if a.op != "get_attr"]
            if len(ins) != 1:
                return False
            prev = ins[0]
        return False

    def channel_parts(self, node, x, what, groups):
        """``[(layer, c0, c1)]``: the layers whose units ``x`` holds, each whole and in order, as channels
        ``c0:c1`` of ``x`` (one layer, or a concatenation along the channels); refused otherwise."""
        why = "convolutions read one layer's (C, H, W) units, or a concatenation of layers along the channels"
        bad = f"{what} on units that are not one layer's, whole and in order"
        lids = self.layer_ids(x)
        if len(lids) == 1 or x.pending:
            L, _ = self.whole(node, x, bad, why)
            return [(L, 0, L.shape[0])]
        parts = self.concat_parts(x, distinct=False)
        if parts is None:
            self.refuse(node, bad, why)
        if len({L.id for L, _, _ in parts}) < len(parts):
            self.refuse(node, f"{what} on a concatenation that holds one layer twice", why)
        if groups > 1:
            self.refuse(node, f"a grouped {what} on a concatenation of layers", why)
        return parts

    def concat_parts(self, x, distinct=True):
        """``[(layer, c0, c1)]`` where ``x`` (no pending map) holds layers' units whole and in order as channels
        ``c0:c1`` (a concatenation along the channels, one sample per batch row; with ``distinct``, each layer
        once), else None."""
        key = self.canon(x.key)  # (B, C, ...)
        if x.pending or key.ndim < 3 or (key < 0).any():
            return None
        B, C = key.shape[:2]
        per_channel = key.reshape(B, C, -1) >> 32
        if not (per_channel == per_channel[:1, :, :1]).all():
            return None
        parts = self.owner_runs(per_channel[0, :, 0])
        for L, c0, c1 in parts:
            held = key[:, c0:c1].reshape(B, -1)
            if L.shape[0] != c1 - c0 or held.shape[1] != L.n or not (held == (L.id << 32) + np.arange(L.n)).all():
                return None
        return None if distinct and len({L.id for L, _, _ in parts}) < len(parts) else parts

    @staticmethod
    def channels(x, c0, c1):
        """Channels ``c0:c1`` of the units ``x`` (one layer of a concatenation)."""
        return _Units(x.key[:, c0:c1].contiguous(), x.sample[:, c0:c1].contiguous(), act=x.act)

    def upsample(self, node, x, what):
        """Nearest-neighbour up-sampling of one layer's (C, H, W) units by integer factors (``nn.Upsample``,
        ``F.interpolate``): a :class:`~deepcnt.model.conv.PoolBlock` ``"nearest"`` into a new layer, after
        checking on an index map that the operation copies unit ``(c, y, x)`` to its ``s_h × s_w`` positions."""
        import torch

        from deepcnt.model.conv import PoolBlock

        e = self.env[node]
        if self.tokens and self.shared_parts(x) is not None:  # every position holds the same units: it keeps them
            if x.pending:
                x = self.materialise(node, x, _path(node, self.prefix) + "scale")
            key = self.canon(x.key).reshape(x.key.shape[0], x.key.shape[1], -1)[:, :, :1]
            key = torch.as_tensor(key).reshape(key.shape[:2] + (1,) * (e.ndim - 2)).expand(e.shape)
            return self.bind(node, _Units(key.contiguous(), _arange_like(torch.zeros(e.shape, dtype=torch.int64)),
                                          act=x.act))
        L, x = self.whole(node, x, what, "up-sampling reads one layer's (C, H, W) units")
        out = tuple(e.shape[1:])
        if len(L.shape) != 3 or len(out) != 3 or out[1] % L.shape[1] or out[2] % L.shape[2]:
            self.refuse(node, what, f"only up-sampling (C, H, W) units by integer factors maps to the graph, "
                        f"here {L.shape} to {out}")
        factor = (out[1] // L.shape[1], out[2] // L.shape[2])
        index = torch.arange(L.n, dtype=torch.float64).reshape((1,) + L.shape)
        args = [index] + [self.env.get(a, a) if hasattr(a, "op") else a for a in node.args[1:]]
        kwargs = {k: self.env.get(a, a) if hasattr(a, "op") else a for k, a in node.kwargs.items()}
        want = index.repeat_interleave(factor[0], 2).repeat_interleave(factor[1], 3)
        try:
            ok = bool(torch.equal(_call(node, args, kwargs, self.modules), want))
        except Exception:  # an integer-index map the operation does not take: not a copy of units
            ok = False
        if not ok:
            self.refuse(node, what, "only nearest-neighbour up-sampling copies units (bilinear and bicubic mix them)")
        block = PoolBlock("nearest", L.shape, factor)
        y = self.new_layer(out, node.target if isinstance(node.target, str) else _path(node, self.prefix) + node.name)
        self.blocks[(L.id, y.id)] = ("pool", block)
        self.bind(node, self.units(y, e.shape, _arange_like(torch.zeros(e.shape, dtype=torch.int64))))

    def pad(self, node, x, pads, value, mode="constant"):
        """A constant padding of the last axes (``F.pad``'s ``(left, right, top, bottom)``; ``nn.ZeroPad2d``):
        the units laid in a border of constant positions (key ``-1``), the value kept (``border``). A
        convolution (value 0) or a pooling (0, or −inf for max pooling) reads the border as its own padding
        (:meth:`unpad`); a padding adds no edge."""
        import torch

        pads = [int(p) for p in pads or ()]
        what = _describe(node) if node.op != "call_module" else f"module {type(self.modules[node.target]).__name__}"
        value = 0.0 if value is None else float(value)
        if mode != "constant" or value not in (0.0, float("-inf")) or min(pads, default=0) < 0 or len(pads) > 4:
            self.refuse(node, what, "only a constant padding (0, or -inf before max pooling; no cropping) of the last "
                        f"one or two axes maps to the graph; this one has mode={mode!r}, value={value!r}, pad={pads}")
        if x.pending:
            x = self.materialise(node, x, _path(node, self.prefix) + "scale")
        e = self.env[node]
        key = torch.nn.functional.pad(x.key, pads, value=-1)
        y = _Units(key, _arange_like(torch.zeros(e.shape, dtype=torch.int64)), act=x.act)
        y.border = value
        self.bind(node, y)

    def unpad(self, node, x, n_axes):
        """``x`` without the border of constant positions around its last ``n_axes`` axes, and the border's widths
        ``((top, bottom), (left, right))`` (one axis: ``((0, 0), (left, right))``); no border: ``x`` and zeros.
        A border must be whole rows or columns of constant positions, in every sample and channel."""
        widths = []
        for ax in range(x.key.ndim - n_axes, x.key.ndim):
            other = tuple(a for a in range(x.key.ndim) if a != ax)
            unit, const = (x.key >= 0).any(other), (x.key < 0).all(other)
            inside = np.flatnonzero(unit.numpy())
            if not inside.size or not bool((unit | const).all()) or inside[-1] - inside[0] + 1 != inside.size:
                return x, ((0, 0), (0, 0))  # constant positions that are no border: whole() decides
            widths.append((int(inside[0]), int(unit.numel() - 1 - inside[-1])))
        if not any(map(any, widths)):
            return x, ((0, 0), (0, 0))
        box = (Ellipsis,) + tuple(slice(a, n - b) for (a, b), n in zip(widths, x.key.shape[-n_axes:]))
        x = _Units(x.key[box].contiguous(), x.sample[box].contiguous(), act=x.act)
        return x, tuple(widths) if n_axes == 2 else ((0, 0),) + tuple(widths)

