"""The fused pass over one weight block: masks, sign split and two mat-vecs, reading each weight once.

For a block ``W`` (``T`` epochs of ``n_s × n_t``) and threshold ``θ_t`` the four channels are
``A⁺ = 1[W > θ]``, ``A⁻ = 1[W < −θ]``, ``W⁺ = W·A⁺`` and ``W⁻ = −W·A⁻``. With ``x = 1`` the pass
gives every degree and strength variant; with ``x = k`` the numerators of k_nn.
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
    if W.size < config.PARALLEL_MIN_ELEMENTS:  # a parallel region costs more than the whole pass
        _block_matvec_serial(W, theta, x_row, x_col, row_out, col_out)
        return
    nchunks = max(1, min(ns, -(-numba.get_num_threads() // T)))
    _block_matvec(W, theta, x_row, x_col, row_out, col_out, nchunks)


@njit(parallel=True, cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _block_matvec(W, theta, x_row, x_col, row_out, col_out, nchunks):
    T, ns, nt = W.shape
    part = np.zeros((T * nchunks, 4, nt))
    for job in prange(T * nchunks):
        t = job // nchunks
        c = job - t * nchunks
        _rows(W, theta, x_row, x_col, row_out, part[job], t, (c * ns) // nchunks, ((c + 1) * ns) // nchunks)
    _sum_chunks(part, nchunks, col_out)


@njit(parallel=True, cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _sum_chunks(part, nchunks, col_out):
    """``col_out[t, c, j] = Σ_k part[t·nchunks + k, c, j]``: the column sums of the row chunks, in chunk order."""
    T, _, nt = col_out.shape
    for tc in prange(T * 4):
        t = tc // 4
        ch = tc - 4 * t
        for j in range(nt):
            s = 0.0
            for k in range(nchunks):
                s += part[t * nchunks + k, ch, j]
            col_out[t, ch, j] = s


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _block_matvec_serial(W, theta, x_row, x_col, row_out, col_out):
    T, ns, nt = W.shape
    part = np.empty((4, nt))
    for t in range(T):
        part[:] = 0.0
        _rows(W, theta, x_row, x_col, row_out, part, t, 0, ns)
        col_out[t] = part


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _rows(W, theta, x_row, x_col, row_out, part, t, r0, r1):
    """Rows ``r0..r1`` of epoch ``t``: their row sums into ``row_out``, column sums added to ``part`` (4, n_t)."""
    nt = W.shape[2]
    th = theta[t]
    cp = part[0]; cm = part[1]; cwp = part[2]; cwm = part[3]
    xc = x_col[t]
    i = r0
    # four rows at a time: their column contributions are summed in registers, so the column
    # accumulators (4 channels x n_t, float64) are read and written once per four weights
    while i + 4 <= r1:
        W0 = W[t, i]; W1 = W[t, i + 1]; W2 = W[t, i + 2]; W3 = W[t, i + 3]
        x0 = x_row[t, i]; x1 = x_row[t, i + 1]; x2 = x_row[t, i + 2]; x3 = x_row[t, i + 3]
        # row r's accumulators of the channels A+, A-, W+, W-: a_r, b_r, c_r, d_r
        a0 = b0 = c0 = d0 = 0.0
        a1 = b1 = c1 = d1 = 0.0
        a2 = b2 = c2 = d2 = 0.0
        a3 = b3 = c3 = d3 = 0.0
        for j in range(nt):
            xj = xc[j]
            w0 = np.float64(W0[j]); w1 = np.float64(W1[j]); w2 = np.float64(W2[j]); w3 = np.float64(W3[j])
            p0 = 1.0 if w0 > th else 0.0; m0 = 1.0 if w0 < -th else 0.0
            p1 = 1.0 if w1 > th else 0.0; m1 = 1.0 if w1 < -th else 0.0
            p2 = 1.0 if w2 > th else 0.0; m2 = 1.0 if w2 < -th else 0.0
            p3 = 1.0 if w3 > th else 0.0; m3 = 1.0 if w3 < -th else 0.0
            wp0 = w0*p0; wm0 = -w0*m0; wp1 = w1*p1; wm1 = -w1*m1
            wp2 = w2*p2; wm2 = -w2*m2; wp3 = w3*p3; wm3 = -w3*m3
            a0 += p0*xj; b0 += m0*xj; c0 += wp0*xj; d0 += wm0*xj
            a1 += p1*xj; b1 += m1*xj; c1 += wp1*xj; d1 += wm1*xj
            a2 += p2*xj; b2 += m2*xj; c2 += wp2*xj; d2 += wm2*xj
            a3 += p3*xj; b3 += m3*xj; c3 += wp3*xj; d3 += wm3*xj
            cp[j] += p0*x0 + p1*x1 + p2*x2 + p3*x3
            cm[j] += m0*x0 + m1*x1 + m2*x2 + m3*x3
            cwp[j] += wp0*x0 + wp1*x1 + wp2*x2 + wp3*x3
            cwm[j] += wm0*x0 + wm1*x1 + wm2*x2 + wm3*x3
        row_out[t,0,i]=a0; row_out[t,1,i]=b0; row_out[t,2,i]=c0; row_out[t,3,i]=d0
        row_out[t,0,i+1]=a1; row_out[t,1,i+1]=b1; row_out[t,2,i+1]=c1; row_out[t,3,i+1]=d1
        row_out[t,0,i+2]=a2; row_out[t,1,i+2]=b2; row_out[t,2,i+2]=c2; row_out[t,3,i+2]=d2
        row_out[t,0,i+3]=a3; row_out[t,1,i+3]=b3; row_out[t,2,i+3]=c3; row_out[t,3,i+3]=d3
        i += 4
    while i < r1:  # the remaining rows, one at a time
        Wi = W[t, i]; xi = x_row[t, i]
        rp = rm = rwp = rwm = 0.0
        for j in range(nt):
            w = np.float64(Wi[j])
            ap = 1.0 if w > th else 0.0
            am = 1.0 if w < -th else 0.0
            wp = w * ap; wm = -w * am; xj = xc[j]
            rp += ap * xj; rm += am * xj; rwp += wp * xj; rwm += wm * xj
            cp[j] += ap * xi; cm[j] += am * xi; cwp[j] += wp * xi; cwm[j] += wm * xi
        row_out[t,0,i]=rp; row_out[t,1,i]=rm; row_out[t,2,i]=rwp; row_out[t,3,i]=rwm
        i += 1
