"""GPU twin of ``kernels.cpu.blockpass``: the fused masked sign-channel mat-vecs, reading each weight once.

The block ``W[t]`` is cut into tiles of ``rows_per_tile × (LANES·VEC)`` weights, one thread block per tile:
``WARPS × LANES`` threads, a warp per row at a time, each lane holding ``VEC`` columns (``LANES`` apart, so a
warp's loads are coalesced). Each weight read feeds both sums:

* its **row** contribution is summed over the warp's lanes (a warp shuffle) into one partial per (row, column
  tile), ``row_part[t, c, i, column tile]``;
* its **column** contribution stays in the lane's registers over the tile's rows, then the warps of the block
  add theirs (shared memory) into one partial per (column, row tile), ``col_part[t, c, j, row tile]``.

A small kernel then adds each sum's partials in a fixed order, so results do not depend on scheduling (no
atomics). The partials cost about ``8·4 / (4·LANES·VEC)`` and ``8·4 / (4·rows_per_tile)`` of the weights' bytes.
Accepts CuPy arrays on a device and numpy arrays under the CUDA simulator, where the warp shuffle (which the
simulator lacks) is replaced by the same sum through shared memory.
"""
import math

import numpy as np
from numba import cuda, float64

from .. import common, config

_add_sign_channels = cuda.jit(device=True, inline="always")(common.add_sign_channels)
_add_sign_channels_at = cuda.jit(device=True, inline="always")(common.add_sign_channels_at)
_store_sign_channels = cuda.jit(device=True, inline="always")(common.store_sign_channels)
_SIM = config._SIMULATOR
#: Lanes per warp (the hardware's 32; 4 under the simulator, whose every thread is a Python thread).
LANES = 4 if _SIM else 32
#: Warps per thread block.
WARPS = 2 if _SIM else 8
#: Columns per lane.
VEC = 2 if _SIM else 4
_FULL_MASK = 0xFFFFFFFF


@cuda.jit(device=True, inline="always")
def _warp_sum4_shuffle(a, b, c, d, scratch, w, lane):
    """The four values summed over the warp's lanes (exact in lane 0): a butterfly of shuffles."""
    off = LANES // 2
    while off > 0:
        a += cuda.shfl_down_sync(_FULL_MASK, a, off)
        b += cuda.shfl_down_sync(_FULL_MASK, b, off)
        c += cuda.shfl_down_sync(_FULL_MASK, c, off)
        d += cuda.shfl_down_sync(_FULL_MASK, d, off)
        off //= 2
    return a, b, c, d


def _warp_sum4_shared(a, b, c, d, scratch, w, lane):
    """The simulator's stand-in for ``_warp_sum4_shuffle``: the same sums through shared ``scratch``."""
    common.store_sign_channels(scratch, w, lane, a, b, c, d)
    cuda.syncthreads()
    s = (0.0, 0.0, 0.0, 0.0)
    if lane == 0:
        s = (scratch[w, 0].sum(), scratch[w, 1].sum(), scratch[w, 2].sum(), scratch[w, 3].sum())
    cuda.syncthreads()
    return s


_warp_sum4 = _warp_sum4_shared if _SIM else _warp_sum4_shuffle


