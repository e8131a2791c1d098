"""Sparse (CSR) weight blocks: a pruned network, or a thresholded graph held in O(kept edges).

A :class:`SparseBlock` holds an epoch stack as three arrays: ``indptr`` of shape ``(T, n_in + 1)`` (row ``i`` of
epoch ``t`` is ``indptr[t, i]:indptr[t, i + 1]``, absolute offsets) and ``indices``, ``data`` shared by all
epochs, so each epoch keeps its own set of entries. A stored entry is an edge where ``|w| > θ`` like any weight
(an explicitly stored zero is no edge). The fused block pass runs ``kernels.*.sparse.csr_matvec``.
"""
import numpy as np

from ..backend import to_host
from ..errors import InputError
from .blocks import ImplicitBlock
from .blocks import array_module as _xp


def _csr_of(m, what):
    """A canonical host CSR matrix (duplicates summed, zeros dropped) of a scipy matrix or a 2-D array."""
    import scipy.sparse as sp

    if sp.issparse(m):
        m = sp.csr_matrix(m, copy=True)
    else:
        a = to_host(m) if hasattr(m, "dtype") else np.asarray(m)
        if a.ndim != 2:
            raise InputError(f"{what} has shape {tuple(a.shape)}: expected a 2-D matrix (n_in, n_out)")
        m = sp.csr_matrix(a)
    if m.dtype.kind not in "biuf":
        raise InputError(f"{what} has dtype {m.dtype}: weights must be real numbers")
    m.sum_duplicates()
    m.eliminate_zeros()
    if not np.isfinite(m.data).all():
        raise InputError(f"{what} holds NaN or infinite weights: clean the checkpoint or drop the epoch first")
    return m


