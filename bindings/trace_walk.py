"""The walk over a traced graph: :class:`_Tracer` and its bookkeeping (part of :mod:`deepcnt.bindings.trace`).

:class:`_Tracer` holds the layers and block specs built so far, resolves unit ids through merged and re-read
layers, dispatches every fx node (placeholder, module, function, output) to its operation (the methods of
:class:`deepcnt.bindings.trace_ops._Operations`) and turns the result into a :class:`LayeredGraph`
(:meth:`_Tracer.graph`).
"""
import numpy as np

from deepcnt.errors import InputError

from .trace_ops import _Operations
from .trace_values import (_BIG, _CONST, _LINEAR_SAME, _NONLINEAR, _REINDEX, _STATISTICS, SAME_MODULES, SUPPORTED,
                           _Ids, _Layer, _Stat,
                           _Mix, _Units, _arange_like, _call, _describe, _is_aten, _is_tensor, _map, _opname, _path,
                           _sum_specs, _topological)


class _Tracer(_Operations):
    """Walks a traced graph and builds layers and block specs (torch tensors until :meth:`graph`)."""

    def __init__(self, gm, env, batch, fold_norm, tokens, embedding, attention, prefix=""):
        self.gm, self.env, self.batch, self.fold_norm = gm, env, batch, fold_norm
        self.tokens, self.embedding, self.attention, self.prefix = tokens, embedding, attention, prefix
        self.modules = dict(gm.named_modules())
        self.layers = {}  # id -> _Layer (merged layers are removed)
        # (src id, dst id) -> ("dense", W) | ("conv", K, geom) | ("pool", b) | ("diag", d) | ("identity", None)
        self.blocks = {}
        self.value = {}  # fx node -> _Units | _Mix | _Stat | _Ids | _CONST | list of them
        self.remap = {}  # a merged or re-read layer id -> (layer id per old unit, unit per old unit)
        self.scores = set()  # layer ids read by attention scores (queries and keys)
        self.split_names = {}  # a layer split by a slice (split) -> its name, should its parts be rejoined
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
            elif kind == "conv" and len(self.blocks[p][2]) > 5:  # transposed: (C_in, C_out/g, ...), per group
                _, K, geom = self.blocks[p]
                g = geom[4]
                s_g = s_chan.reshape(g, 1, -1, 1, 1)
                self.blocks[p] = ("conv", (K.reshape(g, -1, *K.shape[1:]) * s_g).reshape(K.shape).to(K.dtype), geom)
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
                if e.is_floating_point() and any(isinstance(v, _Units) for v in self.value.values()):
                    self.refuse(node, "a second input of units", "the traced graph takes one input of units (and "
                                "token ids: an encoder-decoder's decoder ids)")
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
        if kind == "GuardsFn" or not any(isinstance(v, (_Units, _Ids, _Mix, _Stat)) for v in vals):
            self.value[node] = _CONST
            return
        if any(isinstance(v, _Stat) for v in vals):
            if kind in SAME_MODULES or kind in _LINEAR_SAME:
                self.value[node] = _Stat()
                return
            self.refuse(node, f"module {kind} reads a statistic of a position's features",
                        "such a mean or sum is no unit of the graph (a pooling layer makes units)")
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
        elif isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
            if mod.padding_mode != "zeros":
                self.refuse(node, f"module {kind}", "needs padding_mode='zeros'")
            self.conv(node, x, mod.weight.detach(), mod.bias, mod.stride, mod.padding, mod.dilation, mod.groups,
                      node.target, kind, output_padding=mod.output_padding)
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            self.pool(node, mod, x, tuple(e.shape[1:]))
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if mod.running_var is None:
                self.refuse(node, f"module {kind}", "track_running_stats=False: there are no statistics to fold")
            self.batchnorm(node, x, mod.weight, mod.bias, mod.running_mean, mod.running_var, mod.eps, kind)
        elif isinstance(mod, nn.LayerNorm) or (kind == "RMSNorm" and hasattr(mod, "normalized_shape")):
            shape = mod.normalized_shape
            self.norm(node, x, mod.weight, getattr(mod, "bias", None), 1 if isinstance(shape, int) else len(shape),
                      node.target)
        elif isinstance(mod, nn.GroupNorm):
            g = None if mod.weight is None else mod.weight.detach().reshape((-1,) + (1,) * (x.key.ndim - 2))
            b = None if mod.bias is None else mod.bias.detach().reshape((-1,) + (1,) * (x.key.ndim - 2))
            self.norm(node, x, g, b, None, node.target)
        elif isinstance(mod, nn.MultiheadAttention):
            self.mha(node, mod)
        elif isinstance(mod, nn.Upsample):  # nn.UpsamplingNearest2d too
            self.upsample(node, x, f"module {kind}")
        elif isinstance(mod, (nn.ConstantPad1d, nn.ConstantPad2d)):  # nn.ZeroPad1d/2d too
            self.pad(node, x, mod.padding, mod.value)
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
        has = {t: any(isinstance(v, t) for v in flat) for t in (_Units, _Mix, _Ids, _Stat)}
        if not (has[_Units] or has[_Mix] or has[_Ids] or has[_Stat]) or not _is_tensor(e):
            if not has[_Units] or op in ("size", "dim", "sym_size", "numel", "getattr", "_assert_tensor_metadata",
                                         "sym_numel", "sym_stride", "stride", "_guards_fn"):
                self.value[node] = _CONST  # a constant, or a shape read from units
                return
            self.refuse(node, _describe(node))
        if has[_Ids] and not has[_Units] and op in ("copy", "setitem", "slice_scatter", "select_scatter"):
            return self.write_ids(node, op)
        if has[_Ids] and not has[_Units]:
            if op == "embedding":
                a = self.args(node, "weight input" if _is_aten(node) else "input weight")
                # named after the module that calls it: a table shared by two (BART's encoder and decoder) has
                # one parameter name
                name = _path(node, self.prefix).rstrip(".") or self.param_name(node, a["weight"])
                return self.embed(node, self.value.get(a["input"], _CONST), self.env[a["weight"]], name)
            if op in ("masked_fill", "fill") and isinstance(self.value.get(node.args[0]), _Ids):
                self.value[node] = self.value[node.args[0]]  # ids with some replaced (a padding or start id)
                return
            if op in _REINDEX or op in _LINEAR_SAME:
                ids = self.value[node.args[0]]
                args = _map(node.args, lambda a: ids.sample if a is node.args[0] else self.env.get(a, a))
                out = _call(node, args, _map(node.kwargs, lambda a: self.env.get(a, a)), self.modules)
                self.value[node] = _Ids(out.contiguous()) if isinstance(out, torch.Tensor) else _CONST
            else:
                self.value[node] = _CONST
            return
        if has[_Stat]:
            return self.statistic(node, op, e, has[_Units] or has[_Mix])
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
        if op in ("interpolate", "upsample", "upsample_nearest2d", "_upsample_nearest_exact2d", "upsample_bilinear2d",
                  "upsample_bicubic2d"):
            return self.upsample(node, self.operand(node, node.args[0]), _describe(node))
        if op in ("conv_transpose1d", "conv_transpose2d"):
            a = self.args(node, "input weight bias stride padding output_padding groups dilation", stride=1,
                          padding=0, output_padding=0, groups=1, dilation=1)
            v = {k: self.env.get(n, n) if hasattr(n, "op") else n for k, n in a.items()}
            return self.conv(node, self.operand(node, a["input"]), v["weight"], v["bias"], v["stride"], v["padding"],
                             v["dilation"], v["groups"], self.param_name(node, a["weight"]), op,
                             output_padding=v["output_padding"])
        if op in ("conv1d", "conv2d"):
            a = self.args(node, "input weight bias stride padding dilation groups", stride=1, padding=0, dilation=1,
                          groups=1)
            v = {k: self.env.get(n, n) if hasattr(n, "op") else n for k, n in a.items()}
            return self.conv(node, self.operand(node, a["input"]), v["weight"], v["bias"], v["stride"], v["padding"],
                             v["dilation"], v["groups"], self.param_name(node, a["weight"]), op)
        if op in ("layer_norm", "group_norm", "rms_norm"):
            second = "num_groups" if op == "group_norm" else "normalized_shape"
            a = self.args(node, f"input {second} weight bias")
            x = self.operand(node, a["input"])
            g, b = (self.env.get(a[k]) if hasattr(a[k], "op") else None for k in ("weight", "bias"))
            name = self.param_name(node, a["weight"])
            if op != "group_norm":
                shape = a["normalized_shape"]
                b = None if op == "rms_norm" else b  # rms_norm's third argument is eps
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
        if op in _STATISTICS:
            return self.reduce(node, op, e)
        if op in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_avg_pool2d"):
            return self.pool_function(node, op.lstrip("_"), e)
        if op in ("topk", "argmax", "sort", "argsort") and has[_Units]:
            self.refuse(node, _describe(node), "it picks units by their values (a mixture of experts routes each "
                        "token by its input): the weighted graph of such a model depends on the input")
        if op == "adaptive_avg_pool1d" and self.tokens:  # an average over positions (Swin's pooler): same units
            x, size = self.operand(node, node.args[0]), self.args(node, "input output_size")["output_size"]
            if size in (1, (1,), [1]) and bool((x.key == x.key.amax(-1, keepdim=True)).all()):
                red = lambda t: None if t is None else t.amax(-1, keepdim=True).contiguous()
                return self.bind(node, _Units(red(x.key), red(x.sample), red(x.scale), red(x.shift), x.act))
        if op in ("pad", "constant_pad_nd"):
            a = self.args(node, "input pad mode value" if op == "pad" else "input pad value", mode="constant")
            if not any(a["pad"] or ()):
                return self.bind(node, self.operand(node, node.args[0]))  # a padding of zero width (Swin's windows)
            return self.pad(node, self.operand(node, node.args[0]), a["pad"], a["value"], a["mode"])
        if op in _REINDEX:
            return self.reindex(node)
        if op in _LINEAR_SAME and isinstance(self.value.get(node.args[0]), _Units):  # x.type_as(y): x's units
            return self.bind(node, self.operand(node, node.args[0]))
        if op in _NONLINEAR or op in ("gelu", "glu_same"):
            units = [a for a in node.all_input_nodes if isinstance(self.value.get(a), _Units)]
            if len(units) == 1:
                return self.same(node, self.value[units[0]], linear=False)
        self.refuse(node, _describe(node))

    def write_ids(self, node, op):
        """Token ids written into another tensor (``shift_tokens_right``: a decoder's ids are the input's, one
        position later): the tensor written into in place (``copy_``, ``x[:, 1:] = ids``), or the one a scatter
        makes, holds token ids."""
        import torch

        src = node.args[2] if op == "setitem" else node.args[1]
        if not isinstance(self.value.get(src), _Ids):
            self.value[node] = _CONST
            return
        if op in ("copy", "setitem"):
            base = node.args[0]
            while hasattr(base, "op") and _opname(base) in ("slice", "select", "view", "getitem") and base.args:
                base = base.args[0]  # the tensor the view was taken of
            if hasattr(base, "op"):
                self.value[base] = _Ids(_arange_like(torch.zeros(self.env[base].shape, dtype=torch.int64)))
        out = self.env.get(node)
        self.value[node] = _Ids(_arange_like(torch.zeros(out.shape, dtype=torch.int64))) if _is_tensor(out) else _CONST

    # ------------------------------------------------------------------ result
    def drop_dead_ends(self):
        """Remove the layers made of a pending factor (:meth:`materialise`) that no block reads and that are not
        the output: the operand of an activation that only fed a normalisation's statistic (``x²`` of an
        RMSNorm), no part of the graph."""
        out_ids = set(self.layer_ids(self.output)) if self.output is not None else set()
        dead = [L for lid, L in self.layers.items()
                if getattr(L, "materialised", False) and not self.outgoing(L) and lid not in out_ids]
        while dead:
            for L in dead:
                for p in self.incoming(L):
                    del self.blocks[p]
                del self.layers[L.id]
            dead = [L for lid, L in self.layers.items()
                    if getattr(L, "materialised", False) and not self.outgoing(L) and lid not in out_ids]

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
        self.drop_dead_ends()
        order = _topological([(self.layers[lid].order, lid) for lid in self.layers], list(self.blocks))
        new = {lid: k for k, lid in enumerate(order)}
        sizes = [self.layers[lid].n for lid in order]
        blocks = {}
        for (a, b), spec in self.blocks.items():
            kind = spec[0]
            if kind == "dense":
                w = _to_array(spec[1], device)
            elif kind == "conv":
                in_shape, stride, pad, dil, groups, *op = spec[2]  # op: a transposed convolution's output_padding
                w = ConvBlock(_to_array(spec[1], device), in_shape, stride, pad, dil, groups, transposed=bool(op),
                              output_padding=op[0] if op else 0)
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
