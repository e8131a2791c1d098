"""The level-0 Louvain graph: its two forms and their builders (the access functions are in ``access``).

``A`` (symmetric) is held in one of two forms, both read through the same functions of ``access``
(``_n``, ``_nnz``, ``_deg``, ``_scatter``, ...: Numba overloads, so a sweep compiles once per form):

* **CSR** ``CSRGraph(indptr, indices, data)``: int64, int32, float64; every undirected edge in both rows,
  self-loops once. Aggregated levels, and level 0 when thresholding left a block sparse.
* **blocks** ``BlocksGraph(down, up, boff, off, layer, th, coef)`` (``up`` built by ``level0_pass``): the weight blocks
  themselves, copied once, so level 0 costs no edge list. ``down`` is every ``W_l`` (n_l, n_{l+1})
  flattened in C order and concatenated, ``up`` every C-order transpose ``W_lᵀ`` the same way, both of the
  graph's float dtype; block ``l`` occupies ``[boff[l], boff[l+1])`` of both (flat arrays rather than lists
  of blocks: one compilation serves every depth, and a row is a start and a length, not a typed-list
  lookup). ``off`` (L+2,) the layer offsets, ``layer`` (N,) every node's layer, ``th`` (L,) the thresholds, ``coef`` =
  ``(a⁺, b⁺, a⁻, b⁻)``: an entry ``w`` with ``|w| > th`` has value ``a⁺w + b⁺`` if ``w > 0`` else
  ``a⁻w + b⁻`` (sign mode, binary and the directed ½ folded in, see ``edge_rule``); dropped entries read
  as 0. Node ``u`` of layer ``l`` has the neighbour segments ``W_l[u − off[l]]`` (ids from ``off[l+1]``)
  and ``W_{l−1}ᵀ[u − off[l]]`` (ids from ``off[l−1]``): ``access._down_seg`` and ``access._up_seg``.

Both forms are named tuples, which Numba compiles as tuples (no cost) and tells apart by their class
(``access._is_csr``).
"""
from collections import namedtuple

import numpy as np
from numba import njit

from ... import config

#: A symmetric CSR matrix (module docstring).
CSRGraph = namedtuple("CSRGraph", ["indptr", "indices", "data"])
#: The weight blocks read in place (module docstring).
BlocksGraph = namedtuple("BlocksGraph", ["down", "up", "boff", "off", "layer", "th", "coef"])

#: How a weight becomes an entry of ``A`` (``edge_rule``): its sign kept, its magnitude, or the weight as is.
SIGN_MODES = ("signed", "abs", "as_is")


def edge_rule(pos, neg, sign="signed", binary=False, half=False):
    """The coefficients ``(a⁺, b⁺, a⁻, b⁻)`` that make a kept weight ``w`` the entry ``a⁺w + b⁺`` (``w > 0``)
    or ``a⁻w + b⁻`` (``w < 0``) of ``A``: branch-free in the weight, so the fills and sweeps vectorise.

    Parameters
    ----------
    pos, neg : float
        Coefficients of the positive and the negative weights (``neg`` is used by ``sign="signed"`` only).
    sign : {"signed", "abs", "as_is"}
        ``pos·w`` / ``neg·w`` by sign, ``pos·|w|``, or ``pos·w`` whatever the sign.
    binary : bool
        Every kept weight counts as ±1.
    half : bool
        Halve every entry (the directed view's ``A = (W + Wᵀ)/2``; ½ scales exactly).

    Returns
    -------
    tuple of 4 floats
        A tuple, not an array: Numba keeps its values in registers (an array's would be loads that the
        sweeps' stores may alias: measured 8-12% slower on 784-500-500-2000).
    """
    if sign not in SIGN_MODES:
        raise ValueError(f"sign must be one of {SIGN_MODES}, got {sign!r}")
    ap, an = {"signed": (pos, neg), "abs": (pos, -pos), "as_is": (pos, pos)}[sign]
    bp, bn = 0.0, 0.0
    if binary:  # w·0 + (±1)·a: one of a, b is 0, so each entry is the same to the bit as a·sign(w)
        ap, an, bp, bn = 0.0, 0.0, ap, -an
    f = 0.5 if half else 1.0
    return (float(f * ap), float(f * bp), float(f * an), float(f * bn))


