"""GPU twin of ``kernels.cpu.blockpass``: the fused masked sign-channel mat-vecs (numba.cuda).

Rows are reduced by one thread block per (epoch, row) with a shared-memory tree; columns by one thread per
(epoch, column), so that both read ``W`` coalesced. Accepts CuPy arrays on a device and numpy arrays under the
CUDA simulator.
"""
import math

from numba import cuda, float64

from .. import common, config

_RT = config.REDUCE_THREADS
_add_sign_channels = cuda.jit(device=True, inline="always")(common.add_sign_channels)
_store_sign_channels = cuda.jit(device=True, inline="always")(common.store_sign_channels)


@cuda.jit
def _rows_kernel(W, theta, x_col, row_out):
    t = cuda.blockIdx.y
    i = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = W.shape[2]
    sh = cuda.shared.array(shape=(4, _RT), dtype=float64)
    th = theta[t]
    rp = rm = rwp = rwm = 0.0
    j = tid
    while j < nt:
        rp, rm, rwp, rwm = _add_sign_channels(float64(W[t, i, j]), th, x_col[t, j], rp, rm, rwp, rwm)
        j += _RT
    sh[0, tid] = rp
    sh[1, tid] = rm
    sh[2, tid] = rwp
    sh[3, tid] = rwm
    cuda.syncthreads()
    step = _RT // 2
    while step > 0:
        if tid < step:
            for c in range(4):
                sh[c, tid] += sh[c, tid + step]
        cuda.syncthreads()
        step //= 2
    if tid < 4:
        row_out[t, tid, i] = sh[tid, 0]


@cuda.jit
def _cols_kernel(W, theta, x_row, col_out):
    j, t = cuda.grid(2)
    T, ns, nt = W.shape
    if j >= nt or t >= T:
        return
    th = theta[t]
    cp = cm = cwp = cwm = 0.0
    for i in range(ns):
        cp, cm, cwp, cwm = _add_sign_channels(float64(W[t, i, j]), th, x_row[t, i], cp, cm, cwp, cwm)
    _store_sign_channels(col_out, t, j, cp, cm, cwp, cwm)


def block_matvec(W, theta, x_row, x_col, row_out, col_out):
    """Row and column mat-vecs of the four masked sign channels of a block stack, in one call.

    Same contract as ``deepcnt.kernels.cpu.blockpass.block_matvec``:
    ``row_out[t,c,i] = Σ_j B_c[t,i,j] x_col[t,j]``, ``col_out[t,c,j] = Σ_i B_c[t,i,j] x_row[t,i]`` with
    ``B = (A⁺, A⁻, W⁺, W⁻)``.

    Parameters
    ----------
    W : array, shape (T, n_s, n_t), float32 or float64 (CuPy on a device, numpy under the simulator)
    theta : array, shape (T,), float64
    x_row : array, shape (T, n_s), float64
    x_col : array, shape (T, n_t), float64
    row_out : array, shape (T, 4, n_s), float64, overwritten
    col_out : array, shape (T, 4, n_t), float64, overwritten
    """
    T, ns, nt = W.shape
    if T == 0 or ns == 0 or nt == 0:
        return
    _rows_kernel[(ns, T), _RT](W, theta, x_col, row_out)
    tpb = config.THREADS_PER_BLOCK
    _cols_kernel[(math.ceil(nt / tpb), T), (tpb, 1)](W, theta, x_row, col_out)
