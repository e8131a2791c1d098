"""Motif kernels: edge colour codes, colour masks, the Gram / path GEMMs, pair moments, null draws.

Every motif count of a layered graph is a reduction of degree vectors plus the entries of a few block products
(docs/metrics/motifs.rst gives the formulas); these kernels compute those products. GEMMs go to BLAS through
``numpy.matmul`` (binary float32 masks: every partial sum is an integer below 2^24, so the products are exact);
element work is Numba.
Colour code ``0`` is "no edge", ``1..k`` the edge colours.
"""
import contextlib

import numba
import numpy as np
from numba import njit, prange

from .. import common, config
from .threads import blas_threads

_edge_code = njit(inline="always")(common.edge_code)
_try_swap = njit(inline="always")(common.try_swap)


@contextlib.contextmanager
def _threads(work, limit):
    """One thread (Numba and, when threadpoolctl is there, BLAS) for work below ``limit``."""
    if work >= limit:
        yield
        return
    n = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with blas_threads(1):
            yield
    finally:
        numba.set_num_threads(n)


@njit(parallel=True, cache=config.CACHE)
def _edge_codes(W, theta, signed, out):
    T, ns, nt = W.shape
    for ti in prange(T * ns):
        t = ti // ns
        i = ti - t * ns
        th = theta[t]
        for j in range(nt):
            out[t, i, j] = _edge_code(np.float64(W[t, i, j]), th, signed)


def edge_codes(W, theta, signed, out):
    """Colour code of every slot of a block stack: ``0`` no edge, ``1`` kept edge (``+`` when signed), ``2`` ``−``.

    .. math:: \\mathrm{out}[t,i,j] = 1[|w| > θ_t]\\,(1 + 1[\\mathrm{signed}]\\,1[w < 0])

    Parameters
    ----------
    W : array, shape (T, n_s, n_t), float32 or float64
    theta : array, shape (T,), float64
    signed : bool
    out : array, shape (T, n_s, n_t), int8, overwritten
    """
    if W.size:
        with _threads(W.size, config.MOTIF_SERIAL_ELEMENTS):
            _edge_codes(W, theta, bool(signed), out)


@njit(parallel=True, cache=config.CACHE)
def _color_masks(codes, out):
    T, k, ns, nt = out.shape
    for ti in prange(T * ns):
        t = ti // ns
        i = ti - t * ns
        for c in range(k):
            for j in range(nt):
                out[t, c, i, j] = 1.0 if codes[t, i, j] == c + 1 else 0.0


def color_masks(codes, out):
    """One 0/1 mask per colour: ``out[t, c, i, j] = 1[codes[t, i, j] = c + 1]``.

    Parameters
    ----------
    codes : array, shape (T, n_s, n_t), integer
    out : array, shape (T, k, n_s, n_t), float32, overwritten
    """
    if out.size:
        with _threads(out.size, config.MOTIF_SERIAL_ELEMENTS):
            _color_masks(codes, out)


def gram(B, out):
    """Gram matrices of every pair of colour masks, on the rows.

    .. math:: \\mathrm{out}[t, a n + i, b n + i'] = \\sum_j B[t,a,i,j]\\, B[t,b,i',j]

    Parameters
    ----------
    B : array, shape (T, k, n, m), float32 (0/1)
    out : array, shape (T, k n, k n), float32, overwritten (exact: entries are integers ≤ m < 2^24)
    """
    T, k, n, m = B.shape
    Bf = B.reshape(T, k * n, m)
    with _threads(T * (k * n) ** 2 * m, config.MOTIF_SERIAL_MACS):
        for t in range(T):  # 2-D products: numpy's batched matmul with out= misses the fast BLAS path
            np.matmul(Bf[t], Bf[t].T, out=out[t])


