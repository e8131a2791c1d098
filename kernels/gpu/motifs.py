"""GPU twin of ``kernels.cpu.motifs``: numba.cuda for the element kernels, CuPy (cuBLAS) for the GEMMs.

Same names and signatures as the CPU module. CuPy arrays on a device; numpy arrays under the CUDA simulator,
where the GEMMs fall back to ``numpy.matmul`` (the array module follows the inputs). Binary masks are float32
0/1, so the products are exact even with TF32; moments are float64.
"""
import math

import numpy as np
from numba import cuda
from numba.cuda.random import create_xoroshiro128p_states, xoroshiro128p_uniform_float64

from .. import common, config

_edge_code = cuda.jit(device=True, inline="always")(common.edge_code)
_try_swap = cuda.jit(device=True, inline="always")(common.try_swap)
_slot = cuda.jit(device=True, inline="always")(common.unravel3)  # flat slot -> (t, i, j)


def _xp(a):
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def _grid(n):
    tpb = config.THREADS_PER_BLOCK
    return max(1, math.ceil(n / tpb)), tpb


@cuda.jit
def _edge_codes_kernel(W, theta, signed, out):
    e = cuda.grid(1)
    T, ns, nt = W.shape
    if e < T * ns * nt:
        t, i, j = _slot(e, ns, nt)
        out[t, i, j] = _edge_code(W[t, i, j], theta[t], signed)


def edge_codes(W, theta, signed, out):
    """Colour code of every slot of a block stack: ``0`` no edge, ``1`` kept edge (``+`` when signed), ``2`` ``−``.

    Same contract as ``deepcnt.kernels.cpu.motifs.edge_codes``.

    Parameters
    ----------
    W : array, shape (T, n_s, n_t), float32 or float64
    theta : array, shape (T,), float64
    signed : bool
    out : array, shape (T, n_s, n_t), int8, overwritten
    """
    if W.size:
        blocks, tpb = _grid(W.size)
        _edge_codes_kernel[blocks, tpb](W, theta, bool(signed), out)


@cuda.jit
def _color_masks_kernel(codes, out):
    e = cuda.grid(1)
    T, k, ns, nt = out.shape
    if e >= T * ns * nt:
        return
    t, i, j = _slot(e, ns, nt)
    code = codes[t, i, j]
    for c in range(k):
        out[t, c, i, j] = 1.0 if code == c + 1 else 0.0


def color_masks(codes, out):
    """One 0/1 mask per colour: ``out[t, c, i, j] = 1[codes[t, i, j] = c + 1]``.

    Parameters
    ----------
    codes : array, shape (T, n_s, n_t), integer
    out : array, shape (T, k, n_s, n_t), float32, overwritten
    """
    if out.size:
        blocks, tpb = _grid(codes.size)
        _color_masks_kernel[blocks, tpb](codes, out)


def gram(B, out):
    """Gram matrices of every pair of colour masks, on the rows (cuBLAS batched GEMM).

    .. math:: \\mathrm{out}[t, a n + i, b n + i'] = \\sum_j B[t,a,i,j]\\, B[t,b,i',j]

    Parameters
    ----------
    B : array, shape (T, k, n, m), float32 (0/1)
    out : array, shape (T, k n, k n), float32, overwritten
    """
    xp = _xp(B)
    T, k, n, m = B.shape
    Bf = B.reshape(T, k * n, m)
    xp.matmul(Bf, Bf.transpose(0, 2, 1), out=out)


def path_products(B1, B2, out):
    """Coloured 2-path counts through the middle layer: ``P_{ab} = B1_a B2_b`` (cuBLAS batched GEMM).

    .. math:: \\mathrm{out}[t, a n_0 + i, b n_2 + h] = \\sum_j B1[t,a,i,j]\\, B2[t,b,j,h]

    Parameters
    ----------
    B1 : array, shape (T, k, n0, n1), float32 (0/1)
    B2 : array, shape (T, k, n1, n2), float32 (0/1)
    out : array, shape (T, k n0, k n2), float32, overwritten
    """
    xp = _xp(B1)
    T, k, n0, n1 = B1.shape
    n2 = B2.shape[3]
    left = B1.reshape(T, k * n0, n1)
    right = xp.ascontiguousarray(B2.transpose(0, 2, 1, 3)).reshape(T, n1, k * n2)
    xp.matmul(left, right, out=out)


