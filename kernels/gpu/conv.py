"""GPU twin of ``kernels.cpu.conv``: masked sign-channel mat-vecs of a convolution's unrolled graph (numba.cuda).

One thread per (epoch, unit) gathers over the kernel entries that touch its unit, so no two threads write the
same output and no atomics are needed: output units gather from the input positions under their window;
input units gather from the output positions whose window covers them (``(y + p − k·d)`` divisible by the
stride). Accepts CuPy arrays on a device and numpy arrays under the CUDA simulator.
"""
import math

from numba import cuda, float64

from .. import common, config
from .folds import deliver, four_channel_buffers

_add_sign_channels = cuda.jit(device=True, inline="always")(common.add_sign_channels)
_store_sign_channels = cuda.jit(device=True, inline="always")(common.store_sign_channels)
_unit = cuda.jit(device=True, inline="always")(common.unravel3)  # unit -> (channel, y, x)


@cuda.jit
def _cols_kernel(K, geom, theta, x_row, col_out):
    j, t = cuda.grid(2)
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, groups = geom
    if j >= C_out * Ho * Wo or t >= K.shape[0]:
        return
    co, oy, ox = _unit(j, Ho, Wo)
    cin_g = C_in // groups
    g = co // (C_out // groups)
    th = theta[t]
    cp = cm = cwp = cwm = 0.0
    for cl in range(cin_g):
        base = (g * cin_g + cl) * H * W
        for ky in range(kh):
            iy = oy * sh - ph + ky * dh
            if iy < 0 or iy >= H:
                continue
            for kx in range(kw):
                ix = ox * sw - pw + kx * dw
                if ix < 0 or ix >= W:
                    continue
                xv = x_row[t, base + iy * W + ix]
                cp, cm, cwp, cwm = _add_sign_channels(float64(K[t, co, cl, ky, kx]), th, xv, cp, cm, cwp, cwm)
    _store_sign_channels(col_out, t, j, cp, cm, cwp, cwm)


@cuda.jit
def _rows_kernel(K, geom, theta, x_col, row_out):
    i, t = cuda.grid(2)
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, groups = geom
    if i >= C_in * H * W or t >= K.shape[0]:
        return
    ci, iy, ix = _unit(i, H, W)
    cin_g = C_in // groups
    cout_g = C_out // groups
    g = ci // cin_g
    cl = ci - g * cin_g
    th = theta[t]
    rp = rm = rwp = rwm = 0.0
    for co in range(g * cout_g, (g + 1) * cout_g):
        base = co * Ho * Wo
        for ky in range(kh):
            ny = iy + ph - ky * dh
            if ny < 0 or ny % sh != 0 or ny // sh >= Ho:
                continue
            oy = ny // sh
            for kx in range(kw):
                nx = ix + pw - kx * dw
                if nx < 0 or nx % sw != 0 or nx // sw >= Wo:
                    continue
                xv = x_col[t, base + oy * Wo + nx // sw]
                rp, rm, rwp, rwm = _add_sign_channels(float64(K[t, co, cl, ky, kx]), th, xv, rp, rm, rwp, rwm)
    _store_sign_channels(row_out, t, i, rp, rm, rwp, rwm)


def conv_matvec(K, geom, theta, x_row, x_col, row_out, col_out, fold=None, add=False):
    """Row and column mat-vecs of the four masked sign channels of a convolution stack.

    Same contract as ``deepcnt.kernels.cpu.conv.conv_matvec``:
    ``row_out[t,c,i] = Σ_j B_c[t,i,j] x_col[t,j]``, ``col_out[t,c,j] = Σ_i B_c[t,i,j] x_row[t,i]`` with
    ``B = (A⁺, A⁻, W⁺, W⁻)`` of the unrolled convolution (threshold on the kernel entries).

    Parameters
    ----------
    K : array, shape (T, C_out, C_in/groups, kh, kw), float32 or float64
    geom : tuple of 15 int ``(C_in, H, W, C_out, H_out, W_out, kh, kw, s_h, s_w, p_h, p_w, d_h, d_w, groups)``
    theta : array, shape (T,), float64
    x_row : array, shape (T, C_in·H·W), float64
    x_col : array, shape (T, C_out·H_out·W_out), float64
    row_out : array, shape (T, 4, C_in·H·W), float64, overwritten
    col_out : array, shape (T, 4, C_out·H_out·W_out), float64, overwritten
    fold : {None, "count", "abs", "count+net"}
        Only ``A⁺ + A⁻`` or ``W⁺ + W⁻``, into ``row_out`` (T, C_in·H·W) and ``col_out`` (T, C_out·H_out·W_out);
        ``"count+net"``: ``A⁺ + A⁻`` and ``W⁺ − W⁻``, outputs (T, 2, ·).
        Here the four channels are gathered in the same pass and then added.
    add : bool
        Add the sums to the outputs instead of overwriting them.
    """
    T = K.shape[0]
    if T == 0:
        return
    geom = tuple(int(v) for v in geom)
    n_in = geom[0] * geom[1] * geom[2]
    n_out = geom[3] * geom[4] * geom[5]
    tpb = config.THREADS_PER_BLOCK
    row, col = four_channel_buffers(row_out, col_out, fold, add)
    _cols_kernel[(math.ceil(n_out / tpb), T), (tpb, 1)](K, geom, theta, x_row, col)
    _rows_kernel[(math.ceil(n_in / tpb), T), (tpb, 1)](K, geom, theta, x_col, row)
    deliver(row, col, row_out, col_out, fold, add)