def path_products(B1, B2, out):
    """Coloured 2-path counts through the middle layer: ``P_{ab} = B1_a B2_b``.

    .. math:: \\mathrm{out}[t, a n_0 + i, b n_2 + h] = \\sum_j B1[t,a,i,j]\\, B2[t,b,j,h]

    Parameters
    ----------
    B1 : array, shape (T, k, n0, n1), float32 (0/1)
    B2 : array, shape (T, k, n1, n2), float32 (0/1)
    out : array, shape (T, k n0, k n2), float32, overwritten
    """
    T, k, n0, n1 = B1.shape
    n2 = B2.shape[3]
    left = B1.reshape(T, k * n0, n1)
    right = B2.transpose(0, 2, 1, 3).reshape(T, n1, k * n2)
    with _threads(T * k * n0 * n1 * k * n2, config.MOTIF_SERIAL_MACS):
        for t in range(T):
            np.matmul(left[t], right[t], out=out[t])


@njit(parallel=True, cache=config.CACHE, fastmath=config.FASTMATH)
def _block_moments(M, k, exclude_diag, nchunks, part_S, part_s):
    T, rows, cols = M.shape
    n1 = rows // k
    n2 = cols // k
    K = k * k
    for job in prange(T * nchunks):
        t = job // nchunks
        c = job - t * nchunks
        i0 = (c * n1) // nchunks
        i1 = ((c + 1) * n1) // nchunks
        S = part_S[job]
        s = part_s[job]
        for i in range(i0, i1):
            # row i of every sub-matrix X_{ab} is contiguous: dot products that vectorise
            for p in range(K):
                a = p // k
                b = p - a * k
                xp_ = M[t, a * n1 + i, b * n2:(b + 1) * n2]
                lin = 0.0
                for j in range(n2):
                    lin += np.float64(xp_[j])
                if exclude_diag and i < n2:
                    lin -= np.float64(xp_[i])
                s[p] += lin
                for q in range(p, K):
                    c2 = q // k
                    d = q - c2 * k
                    xq = M[t, c2 * n1 + i, d * n2:(d + 1) * n2]
                    acc = 0.0
                    for j in range(n2):
                        acc += np.float64(xp_[j]) * np.float64(xq[j])
                    if exclude_diag and i < n2:
                        acc -= np.float64(xp_[i]) * np.float64(xq[i])
                    S[p, q] += acc


@njit(parallel=True, cache=config.CACHE, fastmath=config.FASTMATH)
def _block_moments1(M, exclude_diag, nchunks, part_S, part_s):
    T, n1, n2 = M.shape
    for job in prange(T * nchunks):
        t = job // nchunks
        c = job - t * nchunks
        i0 = (c * n1) // nchunks
        i1 = ((c + 1) * n1) // nchunks
        sq = 0.0
        lin = 0.0
        for i in range(i0, i1):
            row = M[t, i]
            for j in range(n2):
                x = np.float64(row[j])
                sq += x * x
                lin += x
            if exclude_diag and i < n2:
                x = np.float64(row[i])
                sq -= x * x
                lin -= x
        part_S[job, 0, 0] = sq
        part_s[job, 0] = lin