def block_moments(M, k, exclude_diag, S_out, s_out):
    """Second and first moments of the ``k²`` sub-matrices of a coloured product (one batched GEMM).

    ``M`` holds ``k × k`` blocks ``X_{ab} = M[a n_1:(a+1) n_1, b n_2:(b+1) n_2]``; with ``p = (a, b)``:

    .. math:: S[t,p,q] = \\sum_{i,j} X_p[i,j]\\, X_q[i,j], \\qquad s[t,p] = \\sum_{i,j} X_p[i,j]

    summed over ``i ≠ j`` when ``exclude_diag``. float64 accumulation.

    Parameters
    ----------
    M : array, shape (T, k n_1, k n_2), float32 (integer-valued)
    k : int
    exclude_diag : bool
    S_out : array, shape (T, k², k²), float64, overwritten
    s_out : array, shape (T, k²), float64, overwritten
    """
    xp = _xp(M)
    T, rows, cols = M.shape
    n1, n2 = rows // k, cols // k
    X = M.reshape(T, k, n1, k, n2).transpose(0, 1, 3, 2, 4).astype(xp.float64)
    if exclude_diag:
        idx = xp.arange(min(n1, n2))
        X[:, :, :, idx, idx] = 0
    X = X.reshape(T, k * k, n1 * n2)
    xp.matmul(X, X.transpose(0, 2, 1), out=S_out)
    s_out[...] = X.sum(axis=2)


def permute_codes(codes, seed, out):
    """Null N1: every draw an independent uniform permutation of the block's slots.

    On the device each draw sorts random keys (``argsort``), all draws in one call.

    Parameters
    ----------
    codes : array, shape (n_s, n_t), int8
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    xp = _xp(out)
    R = out.shape[0]
    keys = xp.random.RandomState(seed).random_sample((R, codes.size)) if xp is not np else \
        np.random.default_rng(seed).random((R, codes.size))
    order = xp.argsort(keys, axis=1)
    out.reshape(R, -1)[...] = codes.reshape(-1)[order]


def bernoulli_codes(probs, seed, out):
    """Null N2: every slot independently colour ``c`` with probability ``probs[c]`` (``probs[0]``: no edge).

    Parameters
    ----------
    probs : array, shape (k + 1,), float64, sums to 1
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    xp = _xp(out)
    u = xp.random.RandomState(seed).random_sample(out.shape) if xp is not np else \
        np.random.default_rng(seed).random(out.shape)
    cum = xp.cumsum(xp.asarray(probs))[:-1]
    out[...] = xp.searchsorted(cum, u.ravel(), side="right").reshape(out.shape).astype(xp.int8)


@cuda.jit
def _swap_kernel(out, src, dst, col, m, n_iter, states):
    r = cuda.grid(1)
    if r >= out.shape[0] or m < 2:
        return
    o = out[r]
    dst_r = dst[r]
    for _ in range(n_iter):
        e1 = min(int(xoroshiro128p_uniform_float64(states, r) * m), m - 1)
        e2 = min(int(xoroshiro128p_uniform_float64(states, r) * m), m - 1)
        _try_swap(o, src, dst_r, col, e1, e2)


def swap_codes(codes, swaps_per_edge, seed, out):
    """Null N3: degree- and colour-preserving edge swaps inside one block, one chain (thread) per draw.

    A swap takes two edges of one colour ``a→b``, ``d→e`` and rewires them to ``a→e``, ``d→b`` when both are
    free; every node keeps its in- and out-degree of every colour.

    Parameters
    ----------
    codes : array, shape (n_s, n_t), int8
    swaps_per_edge : int
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    xp = _xp(out)
    R = out.shape[0]
    out[...] = codes[None]
    src_h, dst_h = np.nonzero(np.asarray(codes.get() if hasattr(codes, "get") else codes))
    col_h = np.asarray(codes.get() if hasattr(codes, "get") else codes)[src_h, dst_h].astype(np.int64)
    m = int(src_h.size)
    if m < 2 or R == 0:
        return
    src = xp.asarray(src_h.astype(np.int64))
    dst = xp.asarray(np.ascontiguousarray(np.broadcast_to(dst_h.astype(np.int64), (R, m))))
    col = xp.asarray(col_h)
    blocks, tpb = _grid(R)
    states = create_xoroshiro128p_states(blocks * tpb, seed=int(seed))
    _swap_kernel[blocks, tpb](out, src, dst, col, m, int(swaps_per_edge) * m, states)
