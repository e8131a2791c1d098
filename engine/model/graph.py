"""``LayeredGraph``: a layered directed weighted graph held as its weight blocks.

The N×N adjacency is never built. The common case is a chain: block ``l`` (``weights[l]``, 0-based) holds the
weights from layer ``l`` to layer ``l+1`` with shape ``(n_l, n_{l+1})``. In general the graph is a DAG of node
sets (layers ``0..L`` in a topological order) with one block on any pair ``i < j`` (a skip or residual block
when ``j > i + 1``): ``g.pairs[b]`` is the pair of block ``b``. An epoch stack holds ``T`` of each block as
``(T, n_i, n_j)`` so the kernels process ``T`` epochs in one call. A threshold is kept as a rule (one ``θ`` per
block and epoch, an edge is ``|w| > θ`` with its sign); masks are built on the fly inside the kernels.

The parts: :mod:`deepcnt.model.graph_shape` (layers, blocks, nodes, epochs, device: the ``_Shape`` mixin;
:func:`chain_refusal`), :mod:`deepcnt.model.graph_arrays` (checking blocks and biases, array helpers). This
module holds :class:`LayeredGraph` (construction, thresholds, exports) and :func:`takes_graph`.
"""
import functools

import numpy as np

from ..backend import backend_for
from ..errors import InputError, check_choice, renamed
from . import export
from .blocks import ImplicitBlock
from .diagonal import IdentityBlock
# get_backend_np and chain_refusal (runs.pipeline) stay importable from here
from .graph_arrays import (_as_block, _bias_stacks, _concat, _edge_values, _top_fraction_cut,  # noqa: F401
                           get_backend_np)
from .graph_shape import _Shape, chain_refusal  # noqa: F401
from .sparse import SparseBlock

_THRESHOLD_MODES = ("abs", "proportional")


