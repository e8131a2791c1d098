"""``LayeredGraph``: a layered directed weighted graph held as its weight blocks.

The N×N adjacency is never built. The common case is a chain: block ``l`` (``weights[l]``, 0-based) holds the
weights from layer ``l`` to layer ``l+1`` with shape ``(n_l, n_{l+1})``. In general the graph is a DAG of node
sets (layers ``0..L`` in a topological order) with one block on any pair ``i < j`` (a skip or residual block
when ``j > i + 1``): ``g.pairs[b]`` is the pair of block ``b``. An epoch stack holds ``T`` of each block as
``(T, n_i, n_j)`` so the kernels process ``T`` epochs in one call. A threshold is kept as a rule (one ``θ`` per
block and epoch, an edge is ``|w| > θ`` with its sign); masks are built on the fly inside the kernels.
"""
import functools
import itertools
from functools import cached_property

import numpy as np

from ..backend import backend_for, get_backend, is_torch_tensor
from ..errors import InputError, check_choice, renamed
from . import export
from .blocks import ImplicitBlock
from .diagonal import DiagonalBlock, IdentityBlock
from .sparse import SparseBlock
from .sums import node_sums

_THRESHOLD_MODES = ("abs", "proportional")


def _as_block(w, l, xp, named=False):
    """Validate one weight block and return it C-contiguous as float32/float64 (``l``: its index, or its
    name with ``named=True``)."""
    name = l if named else f"weights[{l}]"
    if isinstance(w, ImplicitBlock):
        return w  # validated by its own constructor
    if is_torch_tensor(w):
        raise InputError(
            f"{name} is a torch.Tensor: use deepcnt.bindings.torch.from_module(model), "
            "or convert it with .detach().cpu().numpy()"
        )
    if not hasattr(w, "dtype"):
        try:
            w = np.asarray(w)
        except Exception as exc:  # ragged lists and the like
            raise InputError(f"{name} is not an array of numbers ({exc})") from None
    if w.ndim not in (2, 3):
        raise InputError(
            f"{name} has shape {tuple(w.shape)}: expected a 2-D block (n_in, n_out) "
            "or a 3-D epoch stack (T, n_in, n_out)"
        )
    kind = w.dtype.kind
    if kind not in "biuf":
        raise InputError(f"{name} has dtype {w.dtype}: weights must be real numbers (float32 or float64)")
    if kind == "f" and w.dtype.itemsize < 4:
        w = w.astype(np.float32)
    elif kind != "f":
        w = w.astype(np.float64)
    w = xp.ascontiguousarray(w)
    if not _all_finite(w, xp):  # one pass in the common case; details only on failure
        for bad, what in ((xp.isnan, "NaN"), (xp.isinf, "infinite")):
            mask = bad(w)
            n_bad = int(mask.sum())
            if n_bad:
                first = tuple(int(i) for i in np.argwhere(get_backend_np(mask))[0])
                raise InputError(
                    f"{name} holds {n_bad} {what} weight(s), the first at index {first}: "
                    "clean the checkpoint or drop the epoch before building the graph"
                )
    return w


def _all_finite(w, xp, chunk=1 << 22):
    """``isfinite(w).all()`` in slices of ``chunk`` weights, so the boolean temporary stays small."""
    flat = w.reshape(-1)
    return all(bool(xp.isfinite(flat[i : i + chunk]).all()) for i in range(0, flat.size, chunk))