@cuda.jit
def _tile_kernel(W, theta, x_row, x_col, rows_per_tile, row_part, col_part):
    jt = cuda.blockIdx.x  # column tile
    rt = cuda.blockIdx.y  # row tile
    t = cuda.blockIdx.z
    lane = cuda.threadIdx.x
    w = cuda.threadIdx.y
    ns = W.shape[1]
    nt = W.shape[2]
    th = theta[t]
    j0 = jt * (LANES * VEC) + lane
    r0 = rt * rows_per_tile
    r1 = min(r0 + rows_per_tile, ns)
    scratch = cuda.shared.array(shape=(WARPS, 4, LANES), dtype=float64)
    col = cuda.local.array(shape=(4, VEC), dtype=float64)  # this lane's column sums over its rows
    xc = cuda.local.array(shape=VEC, dtype=float64)
    for v in range(VEC):
        j = j0 + LANES * v
        xc[v] = x_col[t, j] if j < nt else 0.0
        for c in range(4):
            col[c, v] = 0.0
    # every warp runs the same number of steps: the simulator's shared-memory sum synchronises the block
    for k in range((r1 - r0 + WARPS - 1) // WARPS):
        i = r0 + k * WARPS + w
        rp = rm = rwp = rwm = 0.0
        if i < r1:
            xr = x_row[t, i]
            for v in range(VEC):
                j = j0 + LANES * v
                if j < nt:
                    wv = float64(W[t, i, j])
                    rp, rm, rwp, rwm = _add_sign_channels(wv, th, xc[v], rp, rm, rwp, rwm)
                    _add_sign_channels_at(col, v, wv, th, xr)
        rp, rm, rwp, rwm = _warp_sum4(rp, rm, rwp, rwm, scratch, w, lane)
        if lane == 0 and i < r1:
            row_part[t, 0, i, jt] = rp
            row_part[t, 1, i, jt] = rm
            row_part[t, 2, i, jt] = rwp
            row_part[t, 3, i, jt] = rwm
    # the block's column sums: the warps' registers added through shared memory, one column slot at a time
    for v in range(VEC):
        _store_sign_channels(scratch, w, lane, col[0, v], col[1, v], col[2, v], col[3, v])
        cuda.syncthreads()
        j = j0 + LANES * v
        if w == 0 and j < nt:
            for c in range(4):
                s = 0.0
                for ww in range(WARPS):
                    s += scratch[ww, c, lane]
                col_part[t, c, j, rt] = s
        cuda.syncthreads()


@cuda.jit
def _sum_partials(part, out):
    """``out[t, c, k] = Σ_m part[t, c, k, m]``, in order of ``m`` (the partials of one sum are adjacent)."""
    k, tc = cuda.grid(2)
    T, C, n, m = part.shape
    if k >= n or tc >= T * C:
        return
    t = tc // C
    c = tc - t * C
    s = 0.0
    for q in range(m):
        s += part[t, c, k, q]
    out[t, c, k] = s


def _tiling(T, ns, nt):
    """``(column tiles, row tiles, rows per tile)`` of a ``(T, n_s, n_t)`` stack.

    Rows per tile: as many as keep ``config.BLOCKPASS_MIN_TILES`` thread blocks in the grid (a GPU needs a few
    per multiprocessor), but never fewer than ``config.BLOCKPASS_MIN_ROWS_PER_WARP`` rows per warp (the column
    partials would then cost more than the weights they sum).
    """
    col_tiles = math.ceil(nt / (LANES * VEC))
    min_rows = WARPS * config.BLOCKPASS_MIN_ROWS_PER_WARP
    want_row_tiles = math.ceil(config.BLOCKPASS_MIN_TILES / (T * col_tiles))
    rows_per_tile = max(min_rows, math.ceil(ns / max(1, want_row_tiles)))
    return col_tiles, math.ceil(ns / rows_per_tile), rows_per_tile


def _empty(like, shape):
    if type(like).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy.empty(shape, dtype=np.float64)
    return np.empty(shape, dtype=np.float64)


def _grid2(n, m):
    tpb = config.THREADS_PER_BLOCK
    return (math.ceil(n / tpb), m), (tpb, 1)


def block_matvec(W, theta, x_row, x_col, row_out, col_out):
    """Row and column mat-vecs of the four masked sign channels of a block stack, in one read of ``W``.

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
    col_tiles, row_tiles, rows_per_tile = _tiling(T, ns, nt)
    row_part = _empty(W, (T, 4, ns, col_tiles))
    col_part = _empty(W, (T, 4, nt, row_tiles))
    _tile_kernel[(col_tiles, row_tiles, T), (LANES, WARPS)](W, theta, x_row, x_col, rows_per_tile, row_part,
                                                           col_part)
    _sum_partials[_grid2(ns, T * 4)](row_part, row_out)
    _sum_partials[_grid2(nt, T * 4)](col_part, col_out)
