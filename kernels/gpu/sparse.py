"""GPU twin of ``kernels.cpu.sparse``: masked sign-channel mat-vecs of a CSR block stack (numba.cuda).

One thread per (epoch, row) sums its row and scatters its column contributions with atomic adds. Accepts
CuPy arrays on a device and numpy arrays under the CUDA simulator.
"""
import math

from numba import cuda, float64

from .. import common, config
from .folds import cupy_or_numpy, deliver, four_channel_buffers

_add_sign_channels = cuda.jit(device=True, inline="always")(common.add_sign_channels)
_store_sign_channels = cuda.jit(device=True, inline="always")(common.store_sign_channels)


@cuda.jit
def _csr_kernel(indptr, indices, data, theta, x_row, x_col, row_out, col_out):
    i, t = cuda.grid(2)
    if t >= indptr.shape[0] or i >= indptr.shape[1] - 1:
        return
    th = theta[t]
    xi = x_row[t, i]
    rp = rm = rwp = rwm = 0.0
    for e in range(indptr[t, i], indptr[t, i + 1]):
        j = indices[e]
        w = float64(data[e])
        rp, rm, rwp, rwm = _add_sign_channels(w, th, x_col[t, j], rp, rm, rwp, rwm)
        if w > th:
            cuda.atomic.add(col_out, (t, 0, j), xi)
            cuda.atomic.add(col_out, (t, 2, j), w * xi)
        elif w < -th:
            cuda.atomic.add(col_out, (t, 1, j), xi)
            cuda.atomic.add(col_out, (t, 3, j), -w * xi)
    _store_sign_channels(row_out, t, i, rp, rm, rwp, rwm)


def csr_matvec(indptr, indices, data, theta, x_row, x_col, row_out, col_out, fold=None, add=False):
    """Row and column mat-vecs of the four masked sign channels of a CSR block stack (or of a ``fold``).

    Same contract as ``deepcnt.kernels.cpu.sparse.csr_matvec``; here the four channels are summed with
    atomic adds and then folded (``kernels.gpu.folds``).

    Parameters
    ----------
    indptr : array, shape (T, n_s + 1), int64 (absolute offsets into ``indices``/``data``)
    indices : array, shape (nnz,), int32 or int64
    data : array, shape (nnz,), float32 or float64; or ``None`` with ``fold="count"``: every stored entry kept
    theta : array, shape (T,), float64
    x_row : array, shape (T, n_s), float64
    x_col : array, shape (T, n_t), float64
    row_out : array, shape (T, 4, n_s), float64; (T, n_s) or (T, 2, n_s) with a ``fold``
    col_out : array, shape (T, 4, n_t), float64; (T, n_t) or (T, 2, n_t) with a ``fold``
    fold : {None, "count", "abs", "count+net"}
    add : bool
        Add to the outputs instead of overwriting them.
    """
    row, col = four_channel_buffers(row_out, col_out, fold, add)
    if data is None:  # the stored pattern: every entry an edge (weight 1 > θ: its count is all that is read)
        if fold != "count":
            raise ValueError(f"data=None (the stored pattern) gives only fold='count', not {fold!r}")
        data = cupy_or_numpy(indices).ones(indices.shape[0])
        theta = theta * 0.0
    row[...] = 0.0
    col[...] = 0.0
    T = indptr.shape[0]
    ns = indptr.shape[1] - 1
    if T > 0 and ns > 0:
        tpb = config.THREADS_PER_BLOCK
        _csr_kernel[(math.ceil(ns / tpb), T), (tpb, 1)](indptr, indices, data, theta, x_row, x_col, row, col)
    deliver(row, col, row_out, col_out, fold, add)