def block_moments(M, k, exclude_diag, S_out, s_out):
    """Second and first moments of the ``k²`` sub-matrices of a coloured product, in one read.

    ``M`` holds ``k × k`` blocks ``X_{ab} = M[a n_1:(a+1) n_1, b n_2:(b+1) n_2]`` (a Gram or path product);
    with ``p = (a, b)``, ``q = (c, d)``:

    .. math:: S[t,p,q] = \\sum_{i,j} X_p[i,j]\\, X_q[i,j], \\qquad s[t,p] = \\sum_{i,j} X_p[i,j]

    summed over ``i ≠ j`` when ``exclude_diag`` (Gram matrices). Accumulated in float64: exact while the
    sums stay below 2^53.

    Parameters
    ----------
    M : array, shape (T, k n_1, k n_2), float32 (integer-valued)
    k : int
    exclude_diag : bool
    S_out : array, shape (T, k², k²), float64, overwritten
    s_out : array, shape (T, k²), float64, overwritten
    """
    T, rows, _ = M.shape
    n1 = rows // k
    K = k * k
    nchunks = max(1, min(n1, -(-4 * numba.get_num_threads() // max(T, 1))))
    part_S = np.zeros((T * nchunks, K, K))
    part_s = np.zeros((T * nchunks, K))
    with _threads(M.size * K, config.MOTIF_SERIAL_ELEMENTS):
        if M.size and k == 1:
            _block_moments1(M, bool(exclude_diag), nchunks, part_S, part_s)
        elif M.size:
            _block_moments(M, k, bool(exclude_diag), nchunks, part_S, part_s)
    S = part_S.reshape(T, nchunks, K, K).sum(axis=1)
    S_out[...] = np.triu(S) + np.triu(S, 1).transpose(0, 2, 1)
    s_out[...] = part_s.reshape(T, nchunks, K).sum(axis=1)


@njit(parallel=True, cache=config.CACHE)
def _permute_codes(flat, seeds, out):
    R, n = out.shape
    for r in prange(R):
        np.random.seed(seeds[r])  # the state of the thread running this draw: draws are reproducible
        o = out[r]
        for e in range(n):
            o[e] = flat[e]
        for e in range(n - 1, 0, -1):  # Fisher-Yates
            f = np.random.randint(0, e + 1)
            tmp = o[e]
            o[e] = o[f]
            o[f] = tmp


def permute_codes(codes, seed, out):
    """Null N1: every draw an independent uniform permutation of the block's slots.

    Parameters
    ----------
    codes : array, shape (n_s, n_t), int8
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    R = out.shape[0]
    seeds = np.random.SeedSequence(seed).generate_state(R).astype(np.int64) & 0x7FFFFFFF
    with _threads(out.size, config.MOTIF_SERIAL_ELEMENTS):
        _permute_codes(np.ascontiguousarray(codes).reshape(-1), seeds, out.reshape(R, -1))


def bernoulli_codes(probs, seed, out):
    """Null N2: every slot independently colour ``c`` with probability ``probs[c]`` (``probs[0]``: no edge).

    Parameters
    ----------
    probs : array, shape (k + 1,), float64, sums to 1
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    rng = np.random.default_rng(seed)
    u = rng.random(out.shape)
    cum = np.cumsum(probs)[:-1]
    out[...] = np.searchsorted(cum, u, side="right").astype(np.int8)


@njit(parallel=True, cache=config.CACHE)
def _swap_codes(codes, swaps_per_edge, seeds, out):
    R = out.shape[0]
    ns, nt = codes.shape
    for r in prange(R):
        np.random.seed(seeds[r])  # the state of the thread running this draw: draws are reproducible
        src = np.empty(ns * nt, np.int64)
        dst = np.empty(ns * nt, np.int64)
        col = np.empty(ns * nt, np.int64)
        o = out[r]
        m = 0
        for i in range(ns):
            for j in range(nt):
                o[i, j] = codes[i, j]
                if codes[i, j] != 0:
                    src[m] = i
                    dst[m] = j
                    col[m] = codes[i, j]
                    m += 1
        if m < 2:
            continue
        for _ in range(swaps_per_edge * m):
            e1 = np.random.randint(0, m)
            e2 = np.random.randint(0, m)
            _try_swap(o, src, dst, col, e1, e2)


def swap_codes(codes, swaps_per_edge, seed, out):
    """Null N3: degree- and colour-preserving edge swaps inside one block, one chain per draw.

    A swap takes two edges of one colour ``a→b``, ``d→e`` and rewires them to ``a→e``, ``d→b`` when both are
    free; every node keeps its in- and out-degree of every colour.

    Parameters
    ----------
    codes : array, shape (n_s, n_t), int8
    swaps_per_edge : int
        Attempted swaps per edge and draw.
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    R = out.shape[0]
    seeds = np.random.SeedSequence(seed).generate_state(R).astype(np.int64) & 0x7FFFFFFF
    with _threads(codes.size * R * swaps_per_edge, config.MOTIF_SERIAL_ELEMENTS):
        _swap_codes(np.ascontiguousarray(codes), int(swaps_per_edge), seeds, out)