class LayeredGraph(_Shape):
    """A layered (k-partite) directed weighted graph: layers ``0..L`` and weight blocks between them.

    Build a chain with :meth:`from_weights`, a block DAG (skip blocks) with :meth:`from_blocks`. Node ids are
    global and in layer order; every per-node metric is one array of length ``N`` (shape ``(T, N)`` for an epoch
    stack) in that order, split by :meth:`layer_slice`.

    Attributes
    ----------
    sizes : tuple of int, ``(n_0, ..., n_L)``
    pairs : tuple of (int, int)
        The layer pair ``(i, j)`` of each block, sorted; ``(0, 1), ..., (L-1, L)`` for a chain.
    blocks : tuple of arrays, shape (T, n_i, n_j), or :class:`ImplicitBlock`
        The weight blocks, in the order of ``pairs``, always held as stacks (``T = 1`` for a single network).
    biases : tuple of arrays, shape (T, n_{l+1}), or None
        ``biases[l]`` belongs to layer ``l + 1``.
    layer_names : tuple of str
    theta : ndarray, shape (n_blocks, T)
        The threshold of each block and epoch: an edge is ``|w| > θ`` (``θ = 0``: every non-zero weight).
    rule : dict
        How ``theta`` was made (recorded in output metadata).
    """

    def __init__(self, blocks, biases, layer_names, theta, rule, stacked, backend, pairs=None, sizes=None):
        self.blocks = tuple(blocks)
        if pairs is None:  # a chain
            pairs = tuple((l, l + 1) for l in range(len(self.blocks)))
            sizes = (int(self.blocks[0].shape[1]),) + tuple(int(b.shape[2]) for b in self.blocks)
        self.pairs = tuple((int(i), int(j)) for i, j in pairs)
        self.sizes = tuple(int(n) for n in sizes)
        self.biases = None if biases is None else tuple(biases)
        self.layer_names = tuple(layer_names)
        self.theta = theta
        self.rule = dict(rule)
        self.stacked = stacked
        self.backend = backend
        self._cache = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_weights(cls, weights, biases=None, layer_names=None):
        """Build a graph from its weight blocks.

        Parameters
        ----------
        weights : sequence of arrays, each shape (n_l, n_{l+1}) or (T, n_l, n_{l+1})
            ``weights[l][i, j]`` is the weight from node ``i`` of layer ``l`` to node ``j`` of layer ``l+1``
            (PyTorch's ``Linear.weight`` is the transpose). numpy or CuPy arrays, all on one device.
        biases : sequence of arrays, each shape (n_{l+1},) or (T, n_{l+1}), optional
            One per block: the biases of the layer the block feeds. Only the La Malfa metrics use them.
        layer_names : sequence of str, optional
            ``L+1`` names; default ``"L0" .. "L{L}"``.

        Raises
        ------
        InputError
            No block; a block that is not 2-D/3-D, not numeric, holds NaN or inf; blocks that do not chain;
            stacks of different lengths; an empty layer; biases or names of the wrong length.

        Examples
        --------
        >>> g = LayeredGraph.from_weights([np.ones((2, 3)), np.ones((3, 1))])
        >>> g.sizes, g.n_nodes, g.n_edges
        ((2, 3, 1), 6, 9)
        """
        if hasattr(weights, "ndim") or not hasattr(weights, "__len__"):
            raise InputError("weights must be a list of weight blocks (one 2-D array per pair of layers)")
        if len(weights) < 1:
            raise InputError("weights is empty: a layered graph needs at least one weight block")
        # an implicit block is on the device of its array (e.g. a convolution's kernel)
        probe = [getattr(w, "array", w) if isinstance(w, ImplicitBlock) else w for w in weights]
        kinds = {type(w).__module__.split(".")[0] == "cupy" for w in probe}
        if len(kinds) > 1:
            raise InputError("weights mix CuPy and host arrays: put every block on one device")
        backend = backend_for(None, probe[0])
        xp = backend.xp
        blocks = [_as_block(w, l, xp) for l, w in enumerate(weights)]
        ndims = {(3 if b.stacked else 2) if isinstance(b, ImplicitBlock) else b.ndim for b in blocks}
        if len(ndims) > 1:
            raise InputError("weights mix 2-D blocks and 3-D epoch stacks: give all blocks the same form")
        stacked = ndims == {3}
        if not stacked:
            blocks = [b if isinstance(b, ImplicitBlock) else b[None] for b in blocks]
        T = blocks[0].shape[0]
        for l, b in enumerate(blocks):
            if b.shape[0] != T:
                raise InputError(f"weights[{l}] stacks {b.shape[0]} epochs but weights[0] stacks {T}")
            if l and b.shape[1] != blocks[l - 1].shape[2]:
                raise InputError(
                    f"weights[{l}] has {b.shape[1]} rows but weights[{l - 1}] has {blocks[l - 1].shape[2]} "
                    f"columns: block l must have shape (n_l, n_(l+1)) so that consecutive blocks chain"
                )
        if T == 0:
            raise InputError("the epoch stack is empty (T = 0)")
        sizes = [blocks[0].shape[1]] + [b.shape[2] for b in blocks]
        for l, n in enumerate(sizes):
            if n == 0:
                raise InputError(f"layer {l} has no nodes: every layer needs at least one node")
        layer_names = _layer_names(layer_names, len(sizes))
        bias_blocks = None
        if biases is not None:
            if len(biases) != len(blocks):
                raise InputError(
                    f"biases has {len(biases)} entries for {len(blocks)} blocks: give one bias vector per block "
                    "(the biases of the layer it feeds)"
                )
            bias_blocks = _bias_stacks(biases, sizes, T, stacked, xp)
        theta = np.zeros((len(blocks), T))
        return cls(blocks, bias_blocks, layer_names, theta, {"mode": "none", "theta": 0.0}, stacked, backend)

    @classmethod
    def from_blocks(cls, sizes, blocks, biases=None, layer_names=None):
        """Build a block DAG: layers of the given sizes and one weight block on any pair of layers ``i < j``.

        A chain (pairs ``(l, l+1)`` only) is the graph :meth:`from_weights` builds; a block on ``(i, j)`` with
        ``j > i + 1`` is a skip (a residual connection, a projection shortcut, a concatenation's branch). The
        layers are numbered in a topological order (every block goes forward), there are no edges inside a
        layer, and at most one block joins a pair (sum two maps on one pair before building the graph).

        Parameters
        ----------
        sizes : sequence of int
            ``(n_0, ..., n_L)``, every ``n_l >= 1``.
        blocks : dict {(i, j): block}
            ``0 <= i < j <= L``. A block is a dense array of shape (n_i, n_j) or an epoch stack (T, n_i, n_j)
            (``block[a, b]`` is the weight from node ``a`` of layer ``i`` to node ``b`` of layer ``j``), an
            :class:`ImplicitBlock` (``IdentityBlock``, ``DiagonalBlock``, ``SparseBlock``, ``ConvBlock``, ...),
            a ``scipy.sparse`` matrix (held as a ``SparseBlock``) or the string ``"identity"`` (an
            ``IdentityBlock``: the weight-1 skip ``k -> k``, needs ``n_i == n_j``). All on one device; all
            single networks or all epoch stacks of one length (an identity joins a stack of any length).
            Blocks are kept in the order of their pairs (``g.pairs``), which is the order of a per-block
            threshold.
        biases : sequence or dict, optional
            The biases of layers ``1..L``: a sequence of ``L`` arrays (``None`` for none), or a dict
            ``{layer: array}``; each shape (n_l,) or (T, n_l). Only the La Malfa metrics use them.
        layer_names : sequence of str, optional
            ``L+1`` names; default ``"L0" .. "L{L}"``.

        Raises
        ------
        InputError
            Bad sizes; a pair that is not ``0 <= i < j <= L``; a block whose shape is not ``(n_i, n_j)``; a
            block that is not 2-D/3-D, not numeric, holds NaN or inf; mixed devices, forms or stack lengths;
            biases or names of the wrong length.

        Examples
        --------
        A residual unit ``x -> h -> y`` with the skip ``x -> y``:

        >>> W1, W2 = np.ones((3, 4)), np.ones((4, 3))
        >>> g = LayeredGraph.from_blocks([3, 4, 3], {(0, 1): W1, (1, 2): W2, (0, 2): "identity"})
        >>> g.pairs, g.n_edges
        (((0, 1), (0, 2), (1, 2)), 27)
        """
        try:
            sizes = tuple(int(n) for n in sizes)
        except (TypeError, ValueError):
            raise InputError(f"sizes must be a sequence of layer sizes (ints), got {sizes!r}") from None
        if len(sizes) < 2:
            raise InputError(f"sizes {sizes} has fewer than 2 layers: a graph needs at least one block")
        for l, n in enumerate(sizes):
            if n < 1:
                raise InputError(f"layer {l} has {n} nodes: every layer needs at least one node")
        if not isinstance(blocks, dict):
            raise InputError("blocks must be a dict {(i, j): block} of the weight blocks between layers i < j")
        if not blocks:
            raise InputError("blocks is empty: a layered graph needs at least one weight block")
        L = len(sizes) - 1
        items = []
        for key, w in blocks.items():
            try:
                i, j = (int(v) for v in key)
            except (TypeError, ValueError):
                raise InputError(f"block key {key!r} is not a pair of layers (i, j)") from None
            if not 0 <= i < j <= L:
                raise InputError(
                    f"block {key!r} does not go forward between layers 0..{L}: a block joins layers i < j "
                    "(number the layers in a topological order)"
                )
            items.append(((i, j), w))
        items.sort(key=lambda kw: kw[0])
        if len({p for p, _ in items}) != len(items):
            raise InputError("two blocks join the same pair of layers: sum them into one block")
        for n, ((i, j), w) in enumerate(items):
            if isinstance(w, str):
                if w != "identity":
                    raise InputError(f"block {(i, j)} is the string {w!r}: the only named block is 'identity'")
                w = IdentityBlock(sizes[i])
            elif type(w).__module__.split(".")[0] == "scipy":
                w = SparseBlock(w)
            items[n] = ((i, j), w)
        pairs = [p for p, _ in items]
        weights = [w for _, w in items]
        names = [f"blocks[{p}]" for p in pairs]
        free = [isinstance(w, IdentityBlock) for w in weights]  # no weights of its own: joins any device/stack
        probe = [getattr(w, "array", w) if isinstance(w, ImplicitBlock) else w
                 for w, f in zip(weights, free) if not f]
        kinds = {type(w).__module__.split(".")[0] == "cupy" for w in probe}
        if len(kinds) > 1:
            raise InputError("blocks mix CuPy and host arrays: put every block on one device")
        backend = backend_for(None, *probe[:1])
        xp = backend.xp
        weights = [w if f else _as_block(w, name, xp, named=True) for w, f, name in zip(weights, free, names)]
        ndims = {(3 if b.stacked else 2) if isinstance(b, ImplicitBlock) else b.ndim
                 for b, f in zip(weights, free) if not f}
        if len(ndims) > 1:
            raise InputError("blocks mix 2-D blocks and 3-D epoch stacks: give all blocks the same form")
        stacked = ndims == {3}
        weights = [b if isinstance(b, ImplicitBlock) else (b if stacked else b[None]) for b in weights]
        Ts = {b.shape[0] for b, f in zip(weights, free) if not f}
        if len(Ts) > 1:
            raise InputError(f"blocks stack different numbers of epochs {sorted(Ts)}: give every block the same T")
        T = Ts.pop() if Ts else 1
        if T == 0:
            raise InputError("the epoch stack is empty (T = 0)")
        weights = [b.with_epochs(T, stacked).to(backend) if f else b for b, f in zip(weights, free)]
        for (i, j), b, name in zip(pairs, weights, names):
            if tuple(b.shape[1:]) != (sizes[i], sizes[j]):
                raise InputError(
                    f"{name} has shape {tuple(b.shape[1:])} but layers {i} and {j} have {sizes[i]} and "
                    f"{sizes[j]} nodes: the block on (i, j) must have shape (n_i, n_j)"
                )
        layer_names = _layer_names(layer_names, len(sizes))
        bias_blocks = None
        if biases is not None:
            if isinstance(biases, dict):
                bad = [k for k in biases if not (isinstance(k, (int, np.integer)) and 1 <= k <= L)]
                if bad:
                    raise InputError(f"biases has keys {bad}: give the biases of layers 1..{L}")
                biases = [biases.get(l) for l in range(1, L + 1)]
            if len(biases) != L:
                raise InputError(f"biases has {len(biases)} entries for layers 1..{L}: give one per layer after "
                                 "the input (None for none)")
            bias_blocks = _bias_stacks(biases, sizes, T, stacked, xp)
        theta = np.zeros((len(weights), T))
        return cls(weights, bias_blocks, layer_names, theta, {"mode": "none", "theta": 0.0}, stacked, backend,
                   pairs, sizes)

    @classmethod
    def stack(cls, graphs):
        """Stack single-epoch graphs of one architecture into one epoch stack (thresholds kept)."""
        graphs = list(graphs)
        if not graphs:
            raise InputError("stack() needs at least one graph")
        first = graphs[0]
        for g in graphs:
            if g.sizes != first.sizes:
                raise InputError(f"cannot stack graphs of sizes {first.sizes} and {g.sizes}")
            if g.pairs != first.pairs:
                raise InputError(f"cannot stack graphs with blocks on {list(first.pairs)} and {list(g.pairs)}")
        xp = first.backend.xp
        blocks = [_concat([g.blocks[l] for g in graphs], xp) for l in range(first.n_blocks)]
        biases = None
        if all(g.biases is not None for g in graphs):
            biases = [xp.concatenate([g.biases[l] for g in graphs]) for l in range(len(first.biases))]
        theta = np.concatenate([g.theta for g in graphs], axis=1)
        return cls(blocks, biases, first.layer_names, theta, first.rule, True, first.backend, first.pairs,
                   first.sizes)

    def _replace(self, **changes):
        kw = dict(
            blocks=self.blocks, biases=self.biases, layer_names=self.layer_names, theta=self.theta,
            rule=self.rule, stacked=self.stacked, backend=self.backend, pairs=self.pairs, sizes=self.sizes,
        )
        kw.update(changes)
        return LayeredGraph(**kw)

    def __repr__(self):
        stack = f", epochs={self.n_epochs}" if self.stacked else ""
        pairs = "" if self.is_chain else f", blocks={list(self.pairs)}"
        return f"LayeredGraph(sizes={self.sizes}{pairs}{stack}, threshold={self.rule}, device={self.device!r})"

    # ------------------------------------------------------------------ thresholds
    def threshold(self, theta, mode="abs", per_block=False):
        """A thresholded view: keep an edge where ``|w| > θ``, with its sign.

        Parameters
        ----------
        theta : float or sequence of float
            ``mode="abs"``: ``θ ≥ 0``, one value or one per block (in the order of :attr:`pairs`).
            ``mode="proportional"``: the fraction
            ``ρ ∈ (0, 1]`` of edges to keep, the largest by ``|w|``.
        mode : {"abs", "proportional"}
        per_block : bool
            ``proportional`` only: keep the top ``ρ`` of each block (each layer pair keeps its density)
            instead of the top ``ρ`` of the whole network.

        Returns
        -------
        LayeredGraph
            The same blocks with the new rule. Thresholds compose: an edge must pass every one applied.
            Proportional thresholds are computed per epoch; ties at the cut are dropped, so at most
            ``round(ρ·E)`` edges are kept. They rank the learnt weights only: the edges of an identity block
            (a residual skip) and of a pooling block, whose weights are fixed and equal, are neither counted in
            ``E`` nor cut (the tie rule would otherwise drop all of them).
        """
        check_choice("threshold mode", mode, _THRESHOLD_MODES)
        L, T = self.theta.shape
        if mode == "abs":
            th = np.asarray(theta, dtype=float)
            if th.ndim == 0:
                th = np.full(L, float(th))
            if th.shape != (L,):
                raise InputError(f"theta must be one number or {L} (one per block), got {th.size}")
            if not np.all(np.isfinite(th)) or np.any(th < 0):
                raise InputError(f"theta must be finite and >= 0, got {theta!r}")
            new = np.repeat(th[:, None], T, axis=1)
            rule = {"mode": "abs", "theta": th.tolist() if L > 1 and len(set(th)) > 1 else float(th[0])}
        else:
            rho = float(theta) if np.ndim(theta) == 0 else None
            if rho is None or not (0.0 < rho <= 1.0):
                raise InputError(f"a proportional threshold is a fraction in (0, 1], got {theta!r}")
            new = self._proportional_theta(rho, per_block)
            rule = {"mode": "proportional", "theta": rho, "per_block": bool(per_block)}
        theta_new = np.maximum(self.theta, new)
        if self.rule.get("mode") not in (None, "none"):
            rule = {"mode": "composed", "rules": [self.rule, rule]}
        return self._replace(theta=theta_new, rule=rule)

    def _proportional_theta(self, rho, per_block):
        """θ per block and epoch such that the top ``ρ`` fraction by ``|w|`` (of kept edges) passes.

        Implicit blocks contribute each shared weight once with its number of edges (``weight_counts``).
        Blocks without learnt weights (identity, pooling) take no part and keep their θ (:meth:`threshold`).
        """
        L, T = self.theta.shape
        out = np.zeros((L, T))
        to_np = self.backend.to_numpy
        learnt = [l for l, b in enumerate(self.blocks) if getattr(b, "learnt", True)]
        for t in range(T):
            mags, counts = {}, {}
            for l in learnt:
                b = self.blocks[l]
                if isinstance(b, ImplicitBlock):
                    a, c = b.weight_counts(t)
                    a = np.abs(a)
                else:
                    a, c = np.abs(to_np(b[t])).ravel(), None
                keep = a > self.theta[l, t]
                mags[l] = a[keep]
                counts[l] = None if c is None else np.asarray(c)[keep]
            groups = [[l] for l in learnt] if per_block else [learnt] if learnt else []
            for group in groups:
                cut = _top_fraction_cut([mags[l] for l in group], [counts[l] for l in group], rho)
                for l in group:
                    out[l, t] = cut
        return out

    def to_sparse(self, max_density=1.0):
        """This graph with its dense blocks held as :class:`SparseBlock` (CSR per epoch) of their kept edges.

        Memory becomes O(kept edges): a thresholded or pruned graph keeps only what passes ``|w| > θ``. The
        threshold rule stays, so every metric gives the same result as before.

        Parameters
        ----------
        max_density : float
            Convert only the blocks whose kept fraction (in their densest epoch) is at most this; denser
            blocks stay dense, where a dense block is cheaper.

        Examples
        --------
        >>> g = LayeredGraph.from_weights([np.array([[0.1, -2.0], [3.0, 0.0]])]).threshold(0.5)
        >>> s = g.to_sparse()
        >>> s.blocks[0].nnz.tolist(), s.n_edges == g.n_edges
        ([2], True)
        """
        import scipy.sparse as sp

        blocks = []
        for l, b in enumerate(self.blocks):
            if isinstance(b, ImplicitBlock):
                blocks.append(b)
                continue
            mats = []
            for t in range(b.shape[0]):
                w = self.backend.to_numpy(b[t])
                i, j = np.nonzero(np.abs(w) > self.theta[l, t])
                mats.append(sp.csr_matrix((w[i, j], (i, j)), shape=w.shape))
            if max(m.nnz for m in mats) > max_density * b.shape[1] * b.shape[2]:
                blocks.append(b)
                continue
            blocks.append(SparseBlock(mats if self.stacked else mats[0]).to(self.backend))
        return self._replace(blocks=blocks)

    # ------------------------------------------------------------------ export
    def to_scipy(self, directed=True, epoch=None, sign="net", *, weight=None):
        """The N×N sparse adjacency (CSR) of the kept edges.

        Parameters
        ----------
        directed : bool
            ``True``: the directed view ``A→`` (block upper triangular). ``False``: ``A→ + A→ᵀ``.
        epoch : int, optional
            Which epoch of a stack (required for stacks).
        sign : {"net", "abs", "positive", "negative", "binary"}
            The value stored for each kept edge: ``w``, ``|w|``, ``w⁺``, ``w⁻`` (magnitude) or 1.
            ``positive``/``negative`` store explicit zeros for edges of the other sign, so the edge set is
            the same in every mode.
        weight : deprecated spelling of ``sign``
        """
        import scipy.sparse as sp

        sign = renamed("to_scipy", "weight", "sign", weight, sign)

        t = self._epoch_index(epoch)
        rows, cols, vals = [], [], []
        o = self.offsets
        for l, (b, (src, dst)) in enumerate(zip(self.blocks, self.pairs)):
            if isinstance(b, ImplicitBlock):
                i, j, v = b.edges(t, self.theta[l, t])
                v = np.asarray(v, dtype=np.float64)
            else:
                w = self.backend.to_numpy(b[t])
                i, j = np.nonzero(np.abs(w) > self.theta[l, t])
                v = w[i, j].astype(np.float64)
            rows.append(np.asarray(i, dtype=np.int64) + o[src])
            cols.append(np.asarray(j, dtype=np.int64) + o[dst])
            vals.append(_edge_values(v, sign))
        r, c, v = (np.concatenate(x) for x in (rows, cols, vals))
        n = self.n_nodes
        if not directed:
            r, c, v = np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([v, v])
        m = sp.coo_matrix((v, (r, c)), shape=(n, n)).tocsr()
        return m

    def block_stack(self, l, what="this metric"):
        """Block ``l``'s weights as an epoch stack, shape (T, n_l, n_{l+1}) (``T = 1`` for one network).

        The form every metric reads, whether the graph is one network or a stack.

        Raises
        ------
        InputError
            The graph is not a chain (skip blocks: ``what`` is defined on chains for now); block ``l`` is
            implicit (a convolution): ``what`` needs explicit edges.
        """
        self.require_chain(what)
        b = self.blocks[l]
        if isinstance(b, ImplicitBlock):
            raise InputError(
                f"{what} needs explicit edges but block {l} is an implicit {type(b).__name__}: {b.explicit_hint}"
            )
        return b

    def dense_block(self, l, what="dense_block"):
        """Block ``l``'s weights: shape (n_l, n_{l+1}) for one network, (T, n_l, n_{l+1}) for an epoch stack.

        Like every per-node result, the epoch axis is there only for a stack. All weights, whatever the
        threshold (``|w| > θ`` is the rule's, see :meth:`threshold`); a view, not a copy.

        Raises
        ------
        InputError
            Block ``l`` is implicit (a convolution): it has no explicit weights to return.

        Examples
        --------
        >>> g = LayeredGraph.from_weights([np.ones((2, 3)), np.ones((3, 1))])
        >>> g.dense_block(0).shape
        (2, 3)
        """
        if not -self.n_blocks <= l < self.n_blocks:
            raise InputError(f"block {l} does not exist: this graph has blocks 0..{self.n_blocks - 1}")
        b = self.block_stack(l % self.n_blocks, what)
        return b if self.stacked else b[0]

    def _epoch_index(self, epoch):
        if self.stacked:
            T = self.n_epochs
            if epoch is None:
                raise InputError("this graph is an epoch stack: pass epoch=t to export one epoch")
            if not -T <= epoch < T:
                raise InputError(f"epoch {epoch} does not exist: the stack holds epochs 0..{T - 1}")
            return epoch % T
        if epoch not in (None, 0):
            raise InputError("this graph holds one network: epoch must be None")
        return 0

    def to_networkx(self, directed=True, epoch=None):
        """A networkx (Di)Graph of the kept edges; attributes ``weight`` (signed) and node ``layer``."""
        return export.to_networkx(self, directed=directed, epoch=epoch)

    def to_igraph(self, directed=True, epoch=None):
        """An igraph Graph of the kept edges; edge attribute ``weight`` (signed), vertex ``layer``."""
        return export.to_igraph(self, directed=directed, epoch=epoch)