class SparseBlock(ImplicitBlock):
    """A weight block held as CSR per epoch.

    Parameters
    ----------
    matrices : scipy.sparse matrix or 2-D array, or a sequence of them or a 3-D array (an epoch stack)
        ``m[a, b]`` is the weight from node ``a`` of the source layer to node ``b`` of the target layer
        (PyTorch's ``Linear.weight`` is the transpose). Duplicates are summed, stored zeros dropped.

    Attributes
    ----------
    shape : (T, n_in, n_out)
    indptr : array, shape (T, n_in + 1), int64
    indices : array, shape (nnz,), int32 (int64 for more than 2^31 columns)
    data : array, shape (nnz,), float32 or float64
    """

    kind = "sparse"
    folds = True

    def __init__(self, matrices):
        if getattr(matrices, "ndim", 0) == 3 and hasattr(matrices, "dtype"):  # a dense epoch stack
            matrices = list(matrices)
        one = not isinstance(matrices, (list, tuple))
        mats = [_csr_of(m, "a sparse block" if one else f"epoch {t} of a sparse block")
                for t, m in enumerate([matrices] if one else matrices)]
        if not mats:
            raise InputError("a sparse block needs at least one epoch")
        shape = mats[0].shape
        for t, m in enumerate(mats):
            if m.shape != shape:
                raise InputError(f"epoch {t} of a sparse block has shape {m.shape} but epoch 0 has {shape}")
        if min(shape) < 1:
            raise InputError(f"a sparse block has an empty axis: shape {shape}")
        dtype = np.result_type(*[m.dtype for m in mats])
        if dtype.kind != "f" or dtype.itemsize > 8:
            dtype = np.dtype(np.float64)
        elif dtype.itemsize < 4:
            dtype = np.dtype(np.float32)
        itype = np.int32 if shape[1] < 2**31 else np.int64
        starts = np.cumsum([0] + [m.nnz for m in mats])
        indptr = np.stack([m.indptr.astype(np.int64) + s for m, s in zip(mats, starts)])
        indices = np.concatenate([m.indices for m in mats]).astype(itype, copy=False)
        data = np.concatenate([m.data for m in mats]).astype(dtype, copy=False)
        self._set(indptr, indices, data, shape[1], stacked=not one)

    @classmethod
    def from_arrays(cls, indptr, indices, data, n_out, stacked):
        """A block from its three arrays as held (no validation beyond shapes: for moving and slicing)."""
        b = cls.__new__(cls)
        b._set(indptr, indices, data, n_out, stacked)
        return b

    def _set(self, indptr, indices, data, n_out, stacked):
        self.indptr, self.indices, self.data = indptr, indices, data
        self.shape = (int(indptr.shape[0]), int(indptr.shape[1]) - 1, int(n_out))
        self.dtype = data.dtype
        self.stacked = bool(stacked)
        self._min_abs = None  # per epoch, when first asked (keeps_all)

    @property
    def array(self):
        """The stored weights (tells which device the block lives on)."""
        return self.data

    @property
    def nnz(self):
        """Stored entries of every epoch, shape (T,)."""
        p = to_host(self.indptr)
        return p[:, -1] - p[:, 0]

    def keeps_all(self, theta):
        """Whether every stored entry of every epoch is an edge at the thresholds ``theta`` (T,): ``|w| > θ_t``
        for all of them, so the stored pattern is the graph (a pruned block at θ = 0). The smallest ``|w|``
        of each epoch is found once, on the first call."""
        if self._min_abs is None:
            xp = _xp(self.data)
            p = to_host(self.indptr)
            self._min_abs = np.array([float(xp.abs(self.data[r0:r1]).min()) if r1 > r0 else np.inf
                                      for r0, r1 in zip(p[:, 0].tolist(), p[:, -1].tolist())])
        return bool((self._min_abs > to_host(theta)).all())

    def __repr__(self):
        return f"SparseBlock(shape={self.shape[1:]}, epochs={self.shape[0]}, nnz={self.nnz.tolist()})"

    def _epoch(self, t):
        p = to_host(self.indptr[t])
        r0, r1 = int(p[0]), int(p[-1])
        return p - r0, r0, r1

    # ------------------------------------------------------------------ ImplicitBlock contract
    def block_matvec(self, theta, x_row, x_col, row_out, col_out, backend, fold=None, add=False):
        """The four masked sign-channel mat-vecs (``kernels.*.sparse.csr_matvec``), shapes as ``block_matvec``;
        ``fold``: only the one or two sums it names (shapes (T, n) or (T, 2, n)); ``add``: added to the
        outputs. k_nn's count (``fold="count"``) reads the indices alone where every stored entry is kept."""
        data = None if fold == "count" and self.keeps_all(theta) else self.data
        backend.kernel("sparse").csr_matvec(self.indptr, self.indices, data, theta, x_row, x_col, row_out,
                                            col_out, fold, add)

    def edges(self, t, theta):
        p, r0, r1 = self._epoch(t)
        v = to_host(self.data[r0:r1]).astype(np.float64)
        rows = np.repeat(np.arange(self.shape[1], dtype=np.int64), np.diff(p))
        cols = to_host(self.indices[r0:r1]).astype(np.int64)
        keep = np.abs(v) > theta
        return rows[keep], cols[keep], v[keep]

    def weight_counts(self, t):
        _, r0, r1 = self._epoch(t)
        v = to_host(self.data[r0:r1]).astype(np.float64)
        return v, np.ones(v.size, dtype=np.int64)

    def take(self, t):
        p, r0, r1 = self._epoch(t)
        xp = _xp(self.data)
        return SparseBlock.from_arrays(xp.asarray(p)[None], self.indices[r0:r1], self.data[r0:r1], self.shape[2],
                                       stacked=False)

    @classmethod
    def concat(cls, blocks):
        first = blocks[0]
        if any(not isinstance(b, SparseBlock) or b.shape[1:] != first.shape[1:] for b in blocks):
            raise InputError("cannot stack sparse blocks of different shapes")
        xp = _xp(first.data)
        ptrs, start = [], 0
        for b in blocks:
            ptrs.append(b.indptr - b.indptr[0, 0] + start)
            start += int(b.nnz.sum())
        itype = np.result_type(*[b.indices.dtype for b in blocks])
        return cls.from_arrays(xp.concatenate(ptrs), xp.concatenate([b.indices for b in blocks]).astype(itype),
                               xp.concatenate([b.data for b in blocks]), first.shape[2], stacked=True)

    def to(self, backend):
        move = (lambda a: backend.xp.asarray(to_host(a))) if backend.name == "gpu" else to_host
        return SparseBlock.from_arrays(move(self.indptr), move(self.indices), move(self.data), self.shape[2],
                                       self.stacked)