# ------------------------------------------------------------------------------------------ builders
@njit(cache=config.CACHE)
def block_edge_counts(W, th, coef, row_cnt, col_cnt):
    """Number of non-zero Louvain entries per row and per column of one block (adds to the counts).

    Serial on purpose: one memory-bound pass, and a parallel region costs 10–20 ms on a loaded machine.

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th : float
        Threshold: an entry is kept when ``|w| > th``.
    coef : tuple of 4 floats
        ``edge_rule``'s coefficients.
    row_cnt : array, shape (n_s,), int64, incremented
    col_cnt : array, shape (n_t,), int64, incremented
    """
    ns, nt = W.shape
    ap, bp, an, bn = coef[0], coef[1], coef[2], coef[3]
    for i in range(ns):
        k = 0
        for j in range(nt):
            if _entry_value(np.float64(W[i, j]), th, ap, bp, an, bn) != 0.0:
                k += 1
                col_cnt[j] += 1
        row_cnt[i] += k


@njit(cache=config.CACHE)
def block_csr_fill(W, th, coef, o_src, o_dst, pos, indices, data):
    """Write one block's non-zero entries into the symmetric CSR: row ``o_src+i`` gets ``o_dst+j`` and vice
    versa (serial, as ``block_edge_counts``).

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th : float
    coef : tuple of 4 floats
        ``edge_rule``'s coefficients.
    o_src, o_dst : int
        Global ids of the block's first source and first target node.
    pos : array, shape (N,), int64
        Next free slot of every row; advanced.
    indices : array, shape (nnz,), int32
    data : array, shape (nnz,), float64
    """
    ns, nt = W.shape
    ap, bp, an, bn = coef[0], coef[1], coef[2], coef[3]
    for i in range(ns):
        p = pos[o_src + i]
        for j in range(nt):
            v = _entry_value(np.float64(W[i, j]), th, ap, bp, an, bn)
            if v != 0.0:
                indices[p] = o_dst + j
                data[p] = v
                p += 1
                q = pos[o_dst + j]
                indices[q] = o_src + i
                data[q] = v
                pos[o_dst + j] = q + 1
        pos[o_src + i] = p


@njit(cache=config.CACHE, fastmath=config.FASTMATH)
def block_channel_sums(W, th, binary, rows, cols):
    """Per-row and per-column sums of one block's kept entries, channels (count+, count−, w+, |w−|):
    the fused block pass of ``deepcnt.node_sums`` on one thread (no parallel-region start-up), branch-free
    so that it vectorises.

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th : float
        An entry is kept when ``|w| > th``.
    binary : bool
        Weight channels hold counts (±1) instead of weights.
    rows : array, shape (4, n_s), float64, incremented
    cols : array, shape (4, n_t), float64, incremented
    """
    ns, nt = W.shape
    acc = np.zeros((4, nt))
    for i in range(ns):
        r0 = 0.0
        r1 = 0.0
        r2 = 0.0
        r3 = 0.0
        for j in range(nt):
            w = np.float64(W[i, j])
            kp = 1.0 if w > th else 0.0
            kn = 1.0 if w < -th else 0.0
            xp = kp if binary else kp * w
            xn = kn if binary else -kn * w
            r0 += kp
            r1 += kn
            r2 += xp
            r3 += xn
            acc[0, j] += kp
            acc[1, j] += kn
            acc[2, j] += xp
            acc[3, j] += xn
        rows[0, i] += r0
        rows[1, i] += r1
        rows[2, i] += r2
        rows[3, i] += r3
    for k in range(4):
        for j in range(nt):
            cols[k, j] += acc[k, j]


@njit(inline="always")
def _entry_value(x, th, ap, bp, an, bn):
    """The value of a block entry ``x`` (float64) under ``edge_rule``: 0 unless ``|x| > th``."""
    pos = x > 0
    v = (ap if pos else an) * x + (bp if pos else bn)  # selects, not branches: signs are unpredictable
    return v if (x > th) | (x < -th) else 0.0


@njit(inline="always")
def _dense_row(w, th, ap, bp, an, bn, o, ind, d):
    """One dense CSR row segment: values, then ids (two simple loops that vectorise)."""
    for j in range(w.size):
        d[j] = _entry_value(np.float64(w[j]), th, ap, bp, an, bn)
    for j in range(w.size):
        ind[j] = o + j


