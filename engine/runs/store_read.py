"""Reading an epoch store: an entry's arrays, its graph, every graph, epoch-stacked graphs and the scalars
(part of :mod:`deepcnt.runs.store`).

:class:`_Reading` is a mixin of :class:`~deepcnt.runs.store.EpochStore`: its methods are the store's
(``store.graph(i)``, ``store.stack()``, ``store.scalars()`` ...).
"""
import numpy as np

from ..errors import InputError
from ..model.conv import block_from_spec
from ..model.diagonal import DiagonalBlock, IdentityBlock
from ..model.graph import LayeredGraph
from ..model.sparse import SparseBlock


class _Reading:
    """The reading methods of :class:`~deepcnt.runs.store.EpochStore`."""

    def read_arrays(self, i, member=None):
        """The raw arrays of entry ``i`` (reads only that entry).

        Returns
        -------
        weights : list, one per block (in the order of :attr:`pairs`)
            A dense block: shape (E, n_i, n_j) (or (n_i, n_j) for one ``member``); a convolution: its kernel
            (E, C_out, C_in/groups, kh, kw); a diagonal block: its diagonal (E, n) (or (n,)); a sparse block: a
            :class:`SparseBlock` of the E members as epochs (one epoch for one ``member``); an identity or a
            pooling layer: None
        biases : list of arrays, shape (E, n_l) (or (n_l,)) of layers 1..L, or None
        """
        i = self._pos(i)
        m = None if member is None else self._member(member)
        ws = [self._read_sparse(l, i, m) if kind == "sparse" else
              None if W is None else self._read_chunk(W, f"W{l}", i, m)
              for l, (W, kind) in enumerate(zip(self._W, self._kinds))]
        return ws, self._read_biases(i, m)

    def _read_biases(self, i, m):
        """The biases of entry ``i`` split per layer, or None for a store without biases."""
        if not self.has_biases:
            return None
        bcat = self._read_chunk(self._b, "b", i, m)
        return np.split(bcat, np.cumsum(self.sizes[1:])[:-1], axis=-1)

    def _member(self, member):
        E = self.n_members
        if not isinstance(member, (int, np.integer)) or not -E <= member < E:
            raise InputError(f"member {member!r} does not exist: this run has members 0..{E - 1}")
        return int(member) % E

    def graph(self, i, member=None):
        """Entry ``i`` as a :class:`LayeredGraph`: one network for ``member``; for ``member=None`` the one
        network of a single-member run, or the stack of all ``E`` members of an ensemble."""
        if member is None and self.n_members == 1:
            member = 0
        ws, bs = self.read_arrays(i, member)
        return self._graph_of(ws, bs, stacked=member is None, T=self.n_members if member is None else 1)

    def _graph_of(self, ws, bs, stacked, T):
        """The graph of blocks as read: dense arrays as they are, the others as their blocks."""
        blocks = []
        for l, (w, spec, kind) in enumerate(zip(ws, self.block_specs, self._kinds)):
            if kind in ("conv", "pool"):
                w = block_from_spec(spec, w, n_epochs=T, stacked=stacked)
            elif kind == "identity":
                w = IdentityBlock(self.sizes[self.pairs[l][0]], n_epochs=T, stacked=stacked)
            elif kind == "diagonal":
                w = DiagonalBlock(w, stacked=stacked)
            blocks.append(w)
        if not self._dag:
            return LayeredGraph.from_weights(blocks, biases=bs, layer_names=self.layer_names)
        return LayeredGraph.from_blocks(self.sizes, dict(zip(self.pairs, blocks)), biases=bs,
                                        layer_names=self.layer_names)

    def graphs(self, member=None):
        """Iterate over every entry as a :class:`LayeredGraph` (one entry read at a time)."""
        for i in range(len(self)):
            yield self.graph(i, member)

    __iter__ = graphs

    def stack(self, indices=None, member=0):
        """The entries ``indices`` (default all) of one member as one epoch-stacked :class:`LayeredGraph`
        (blocks of shape (T, n_i, n_j))."""
        idx = list(range(len(self))) if indices is None else [self._pos(i) for i in indices]
        if not idx:
            raise InputError(f"epoch store {self.path} has no entries to stack")
        m = self._member(member)
        # each entry is read straight into its slot of the stack (no per-entry temporary, no stacking copy)
        ws = [None if W is None else np.empty((len(idx),) + tuple(W.shape[2:]), dtype=self.dtype) for W in self._W]
        for t, i in enumerate(idx):
            for l, W in enumerate(self._W):
                if W is not None:
                    self._read_chunk(W, f"W{l}", i, m, out=ws[l][t])
        for l, kind in enumerate(self._kinds):
            if kind == "sparse":
                ws[l] = SparseBlock.concat([self._read_sparse(l, i, m) for i in idx])
        bs = None
        if self.has_biases:
            per = [self._read_biases(i, m) for i in idx]
            bs = [np.stack([p[l] for p in per]) for l in range(len(self.sizes) - 1)]
        return self._graph_of(ws, bs, stacked=True, T=len(idx))

    def stacks(self, size, member=0):
        """Iterate over T-epoch stacks of at most ``size`` entries (memory bounded by ``size`` epochs)."""
        if int(size) < 1:
            raise InputError(f"stack size must be >= 1, got {size}")
        for start in range(0, len(self), int(size)):
            yield self.stack(range(start, min(start + int(size), len(self))), member)

    def scalars(self):
        """Per-entry scalars: ``{name: array}``, shape (T,) for shared values or (T, E) for per-member values
        (NaN where an entry lacks the scalar)."""
        names = []
        for e in self._entries:
            for k in e["scalars"]:
                if k not in names:
                    names.append(k)
        out = {}
        for k in names:
            vals = [e["scalars"].get(k, np.nan) for e in self._entries]
            if any(isinstance(v, list) for v in vals):
                vals = [v if isinstance(v, list) else [v] * self.n_members for v in vals]
            out[k] = np.array(vals, dtype=np.float64)
        return out

    def scalars_frame(self):
        """The scalars as a tidy pandas DataFrame: one row per (entry, member)."""
        import pandas as pd

        sc = self.scalars()
        T, E = len(self), self.n_members
        cols = {"entry": np.repeat(np.arange(T), E), "epoch": np.repeat(self.epochs, E),
                "member": np.tile(np.arange(E), T)}
        for k, v in sc.items():
            cols[k] = (v if v.ndim == 2 else np.repeat(v[:, None], E, axis=1)).reshape(-1)
        return pd.DataFrame(cols)
