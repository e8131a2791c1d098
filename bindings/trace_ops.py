"""The operations of the traced walk: one method per kind of operation (part of :mod:`deepcnt.bindings.trace`).

:class:`_Operations` is a mixin of :class:`deepcnt.bindings.trace_walk._Tracer`: dense blocks (``Linear``,
``F.linear``) and the rows they read, convolutions, re-indexing and ``split``, attention
(``q @ kᵀ … @ v``, ``MultiheadAttention``), rotary embeddings, ``Embedding``, ``+``, ``×`` (gated units) and
residual adds; the normalisations, reductions and pooling are in :mod:`deepcnt.bindings.trace_norms`, the
convolutions and paddings in :mod:`deepcnt.bindings.trace_conv`. The mapping itself
is described in the docstring of :mod:`deepcnt.bindings.trace`. The bookkeeping the methods use
(``self.layers``, ``self.blocks``, ``new_layer``, ``bind``, ``refuse`` ...) is in
:class:`~deepcnt.bindings.trace_walk._Tracer`.
"""
import numpy as np

from .trace_conv import _ConvOperations
from .trace_norms import _NormOperations
from .trace_values import (_BIG, _CONST, _Ids, _Mix, _Units, _arange_like, _call, _describe, _expand, _field, _map,
                           _opname, _path, _scaled)