@njit(cache=config.CACHE)
def block_csr_fill_dense(W, th, coef, o_src, o_dst, pos, indices, data):
    """``block_csr_fill`` (same parameters) for a block stored densely: every entry is written, dropped ones
    as explicit zeros (they add nothing to any sum), so positions are known and the transposed half is a
    tiled transpose followed by a contiguous copy. Source row ``i`` starts at ``pos[o_src+i]``, target row
    ``j`` at ``pos[o_dst+j]``; both are advanced by the block's width.
    """
    ns, nt = W.shape
    ap, bp, an, bn = coef[0], coef[1], coef[2], coef[3]
    for i in range(ns):
        p = pos[o_src + i]
        _dense_row(W[i], th, ap, bp, an, bn, o_dst, indices[p:p + nt], data[p:p + nt])
        pos[o_src + i] = p + nt
    Wt = np.empty((nt, ns), W.dtype)  # transpose first: the fill then reads and writes contiguously
    block_transpose(W, Wt)
    for j in range(nt):
        q = pos[o_dst + j]
        _dense_row(Wt[j], th, ap, bp, an, bn, o_src, indices[q:q + ns], data[q:q + ns])
        pos[o_dst + j] = q + ns


@njit(cache=config.CACHE)
def block_transpose(W, out):
    """``out = Wᵀ`` (both C-order), for the ``up`` segments of the blocks form: strips of 8 source rows, each
    written as runs of 8 contiguous entries. 1.5-2.2x faster than numpy's ``copyto(out, W.T)`` and than
    square tiles (784 × 100 float32: 22 µs, numpy 47 µs).

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    out : array, shape (n_t, n_s), overwritten
    """
    ns, nt = W.shape
    B = 8
    for i0 in range(0, ns - B + 1, B):
        for j in range(nt):
            for i in range(i0, i0 + B):
                out[j, i] = W[i, j]
    for i in range(ns - ns % B, ns):
        for j in range(nt):
            out[j, i] = W[i, j]


@njit(cache=config.CACHE)
def level0_pass(down, off, th, sums, out, inn, min_fill):
    """One epoch's level-0 work in one call: the blocks' channel sums (``block_channel_sums``, when ``sums``)
    and, when every block keeps at least ``min_fill`` of its entries, the rest of the blocks form: the
    transposes (``block_transpose``), the block offsets and every node's layer.

    Parameters
    ----------
    down : array, shape (nnz,), float32 or float64
        Every block ``W_l`` (n_l, n_{l+1}) in C order, concatenated.
    off : array, shape (L+2,), int64
        Layer offsets.
    th : array, shape (L,), float64
        Thresholds: an entry is kept when ``|w| > th[l]``.
    sums : bool
        Compute the channel sums; else ``out[0] + out[1]`` already hold every node's kept out-entries.
    out, inn : arrays, shape (4, N), float64
        Out- and in-sums of the channels (count+, count−, w+, |w−|), incremented when ``sums``.
    min_fill : float

    Returns
    -------
    dense : bool
        Whether the blocks form applies.
    up : array, shape (nnz,) (the dtype of ``down``), or (0,) when the blocks form does not apply
        Every transpose ``W_lᵀ``, at the same offsets as ``W_l`` in ``down``.
    boff : array, shape (L+1,), int64
        Block ``l`` is ``[boff[l], boff[l+1])`` of ``down`` and ``up``.
    layer : array, shape (N,), int64
        Every node's layer.
    """
    L = off.size - 2
    boff = np.zeros(L + 1, np.int64)
    for l in range(L):
        boff[l + 1] = boff[l] + (off[l + 1] - off[l]) * (off[l + 2] - off[l + 1])
    layer = np.empty(off[-1], np.int64)
    for l in range(L + 1):
        layer[off[l]:off[l + 1]] = l
    if sums:
        for l in range(L):
            ns, nt = off[l + 1] - off[l], off[l + 2] - off[l + 1]
            block_channel_sums(down[boff[l]:boff[l + 1]].reshape((ns, nt)), th[l], False,
                               out[:, off[l]:off[l + 1]], inn[:, off[l + 1]:off[l + 2]])
    for l in range(L):
        kept = 0.0
        for i in range(off[l], off[l + 1]):
            kept += out[0, i] + out[1, i]
        if boff[l + 1] == boff[l] or kept < min_fill * (boff[l + 1] - boff[l]):
            return False, down[:0].copy(), boff, layer
    up = np.empty_like(down)
    for l in range(L):
        ns, nt = off[l + 1] - off[l], off[l + 2] - off[l + 1]
        block_transpose(down[boff[l]:boff[l + 1]].reshape((ns, nt)), up[boff[l]:boff[l + 1]].reshape((nt, ns)))
    return True, up, boff, layer
