"""The fused masked sign-channel mat-vecs of a CSR block stack (a pruned or thresholded block held sparse).

Epoch ``t``'s rows are ``indptr[t]``: absolute offsets into one ``indices``/``data`` pair shared by all
epochs, so an epoch stack is three arrays and each epoch may keep a different set of entries. The channels
are those of ``blockpass.block_matvec`` (``A⁺, A⁻, W⁺, W⁻`` with ``|w| > θ_t``): O(stored entries) work and
O(units) extra memory (one column accumulator per chunk of rows).

Each stored entry is read once and its four channel values are formed without a branch (a weight's sign is a
coin flip in a trained network: the branchy split mispredicted on half the entries and ran 2.4× slower); a
chunk's column accumulator holds a column's four channels side by side (``(n_t, 4)``), so the scatter of an
entry touches one cache line, not four.
"""
import numba
import numpy as np
from numba import njit, prange

from .. import config
from .blockpass import _sum_chunks


def csr_matvec(indptr, indices, data, theta, x_row, x_col, row_out, col_out):
    """Row and column mat-vecs of the four masked sign channels of a CSR block stack.

    .. math::
        \\mathrm{row\\_out}[t,c,i] = \\sum_j B_c[t,i,j]\\, x\\_col[t,j], \\qquad
        \\mathrm{col\\_out}[t,c,j] = \\sum_i B_c[t,i,j]\\, x\\_row[t,i]

    Parameters
    ----------
    indptr : array, shape (T, n_s + 1), int64: row ``i`` of epoch ``t`` is ``indptr[t, i]:indptr[t, i+1]``
    indices : array, shape (nnz,), int32 or int64, the column of each stored entry
    data : array, shape (nnz,), float32 or float64
    theta : array, shape (T,), float64
    x_row : array, shape (T, n_s), float64
    x_col : array, shape (T, n_t), float64
    row_out : array, shape (T, 4, n_s), float64, overwritten
    col_out : array, shape (T, 4, n_t), float64, overwritten
    """
    T = indptr.shape[0]
    ns = indptr.shape[1] - 1
    row_out[...] = 0.0
    col_out[...] = 0.0
    if T == 0 or ns == 0:
        return
    nnz = int(indptr[-1, -1] - indptr[0, 0])
    if nnz < config.PARALLEL_MIN_ELEMENTS:  # a parallel region costs more than the whole pass
        _csr_serial(indptr, indices, data, theta, x_row, x_col, row_out, col_out)
        return
    nchunks = max(1, min(ns, -(-numba.get_num_threads() // T)))
    _csr_parallel(indptr, indices, data, theta, x_row, x_col, row_out, col_out, nchunks)


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _rows(indptr, indices, data, theta, x_row, x_col, row_out, part, t, r0, r1):
    """Rows ``r0..r1`` of epoch ``t``: row sums into ``row_out``, column sums added to ``part`` (n_t, 4)."""
    th = theta[t]
    xc = x_col[t]
    for i in range(r0, r1):
        xi = x_row[t, i]
        rp = rm = rwp = rwm = 0.0
        # unsigned positions: Numba then emits no negative-index wraparound in the loop (10% of its time)
        for e in range(np.uint64(indptr[t, i]), np.uint64(indptr[t, i + 1])):
            j = np.uint64(indices[e])
            w = np.float64(data[e])
            ap = 1.0 if w > th else 0.0  # selects, not branches
            am = 1.0 if w < -th else 0.0
            wp = w * ap
            wm = -w * am
            xj = xc[j]
            rp += ap * xj
            rm += am * xj
            rwp += wp * xj
            rwm += wm * xj
            part[j, 0] += ap * xi
            part[j, 1] += am * xi
            part[j, 2] += wp * xi
            part[j, 3] += wm * xi
        row_out[t, 0, i] = rp
        row_out[t, 1, i] = rm
        row_out[t, 2, i] = rwp
        row_out[t, 3, i] = rwm


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _csr_serial(indptr, indices, data, theta, x_row, x_col, row_out, col_out):
    T = indptr.shape[0]
    ns = indptr.shape[1] - 1
    part = np.empty((col_out.shape[2], 4))
    for t in range(T):
        part[:] = 0.0
        _rows(indptr, indices, data, theta, x_row, x_col, row_out, part, t, 0, ns)
        col_out[t] = part.T


@njit(parallel=True, cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _csr_parallel(indptr, indices, data, theta, x_row, x_col, row_out, col_out, nchunks):
    T = indptr.shape[0]
    ns = indptr.shape[1] - 1
    nt = col_out.shape[2]
    part = np.zeros((T * nchunks, nt, 4))
    for job in prange(T * nchunks):
        t = job // nchunks
        c = job - t * nchunks
        _rows(indptr, indices, data, theta, x_row, x_col, row_out, part[job], t, (c * ns) // nchunks,
              ((c + 1) * ns) // nchunks)
    _sum_chunks(part.transpose(0, 2, 1), nchunks, col_out)  # the column sums of the row chunks, in chunk order
