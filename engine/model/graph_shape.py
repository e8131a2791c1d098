"""The shape of a :class:`~deepcnt.model.graph.LayeredGraph` (part of :mod:`deepcnt.model.graph`).

:class:`_Shape` is a mixin of ``LayeredGraph``: layers, blocks and pairs (``is_chain``, ``require_chain``, a
block by its pair, a kept block as a dense stack, a block's learnt weights and its matrix for products), nodes
and their layer slices, the number of edges and epochs, the device (``to``) and one epoch of a stack
(``epoch``). :func:`chain_refusal` is the one-line refusal of a metric defined on chains only.
"""
import itertools
from functools import cached_property

import numpy as np

from ..backend import get_backend, to_host
from ..errors import InputError
from .blocks import ImplicitBlock
from .diagonal import DiagonalBlock, IdentityBlock
from .sparse import SparseBlock
from .sums import node_sums


class _Shape:
    """Layers, blocks, nodes, epochs and device of a graph (mixed into ``LayeredGraph``)."""

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
        exports, 3- and 4-node motifs, modularity, Louvain, consensus, participation, module z-score, weight
        statistics, receptive fields, the forward pass, the Zambra colours) do not call
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
            self._refuse_opaque(l, what)
        dense = np.zeros((len(ts),) + tuple(b.shape[1:]), dtype=np.float64)
        for k, t in enumerate(ts):
            r, c, v = b.edges(t, self.theta[l, t])
            dense[k, np.asarray(r, np.int64), np.asarray(c, np.int64)] = np.asarray(v, np.float64)
        return self.backend.xp.asarray(dense), np.zeros(len(ts))

    def _refuse_opaque(self, l, what, need="explicit edges"):
        """Raise the one-line refusal of block ``l`` (a convolution, pooling: not expanded) for ``what``."""
        b = self.blocks[l]
        where = l if self.is_chain else self.pairs[l]
        raise InputError(f"{what} needs {need} but block {where} is an implicit {type(b).__name__}: "
                         f"{b.explicit_hint}")

    def learnt_weights(self, l, what):
        """The learnt weights of block ``l`` in every epoch, for the weight statistics (histograms, moments,
        colour fits): ``None`` for an identity (a skip has no weights of its own), else ``(values, valid)``.

        ``values`` has shape (T, m) on the graph's device: every entry of a dense block (zeros included), the
        diagonal ``d`` of a diagonal block (a folded norm scale), the stored entries of a sparse block (its
        remaining weights; epochs with fewer entries are padded). ``valid`` is None, or a (T, m) bool array
        marking the real entries where a sparse block's epochs differ in size. Thresholds are ignored.

        Raises
        ------
        InputError
            A convolution or pooling block: ``what`` needs explicit weights.
        """
        b = self.blocks[l]
        xp = self.backend.xp
        if isinstance(b, IdentityBlock):
            return None
        if not isinstance(b, ImplicitBlock):
            return b.reshape(b.shape[0], -1), None
        if isinstance(b, DiagonalBlock):
            return b.d, None
        if not isinstance(b, SparseBlock):
            self._refuse_opaque(l, what, "explicit weights")
        if b.data.size == 0:
            return xp.zeros((b.shape[0], 0), dtype=b.dtype), None
        p = to_host(b.indptr)
        start, nnz = p[:, 0], p[:, -1] - p[:, 0]
        pos = np.arange(int(nnz.max()))
        valid = pos[None, :] < nnz[:, None]
        idx = np.where(valid, start[:, None] + pos[None, :], 0)
        values = xp.take(b.data, xp.asarray(idx))
        return values, (None if valid.all() else xp.asarray(valid))

    def operator(self, l, t, what):
        """Block ``l`` of epoch ``t`` as a host float64 matrix ``B`` (n_i, n_j) for products ``X @ B``: the dense
        array, or a ``scipy.sparse`` CSR matrix of a sparse, identity or diagonal block. Every weight, whatever
        the threshold.

        Raises
        ------
        InputError
            A convolution or pooling block: ``what`` needs explicit weights.
        """
        import scipy.sparse as sp

        b = self.blocks[l]
        if not isinstance(b, ImplicitBlock):
            return np.asarray(to_host(b[t]), dtype=np.float64)
        if not isinstance(b, (SparseBlock, DiagonalBlock)):
            self._refuse_opaque(l, what, "explicit weights")
        r, c, v = b.edges(t, -1.0)
        return sp.csr_matrix((np.asarray(v, np.float64), (r, c)), shape=tuple(b.shape[1:]))

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
        instead = ("Degree, strength, knn, n_edges, La Malfa's metrics, 3- and 4-node motifs, modularity, Louvain, "
                   "consensus, participation, module z-score, weight statistics, receptive fields, thresholds and "
                   "exports work on them")
    return f"{what} is not yet supported on graphs with skip blocks: {why}. {instead}"