def _layer_names(names, n_layers):
    """``names`` checked against the number of layers; ``L0, L1, ...`` when it is None."""
    if names is None:
        return [f"L{l}" for l in range(n_layers)]
    if len(names) != n_layers:
        raise InputError(f"layer_names has {len(names)} names for {n_layers} layers")
    return names


def takes_graph(func=None, *, skips=False, instead=None):
    """Decorator of a public function whose first argument is a :class:`LayeredGraph`: anything else (an array,
    a list of weights) is one :class:`InputError` that says what is expected, not an ``AttributeError``.

    ``skips=True`` marks a function defined on every block DAG; without it a graph that is not a chain of
    blocks (skip blocks) is one :class:`InputError` naming the function (:meth:`LayeredGraph.require_chain`;
    ``instead``: its closing sentence, what to use). Use as ``@takes_graph``, ``@takes_graph(skips=True)`` or
    ``@takes_graph(instead="...")``.
    """
    if func is None:
        return functools.partial(takes_graph, skips=skips, instead=instead)

    @functools.wraps(func)
    def checked(g, *args, **kwargs):
        if not isinstance(g, LayeredGraph):
            raise InputError(f"{checked.__name__} expects a LayeredGraph, got {type(g).__name__}: build one with "
                             "deepcnt.LayeredGraph.from_weights([W1, W2, ...])")
        if not skips:
            g.require_chain(checked.__name__, instead)
        return func(g, *args, **kwargs)

    checked.supports_skips = skips
    return checked