def get_backend_np(a):
    """Host copy of a numpy or CuPy array."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


class LayeredGraph:
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
        if layer_names is None:
            layer_names = [f"L{l}" for l in range(len(sizes))]
        elif len(layer_names) != len(sizes):
            raise InputError(f"layer_names has {len(layer_names)} names for {len(sizes)} layers")
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
        if layer_names is None:
            layer_names = [f"L{l}" for l in range(len(sizes))]
        elif len(layer_names) != len(sizes):
            raise InputError(f"layer_names has {len(layer_names)} names for {len(sizes)} layers")
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

    # ------------------------------------------------------------------ shape
    @property
    def n_layers(self):
        """Number of layers ``L + 1``."""
        return len(self.sizes)

    @property
    def n_blocks(self):
        """Number of weight blocks (``L`` for a chain)."""
        return len(self.blocks)

    @cached_property  # a graph is immutable (its blocks are set once, in __init__)
    def is_chain(self):
        """True when the blocks are exactly ``(0, 1), (1, 2), ..., (L-1, L)``: the form every metric takes."""
        return self.pairs == tuple((l, l + 1) for l in range(self.n_layers - 1))

    @property
    def skip_pairs(self):
        """The pairs ``(i, j)`` of the blocks that join non-consecutive layers (``j > i + 1``)."""
        return tuple(p for p in self.pairs if p[1] > p[0] + 1)

    def require_chain(self, what, instead=None):
        """Raise one :class:`InputError` naming ``what`` unless the graph is a chain of blocks.

        Metrics that are defined on block DAGs (degree, strength, knn, La Malfa's, ``n_edges``, thresholds,
        exports, 3-node motifs, modularity, Louvain, consensus, participation, module z-score) do not call
        this; every other one does (through :func:`takes_graph` or :meth:`block_stack`), so a skip block gives
        a clear refusal, never a wrong result. ``instead``: the sentence that says what to use (default: the
        metrics defined on block DAGs).
        """
        if not self.is_chain:
            raise InputError(chain_refusal(what, self.pairs, self.n_layers, instead))

    def kept_stack(self, l, what, epoch=None):
        """Block ``l`` as a dense epoch stack (T, n_i, n_j) and its thresholds (T,): what the metrics that need
        explicit edges (motifs, modularity, Louvain, roles) read, on chains and on block DAGs.

        A dense block is returned as it is (a view). Sparse, identity and diagonal blocks are expanded to dense
        stacks of their kept edges (dropped entries 0, threshold 0: the same edge set); memory is then
        O(n_i n_j) per epoch, the same as a dense block on that pair (nothing is kept on the graph).

        Parameters
        ----------
        epoch : int, optional
            Only this epoch (index into the stack): shapes (1, n_i, n_j) and (1,).

        Raises
        ------
        InputError
            A block of another implicit kind (a convolution): ``what`` needs explicit edges.
        """
        b = self.blocks[l]
        ts = range(b.shape[0]) if epoch is None else [epoch]
        if not isinstance(b, ImplicitBlock):
            return (b, self.theta[l]) if epoch is None else (b[epoch:epoch + 1], self.theta[l, epoch:epoch + 1])
        if not isinstance(b, (SparseBlock, DiagonalBlock)):  # DiagonalBlock includes IdentityBlock
            where = l if self.is_chain else self.pairs[l]
            raise InputError(f"{what} needs explicit edges but block {where} is an implicit "
                             f"{type(b).__name__}: {b.explicit_hint}")
        dense = np.zeros((len(ts),) + tuple(b.shape[1:]), dtype=np.float64)
        for k, t in enumerate(ts):
            r, c, v = b.edges(t, self.theta[l, t])
            dense[k, np.asarray(r, np.int64), np.asarray(c, np.int64)] = np.asarray(v, np.float64)
        return self.backend.xp.asarray(dense), np.zeros(len(ts))

    def block(self, i, j):
        """The block on the layer pair ``(i, j)``: an array of shape (n_i, n_j), (T, n_i, n_j) for an epoch
        stack, or an :class:`ImplicitBlock` (a view, not a copy; every weight, whatever the threshold).

        Raises
        ------
        InputError
            No block joins layers ``i`` and ``j``.
        """
        try:
            b = self.blocks[self.pairs.index((i, j))]
        except ValueError:
            raise InputError(f"no block joins layers {i} and {j}: the blocks are {list(self.pairs)}") from None
        return b if self.stacked or isinstance(b, ImplicitBlock) else b[0]

    @cached_property
    def n_nodes(self):
        """Total number of nodes ``N``."""
        return int(sum(self.sizes))

    @property
    def n_epochs(self):
        """``T`` for an epoch stack, ``None`` for a single network."""
        return int(self.blocks[0].shape[0]) if self.stacked else None

    @cached_property
    def offsets(self):
        """Node offsets ``o_l`` of every layer, plus ``N`` at the end (length ``L + 2``)."""
        return tuple(itertools.accumulate(self.sizes, initial=0))

    def layer_slice(self, l):
        """The slice of layer ``l``'s nodes in any per-node array (negative ``l`` counts from the end)."""
        n = self.n_layers
        if not -n <= l < n:
            raise InputError(f"layer {l} does not exist: this graph has layers 0..{n - 1}")
        l %= n
        o = self.offsets
        return slice(o[l], o[l + 1])

    def layer_of(self):
        """Layer index of every node, shape (N,)."""
        return np.repeat(np.arange(self.n_layers), self.sizes)

    @property
    def n_edges(self):
        """Number of kept edges (``|w| > θ``): an int, or an array of shape (T,) for an epoch stack."""
        s = node_sums(self)
        counts = s.in_sums[:, 0].sum(axis=1) + s.in_sums[:, 1].sum(axis=1)
        counts = np.rint(self.backend.to_numpy(counts)).astype(np.int64)
        return counts if self.stacked else int(counts[0])

    @property
    def device(self):
        """``"cpu"`` or ``"gpu"``."""
        return self.backend.device

    def to(self, device):
        """This graph on ``device`` (``"cpu"`` or ``"gpu"``); itself if it is there already.

        Raises
        ------
        DeviceError
            ``"gpu"`` on a machine without a CUDA device.
        """
        target = get_backend(device)
        if target is self.backend:
            return self
        src = self.backend

        def move(a):
            return target.xp.asarray(src.to_numpy(a)) if target.name == "gpu" else src.to_numpy(a)

        blocks = [b.to(target) if isinstance(b, ImplicitBlock) else move(b) for b in self.blocks]
        biases = None if self.biases is None else [move(b) for b in self.biases]
        return self._replace(blocks=blocks, biases=biases, backend=target)

    def epoch(self, t):
        """The single-epoch graph at index ``t`` of an epoch stack."""
        if not self.stacked:
            raise InputError("epoch(t) needs an epoch stack; this graph holds one network")
        T = self.n_epochs
        if not -T <= t < T:
            raise InputError(f"epoch {t} does not exist: the stack holds epochs 0..{T - 1}")
        t %= T
        blocks = [b.take(t) if isinstance(b, ImplicitBlock) else b[t : t + 1] for b in self.blocks]
        biases = None if self.biases is None else [b[t : t + 1] for b in self.biases]
        return self._replace(blocks=blocks, biases=biases, theta=self.theta[:, t : t + 1], stacked=False)

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
            ``round(ρ·E)`` edges are kept.
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
        """
        L, T = self.theta.shape
        out = np.zeros((L, T))
        to_np = self.backend.to_numpy
        for t in range(T):
            mags, counts = [], []
            for l, b in enumerate(self.blocks):
                if isinstance(b, ImplicitBlock):
                    a, c = b.weight_counts(t)
                    a = np.abs(a)
                else:
                    a, c = np.abs(to_np(b[t])).ravel(), None
                keep = a > self.theta[l, t]
                mags.append(a[keep])
                counts.append(None if c is None else np.asarray(c)[keep])
            groups = [[l] for l in range(L)] if per_block else [list(range(L))]
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


def chain_refusal(what, pairs, n_layers, instead=None):
    """The one-line refusal of ``what`` (a metric defined on chains only) for a graph with blocks on ``pairs``;
    ``instead``: the closing sentence that says what to use (default: the metrics defined on block DAGs)."""
    skips = tuple(p for p in pairs if p[1] > p[0] + 1)
    if skips:
        shown = ", ".join(map(str, skips[:4])) + (", ..." if len(skips) > 4 else "")
        why = f"it has skip blocks between non-consecutive layers {shown}"
    else:
        why = f"its blocks {list(pairs)} do not form a chain 0 -> 1 -> ... -> {n_layers - 1}"
    if instead is None:
        instead = ("Degree, strength, knn, n_edges, La Malfa's metrics, 3-node motifs, modularity, Louvain, "
                   "consensus, participation, module z-score, thresholds and exports work on them")
    return f"{what} is not yet supported on graphs with skip blocks: {why}. {instead}"


def _bias_stacks(biases, sizes, T, stacked, xp):
    """Validated biases of layers ``1..L`` (``biases[l]`` belongs to layer ``l+1``), each shape (T, n_{l+1})."""
    out = []
    for l, b in enumerate(biases):
        n = sizes[l + 1]
        if b is None:
            out.append(xp.zeros((T, n)))
            continue
        b = xp.asarray(b, dtype=xp.float64)
        given = tuple(b.shape)
        if b.ndim == 1:
            b = xp.broadcast_to(b, (T, b.shape[0]))
        if b.ndim != 2 or b.shape != (T, n):
            raise InputError(
                f"biases[{l}] has shape {given} but layer {l + 1} has {n} nodes"
                + (f" and the stack has {T} epochs" if stacked else "")
            )
        if not bool(xp.isfinite(b).all()):
            raise InputError(f"biases[{l}] holds NaN or infinite values")
        out.append(xp.ascontiguousarray(b))
    return out


def _top_fraction_cut(mags, counts, rho):
    """The largest magnitude not kept when the top ``round(ρ·n)`` of ``n`` edges are (0 keeps all).

    ``counts[i]`` is None where every magnitude is one edge, else the multiplicity of each magnitude.
    """
    a = np.concatenate(mags)
    if all(c is None for c in counts):
        k = int(round(rho * a.size))
        return 0.0 if k >= a.size else float(np.partition(a, a.size - k - 1)[a.size - k - 1])
    c = np.concatenate([np.ones(m.size, np.int64) if c is None else c for m, c in zip(mags, counts)])
    n = int(c.sum())
    k = int(round(rho * n))
    if k >= n:
        return 0.0
    order = np.argsort(a)[::-1]  # the (k+1)-th largest magnitude, counted with multiplicity
    return float(a[order][np.searchsorted(np.cumsum(c[order]), k, side="right")])


def _concat(blocks, xp):
    if isinstance(blocks[0], ImplicitBlock):
        return type(blocks[0]).concat(blocks)
    return xp.concatenate(blocks)


def _edge_values(v, sign):
    if sign == "net":
        return v
    if sign == "abs":
        return np.abs(v)
    if sign == "positive":
        return np.maximum(v, 0.0)
    if sign == "negative":
        return np.maximum(-v, 0.0)
    if sign == "binary":
        return np.ones_like(v)
    raise InputError(f"unknown sign {sign!r}: use net, abs, positive, negative or binary")


def takes_graph(func=None, *, skips=False):
    """Decorator of a public function whose first argument is a :class:`LayeredGraph`: anything else (an array,
    a list of weights) is one :class:`InputError` that says what is expected, not an ``AttributeError``.

    ``skips=True`` marks a function defined on every block DAG; without it a graph that is not a chain of
    blocks (skip blocks) is one :class:`InputError` naming the function (:meth:`LayeredGraph.require_chain`).
    Use as ``@takes_graph`` or ``@takes_graph(skips=True)``.
    """
    if func is None:
        return functools.partial(takes_graph, skips=skips)

    @functools.wraps(func)
    def checked(g, *args, **kwargs):
        if not isinstance(g, LayeredGraph):
            raise InputError(f"{checked.__name__} expects a LayeredGraph, got {type(g).__name__}: build one with "
                             "deepcnt.LayeredGraph.from_weights([W1, W2, ...])")
        if not skips:
            g.require_chain(checked.__name__)
        return func(g, *args, **kwargs)

    checked.supports_skips = skips
    return checked