class _Operations(_NormOperations, _ConvOperations):
    """The methods that map one operation each onto layers and block specs (mixed into :class:`_Tracer`)."""

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
        if not self.tokens and x.key.ndim == 4:
            y = self.pointwise(node, x, W, b, name, out_shape)
            if y is not None:
                return y
        r, s, sh, rows = self.rows(node, x, what)
        Wd = W.detach()
        bias = None if b is None else b.detach().double().clone()
        W64 = Wd.double() if sh is not None or s is not None else None  # one conversion for both folds
        if sh is not None:
            bias = (0 if bias is None else bias) + sh @ W64
        if s is not None:  # γ folded (in float64, the block kept in the model's precision)
            Wd = (W64 * s[:, None]).to(W.dtype)
        y = self.new_layer((d_out,), name, bias)
        lid, uid = r // _BIG, r % _BIG
        for L in np.unique(lid):
            m = lid == L
            if m.all() and self.layers[int(L)].n == d_in and np.array_equal(uid, np.arange(d_in)):
                M = Wd
            else:
                M = torch.zeros((self.layers[int(L)].n, d_out), dtype=torch.float64)
                M.index_add_(0, torch.as_tensor(uid[m]), Wd[torch.as_tensor(np.flatnonzero(m))].double())
                M = M.to(W.dtype)
            self.put((int(L), y.id), ("dense", M), node)
        sample = rows.reshape(tuple(x.key.shape[:-1]) + (1,))
        return self.units(y, tuple(out_shape), sample)

    def pointwise(self, node, x, W, b, name, out_shape):
        """A Linear on a layer's (C, H, W) units laid channels-last, ``(H, W, C)`` (ConvNeXt's pointwise layers):
        the 1×1 convolution of kernel ``Wᵀ``, into a new (C_out, H, W) layer laid out the same way; None where
        ``x`` is not such a layout."""
        import torch

        k = torch.as_tensor(self.canon(x.key))
        lids = self.layer_ids(x)
        if len(lids) != 1:
            return None
        L = self.layers[lids[0]]
        B, H, Wd, C = k.shape
        if L.shape != (C, H, Wd):
            return None
        cf = lambda t: None if t is None else t.permute(0, 3, 1, 2).contiguous()
        L, xc = self.whole(node, _Units(cf(x.key), cf(x.sample), cf(x.scale), cf(x.shift), x.act), "", "")
        d_out = W.shape[1]
        bias = None if b is None else b.detach().double().repeat_interleave(H * Wd)
        y = self.new_layer((d_out, H, Wd), name, bias)
        K = W.detach().T.reshape(d_out, C, 1, 1)
        self.put((L.id, y.id), ("conv", K, (L.shape, (1, 1), (0, 0), (1, 1), 1)), node)
        key = (y.id * _BIG + torch.arange(y.n, dtype=torch.int64)).reshape(d_out, H, Wd).permute(1, 2, 0)
        return _Units(key.expand(tuple(out_shape)).contiguous(),
                      _arange_like(torch.zeros(tuple(out_shape), dtype=torch.int64)))

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
            if not self.partition(node, val):
                for u in val:
                    if isinstance(u, _Units):
                        self.split(node, u)
        else:
            val = make(res["key"], res["sample"], res["scale"], res["shift"])
            if isinstance(val, _Units) and _opname(node) in ("select", "slice", "getitem", "narrow"):
                self.split(node, val)
        self.bind(node, val)

    def partition(self, node, parts):
        """The parts of one ``split``/``chunk``/``unbind`` that cut one layer's units into disjoint sets, at least
        one of them not a contiguous range (a packed projection whose q, k, v are interleaved head by head, as
        in GPT-NeoX): each set becomes its own layer, ``<projection>[i of n]`` (the i-th part). False where
        ``parts`` are not such a partition (contiguous parts are split one by one by :meth:`split`)."""
        import torch

        if not parts or not all(isinstance(u, _Units) for u in parts):
            return False
        lids = [self.layer_ids(u) for u in parts]
        if any(l != lids[0] for l in lids) or len(lids[0]) != 1:
            return False
        L = self.layers[lids[0][0]]
        if len(L.shape) != 1 or self.outgoing(L) or not self.incoming(L) or any(
                self.blocks[p][0] != "dense" for p in self.incoming(L)):
            return False
        sets = []
        for u in parts:
            k = self.canon(u.key)
            sets.append(np.unique(k[k >= 0] % _BIG))
        owner = np.full(L.n, -1, dtype=np.int64)
        for i, part in enumerate(sets):
            if (owner[part] >= 0).any():
                return False  # parts that overlap: no partition
            owner[part] = i
        contiguous = all(np.array_equal(p, np.arange(p[0], p[-1] + 1)) for p in sets)
        if (owner < 0).any() or contiguous or len(sets) < 2:
            return False
        lid_map, uid_map = np.empty(L.n, np.int64), np.empty(L.n, np.int64)
        for i, part in enumerate(sets):
            bias = None if L.bias is None else L.bias[torch.as_tensor(part)].clone()
            P = self.new_layer((len(part),), f"{L.name}[{i + 1} of {len(sets)}]", bias, order=L.order)
            for p in self.incoming(L):
                self.blocks[(p[0], P.id)] = ("dense", self.blocks[p][1][:, torch.as_tensor(part)])
            lid_map[part], uid_map[part] = P.id, np.arange(len(part))
            P.nodes |= L.nodes
        for p in self.incoming(L):
            del self.blocks[p]
        del self.layers[L.id]
        self.remap[L.id] = (lid_map, uid_map)
        return True

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
        self.split_names[L.id] = L.name

    def rejoin(self, lids):
        """Undo :meth:`split` where it cut too early: the layers ``lids``, parts of one layer that a slice split,
        become that layer again (a rotary embedding slices a one-head query in halves, then turns them back
        together). False where they are not the parts of one split, or a part has a block out already."""
        import torch

        for old, (lid_map, uid_map) in self.remap.items():
            parts = np.unique(lid_map).tolist()
            if old in self.split_names and set(lids) <= set(parts) and all(p in self.layers for p in parts):
                break
        else:
            return False
        if any(self.outgoing(self.layers[p]) for p in parts):
            return False
        n = len(lid_map)
        first = {p: int(np.flatnonzero(lid_map == p)[0]) for p in parts}
        pieces = sorted((self.layers[p] for p in parts), key=lambda P: first[P.id])
        biases = [P.bias for P in pieces]
        bias = None if all(b is None for b in biases) else torch.cat(
            [torch.zeros(P.n, dtype=torch.float64) if b is None else b.double() for P, b in zip(pieces, biases)])
        M = self.new_layer((n,), self.split_names.pop(old), bias, order=pieces[0].order)
        for P in pieces:
            lo = first[P.id]
            for src, dst in self.incoming(P):
                W = self.blocks.pop((src, dst))[1]
                if (src, M.id) not in self.blocks:
                    self.blocks[(src, M.id)] = ("dense", torch.zeros((W.shape[0], n), dtype=W.dtype))
                self.blocks[(src, M.id)][1][:, lo:lo + P.n] = W
            del self.layers[P.id]
            self.remap[P.id] = (np.full(P.n, M.id, dtype=np.int64), np.arange(lo, lo + P.n, dtype=np.int64))
            M.nodes |= P.nodes
        return True

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
        if a.scale is not None and b.scale is not None and self.rotation(ka.numpy(), kb.numpy()):
            return self.bind(node, _Units(a.key, a.sample))  # rotary position embedding: the same units
        self.residual(node, [args[0], args[1]], [a, b], e)

    def rotation(self, ka, kb):
        """Whether two operands of a sum, each one layer's units times constant factors, hold the same units of
        one layer in another order along their last axis: ``x·cos + rotate_half(x)·sin``, the rotary position
        embedding of a query or a key. It turns pairs of units by an angle that depends on the position, with no
        weights, so the sum holds the units of ``x`` (the first operand)."""
        la, lb = (np.unique(k[k >= 0] // _BIG) for k in (ka, kb))
        d = ka.shape[-1]
        if (not np.array_equal(la, lb) or np.array_equal(ka, kb)
                or not np.array_equal(np.sort(ka.reshape(-1, d), 1), np.sort(kb.reshape(-1, d), 1))):
            return False
        return len(la) == 1 or self.rejoin(la.tolist())  # one layer, or the halves a slice split it into

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
            gate = self.gate(ops, (a, b), e)
            if gate is None:
                self.refuse(node, f"a product of two layers' units ({_describe(node)})",
                            "a gated unit needs one side through an activation (the gate) and one linear (the "
                            "value), or one side computed from the other (squeeze-and-excitation)")
            # the gate modulates, as attention scores do: its layers are blocks into their own node sets (sinks),
            # the product holds the units of the other operand (the value), which the next block reads
            return self.bind(node, (a, b)[1 - gate])
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

    def gate(self, ops, expanded, e):
        """Which operand of a product of two layers' units is the gate (0 or 1), or None: the one broadcast over
        the positions (squeeze-and-excitation's factor per channel), else the one computed from the other's
        layer (the same on a 1×1 map), else the one through an activation (GLU, SwiGLU: ``act(x W_g) ⊙ x W_u``)."""
        full = [tuple(v.key.shape) == tuple(e.shape) for v in ops]
        if full[0] != full[1]:
            return full.index(False)
        lids = [self.layer_ids(v) for v in expanded]
        if all(len(l) == 1 for l in lids):
            for i in (0, 1):
                if self.reaches(lids[1 - i][0], lids[i][0]):
                    return i
        a, b = expanded
        return None if a.act == b.act else (0 if a.act else 1)

    def reaches(self, src, dst):
        """Whether a path of blocks leads from layer ``src`` to layer ``dst``."""
        seen, todo = {src}, [src]
        while todo:
            cur = todo.pop()
            for a, b in self.blocks:
                if a == cur and b not in seen:
                    if b == dst:
                        return True
                    seen.add(b)
                    todo.append(b)
        return False

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
