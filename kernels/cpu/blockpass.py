"""The fused pass over one weight block: masks, sign split and two mat-vecs, reading each weight once.

For a block ``W`` (``T`` epochs of ``n_s × n_t``) and threshold ``θ_t`` the four channels are
``A⁺ = 1[W > θ]``, ``A⁻ = 1[W < −θ]``, ``W⁺ = W·A⁺`` and ``W⁻ = −W·A⁻`` (spec §0, §1). With ``x = 1`` the pass
gives every degree and strength variant; with ``x = k`` the numerators of k_nn (spec §2).
"""
import numba
import numpy as np
from numba import njit, prange

from .. import config


def block_matvec(W, theta, x_row, x_col, row_out, col_out):
    """Row and column mat-vecs of the four masked sign channels of a block stack, in one read of ``W``.

    .. math::
        \\mathrm{row\\_out}[t,c,i] = \\sum_j B_c[t,i,j]\\, x\\_col[t,j], \\qquad
        \\mathrm{col\\_out}[t,c,j] = \\sum_i B_c[t,i,j]\\, x\\_row[t,i]

    with ``B_0 = A⁺, B_1 = A⁻, B_2 = W⁺, B_3 = W⁻`` (channel order in ``config``).

    Parameters
    ----------
    W : array, shape (T, n_s, n_t), float32 or float64, C-contiguous
    theta : array, shape (T,), float64, θ ≥ 0 per epoch (θ = 0 keeps every non-zero weight)
    x_row : array, shape (T, n_s), float64
    x_col : array, shape (T, n_t), float64
    row_out : array, shape (T, 4, n_s), float64, overwritten
    col_out : array, shape (T, 4, n_t), float64, overwritten
    """
    T, ns, nt = W.shape
    if T == 0 or ns == 0 or nt == 0:
        return
    # rows are split into chunks, each with its own column accumulators: enough jobs for every thread
    nchunks = max(1, min(ns, -(-numba.get_num_threads() // T)))
    _block_matvec(W, theta, x_row, x_col, row_out, col_out, nchunks)


@njit(parallel=True, cache=config.CACHE, fastmath=config.FASTMATH)
def _block_matvec(W, theta, x_row, x_col, row_out, col_out, nchunks):
    T, ns, nt = W.shape
    part = np.zeros((T * nchunks, 4, nt))
    for job in prange(T * nchunks):
        t = job // nchunks
        c = job - t * nchunks
        r0 = (c * ns) // nchunks
        r1 = ((c + 1) * ns) // nchunks
        th = theta[t]
        cp = part[job, 0]
        cm = part[job, 1]
        cwp = part[job, 2]
        cwm = part[job, 3]
        xc = x_col[t]
        for i in range(r0, r1):
            xi = x_row[t, i]
            rp = 0.0
            rm = 0.0
            rwp = 0.0
            rwm = 0.0
            Wi = W[t, i]
            for j in range(nt):
                w = np.float64(Wi[j])
                ap = 1.0 if w > th else 0.0
                am = 1.0 if w < -th else 0.0
                wp = w * ap
                wm = -w * am
                xj = xc[j]
                rp += ap * xj
                rm += am * xj
                rwp += wp * xj
                rwm += wm * xj
                cp[j] += ap * xi
                cm[j] += am * xi
                cwp[j] += wp * xi
                cwm[j] += wm * xi
            row_out[t, 0, i] = rp
            row_out[t, 1, i] = rm
            row_out[t, 2, i] = rwp
            row_out[t, 3, i] = rwm
    for tc in prange(T * 4):
        t = tc // 4
        ch = tc - 4 * t
        for j in range(nt):
            s = 0.0
            for k in range(nchunks):
                s += part[t * nchunks + k, ch, j]
            col_out[t, ch, j] = s
