"""Motif kernels (spec §4): edge colour codes, colour masks, the Gram / path GEMMs, pair moments, null draws.

Every motif count of a layered graph is a reduction of degree vectors plus the entries of a few block products
(spec §4.2–4.3); these kernels compute those products. GEMMs go to BLAS through ``numpy.matmul`` (binary
float32 masks: every partial sum is an integer below 2^24, so the products are exact); element work is Numba.
Colour code ``0`` is "no edge", ``1..k`` the edge colours.
"""
import numpy as np
from numba import njit, prange

from .. import config


@njit(parallel=True, cache=config.CACHE)
def _edge_codes(W, theta, signed, out):
    T, ns, nt = W.shape
    for ti in prange(T * ns):
        t = ti // ns
        i = ti - t * ns
        th = theta[t]
        for j in range(nt):
            w = np.float64(W[t, i, j])
            if w > th:
                out[t, i, j] = 1
            elif w < -th:
                out[t, i, j] = 2 if signed else 1
            else:
                out[t, i, j] = 0


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
        _color_masks(codes, out)


def gram(B, out):
    """Gram matrices of every pair of colour masks, on the rows.

    .. math:: \mathrm{out}[t, a n + i, b n + i'] = \sum_j B[t,a,i,j]\, B[t,b,i',j]

    Parameters
    ----------
    B : array, shape (T, k, n, m), float32 (0/1)
    out : array, shape (T, k n, k n), float32, overwritten (exact: entries are integers ≤ m < 2^24)
    """
    T, k, n, m = B.shape
    Bf = B.reshape(T, k * n, m)
    np.matmul(Bf, Bf.transpose(0, 2, 1), out=out)


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
    np.matmul(left, right, out=out)


def pair_moments(X, S_out, s_out):
    """Second and first moments of a family of matrices: ``S[t,a,b] = Σ X_a X_b``, ``s[t,a] = Σ X_a``.

    .. math:: S_{ab} = \\sum_{e} X_a[e]\\, X_b[e], \\qquad s_a = \\sum_e X_a[e]

    Parameters
    ----------
    X : array, shape (T, K, M), float64 (integer-valued)
    S_out : array, shape (T, K, K), float64, overwritten (exact while the sums stay below 2^53)
    s_out : array, shape (T, K), float64, overwritten
    """
    np.matmul(X, X.transpose(0, 2, 1), out=S_out)
    np.sum(X, axis=2, out=s_out)


def permute_codes(codes, seed, out):
    """Null N1: every draw an independent uniform permutation of the block's slots (spec §4.5).

    Parameters
    ----------
    codes : array, shape (n_s, n_t), int8
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    R = out.shape[0]
    rng = np.random.default_rng(seed)
    flat = np.broadcast_to(codes.reshape(1, -1), (R, codes.size))
    out.reshape(R, -1)[...] = rng.permuted(flat, axis=1)


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


@njit(cache=config.CACHE)
def _swap_codes(codes, swaps_per_edge, seed, out):
    np.random.seed(seed)
    R = out.shape[0]
    ns, nt = codes.shape
    src = np.empty(ns * nt, np.int64)
    dst = np.empty(ns * nt, np.int64)
    col = np.empty(ns * nt, np.int64)
    for r in range(R):
        m = 0
        for i in range(ns):
            for j in range(nt):
                out[r, i, j] = codes[i, j]
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
            if col[e1] != col[e2]:
                continue
            a, b, d, e = src[e1], dst[e1], src[e2], dst[e2]
            if a == d or b == e or out[r, a, e] != 0 or out[r, d, b] != 0:
                continue
            c = col[e1]
            out[r, a, b] = 0
            out[r, d, e] = 0
            out[r, a, e] = c
            out[r, d, b] = c
            dst[e1] = e
            dst[e2] = b


def swap_codes(codes, swaps_per_edge, seed, out):
    """Null N3: degree- and colour-preserving edge swaps inside one block, one chain per draw.

    A swap takes two edges of one colour ``a→b``, ``d→e`` and rewires them to ``a→e``, ``d→b`` when both are
    free; every node keeps its in- and out-degree of every colour (spec §4.5 N3).

    Parameters
    ----------
    codes : array, shape (n_s, n_t), int8
    swaps_per_edge : int
        Attempted swaps per edge and draw.
    seed : int
    out : array, shape (R, n_s, n_t), int8, overwritten
    """
    _swap_codes(codes, int(swaps_per_edge), int(seed), out)
