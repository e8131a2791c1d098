"""The level-0 Louvain graph: its two forms, their builders, and the access functions the sweeps use.

``A`` (symmetric) is held in one of two forms, both read through the same functions
(``_n``, ``_nnz``, ``_deg``, ``_scatter``, ``_touched``, ``_move_rows``, ``_diag``: Numba overloads, so a
sweep compiles once per form):

* **CSR** ``CSRGraph(indptr, indices, data)``: int64, int32, float64; every undirected edge in both rows,
  self-loops once. Aggregated levels, and level 0 when thresholding left a block sparse.
* **blocks** ``BlocksGraph(down, up, boff, off, layer, th, coef)`` (``up`` built by ``level0_pass``): the weight blocks
  themselves, copied once, so level 0 costs no edge list. ``down`` is every ``W_l`` (n_l, n_{l+1})
  flattened in C order and concatenated, ``up`` every C-order transpose ``W_lᵀ`` the same way, both of the
  graph's float dtype; block ``l`` occupies ``[boff[l], boff[l+1])`` of both (flat arrays rather than lists
  of blocks: one compilation serves every depth, and a row is a start and a length, not a typed-list
  lookup). ``off`` (L+2,) the
  layer offsets, ``layer`` (N,) every node's layer, ``th`` (L,) the thresholds, ``coef`` =
  ``(a⁺, b⁺, a⁻, b⁻)``: an entry ``w`` with ``|w| > th`` has value ``a⁺w + b⁺`` if ``w > 0`` else
  ``a⁻w + b⁻`` (sign mode, binary and the directed ½ folded in, see ``edge_rule``); dropped entries read
  as 0. Node ``u`` of layer ``l`` has the neighbour segments ``W_l[u − off[l]]`` (ids from ``off[l+1]``)
  and ``W_{l−1}ᵀ[u − off[l]]`` (ids from ``off[l−1]``): ``_down_seg`` and ``_up_seg``.

Both forms are named tuples, which Numba compiles as tuples (no cost) and tells apart by their class
(``_is_csr``).
"""
from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic, overload

from .. import config

CPU_ONLY = "the level-0 graph of Louvain, which runs on the CPU"

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
            if _bv(np.float64(W[i, j]), th, ap, bp, an, bn) != 0.0:
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
            v = _bv(np.float64(W[i, j]), th, ap, bp, an, bn)
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
def _bv(x, th, ap, bp, an, bn):
    """The value of a block entry ``x`` (float64) under ``edge_rule``: 0 unless ``|x| > th``."""
    pos = x > 0
    v = (ap if pos else an) * x + (bp if pos else bn)  # selects, not branches: signs are unpredictable
    return v if (x > th) | (x < -th) else 0.0


@njit(inline="always")
def _dense_row(w, th, ap, bp, an, bn, o, ind, d):
    """One dense CSR row segment: values, then ids (two simple loops that vectorise)."""
    for j in range(w.size):
        d[j] = _bv(np.float64(w[j]), th, ap, bp, an, bn)
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


# ------------------------------------------------------------------------------- access (both forms)
def _is_csr(G):
    """At compile time: whether the Numba type ``G`` is a ``CSRGraph`` (else a ``BlocksGraph``)."""
    if getattr(G, "instance_class", None) is CSRGraph:
        return True
    if getattr(G, "instance_class", None) is BlocksGraph:
        return False
    raise TypeError(f"a Louvain graph is a CSRGraph or a BlocksGraph, got {G}")


# The per-entry loops below take a flat buffer plus a start and a length instead of a slice, and index
# with unsigned integers: a slice is an array view, and every view costs an atomic incref/decref pair that
# Numba cannot prune in these loops (13% of a run); a signed index costs a wrap-around test per access.
@njit(inline="always")
def _down_seg(G, l, i):
    """Blocks form: row ``i`` of ``W_l`` (the neighbours in layer ``l+1``) is ``G.down[s:s+nt]``: (s, nt)."""
    off = G.off
    nt = off[l + 2] - off[l + 1]
    return np.uint64(G.boff[l] + i * nt), np.uint64(nt)


@njit(inline="always")
def _up_seg(G, l, i):
    """Blocks form: row ``i`` of ``W_lᵀ`` (the neighbours in layer ``l``) is ``G.up[s:s+ns]``: (s, ns)."""
    off = G.off
    ns = off[l + 1] - off[l]
    return np.uint64(G.boff[l] + i * ns), np.uint64(ns)


def _n(G):
    """Number of nodes."""


def _nnz(G):
    """Number of stored entries (both directions; the blocks form counts dropped entries too)."""


def _deg(G, u):
    """Stored entries of node ``u``'s row."""


def _scatter(G, part, u, h, r, k):
    """``h[r + q, part[v]] += A[u, v]`` over u's row, ``q = p mod 4`` when ``k = 4`` rows (four short dependency
    chains instead of one long one when neighbours share modules), else ``q = 0`` (``k = 1``)."""


def _touched(G, part, u, h, mark, touched):
    """``_scatter`` into one row ``h[0]``, and the modules met listed in ``touched`` (and marked); returns
    their number."""


def _nb_best(G, part, u, h, ysum, xb):
    """``max v[c] = h[0, c] − Σ_t xb_t ysum[t, c]`` over the modules of u's neighbours, and its module, after
    a scatter into ``h[0]``: each module is read once and its entry set to NaN, so repeats (and a module set
    to NaN beforehand) drop out of the comparison without a branch on marks. Returns (value, module)."""


def _nb_zero(G, part, u, h):
    """``h[0, c] = 0`` for the modules of u's neighbours (after ``_scatter`` / ``_nb_best``)."""


def _move_rows(G, u, Hnm, a, c):
    """Node ``u`` moved from module ``a`` to ``c``: ``Hnm[v, a] −= A[u, v]``, ``Hnm[v, c] += A[u, v]``."""


def _prefetch_row(G, u):
    """Prefetch node ``u``'s stored row (values; the CSR's ids too) into the cache."""


def _diag(G):
    """Self-loop weights ``A[u, u]``, shape (n,)."""


def _dense_rows(G, part, Hnm, hi, work):
    """All the dense rows at once: ``Hnm[u, c] = A[u, c]`` for ``c < hi``, 0 up to ``Hnm.shape[1]``; returns
    True. Blocks form only (the CSR form returns False: its rows are built one by one, ``_scatter``)."""


def _dense_work(G, k):
    """Entries of ``_dense_rows``' workspace for up to ``k`` module ids: ``k × _TILE`` (blocks form), 0 (CSR)."""


@overload(_n, inline="always")
def _ov_n(G):
    if _is_csr(G):
        return lambda G: G.indptr.size - 1
    return lambda G: G.off[-1]


@overload(_nnz, inline="always")
def _ov_nnz(G):
    if _is_csr(G):
        return lambda G: G.indptr[-1]

    return lambda G: 2 * G.down.size


@overload(_deg, inline="always")
def _ov_deg(G, u):
    if _is_csr(G):
        return lambda G, u: G.indptr[u + 1] - G.indptr[u]

    def impl(G, u):
        off = G.off
        l = G.layer[u]
        d = 0
        if l < G.boff.size - 1:
            d += off[l + 2] - off[l + 1]
        if l > 0:
            d += off[l] - off[l - 1]
        return d
    return impl


@njit(inline="always")
def _pv(x, th, ap, bp, an, bn):
    """``_bv`` when nothing is dropped and no value is binary (``th ≤ 0``, ``b± = 0``): one select and a
    product (``x = 0`` gives ±0, which adds nothing)."""
    return (ap if x > 0 else an) * x


@njit(inline="always")
def _seg_rows(w, s, nt, o, th, cf, part, h, r, k, val):
    """``_scatter`` over one block segment ``w[s:s+nt]`` (targets ``o, o+1, ...``), values by ``val``
    (``_bv``/``_pv``)."""
    ap, bp, an, bn = cf[0], cf[1], cf[2], cf[3]
    o, r = np.uint64(o), np.uint64(r)
    one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    j = np.uint64(0)
    if k == 4:
        for q in range(nt // four):
            j = four * q
            h[r, np.uint64(part[o + j])] += val(np.float64(w[s + j]), th, ap, bp, an, bn)
            h[r + one, np.uint64(part[o + j + one])] += val(np.float64(w[s + j + one]), th, ap, bp, an, bn)
            h[r + two, np.uint64(part[o + j + two])] += val(np.float64(w[s + j + two]), th, ap, bp, an, bn)
            h[r + three, np.uint64(part[o + j + three])] += val(np.float64(w[s + j + three]), th, ap, bp, an, bn)
        j = nt - nt % four
    for j in range(j, nt):
        h[r, np.uint64(part[o + j])] += val(np.float64(w[s + j]), th, ap, bp, an, bn)


@njit(inline="always")
def _seg_scatter(w, s, nt, o, th, cf, part, h, r, k):
    if th <= 0 and cf[1] == 0 and cf[3] == 0:  # the common unthresholded case: a cheaper value
        _seg_rows(w, s, nt, o, th, cf, part, h, r, k, _pv)
    else:
        _seg_rows(w, s, nt, o, th, cf, part, h, r, k, _bv)


@overload(_scatter)
def _ov_scatter(G, part, u, h, r, k):
    if _is_csr(G):
        def impl(G, part, u, h, r, k):  # no views, unsigned indices (see _down_seg)
            ip, ix, dv = G
            p, end, r = np.uint64(ip[u]), np.uint64(ip[u + 1]), np.uint64(r)
            one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
            if k == 4:
                for q in range((end - p) // four):
                    h[r, np.uint64(part[np.uint64(ix[p])])] += dv[p]
                    h[r + one, np.uint64(part[np.uint64(ix[p + one])])] += dv[p + one]
                    h[r + two, np.uint64(part[np.uint64(ix[p + two])])] += dv[p + two]
                    h[r + three, np.uint64(part[np.uint64(ix[p + three])])] += dv[p + three]
                    p += four
            for p in range(p, end):
                h[r, np.uint64(part[np.uint64(ix[p])])] += dv[p]
        return impl

    def impl(G, part, u, h, r, k):
        off, layer, th, cf = G.off, G.layer, G.th, G.coef
        l = layer[u]
        i = u - off[l]
        if l > 0:  # the CSR's order: the layer below first
            s, nt = _up_seg(G, l - 1, i)
            _seg_scatter(G.up, s, nt, off[l - 1], th[l - 1], cf, part, h, r, k)
        if l < G.boff.size - 1:
            s, nt = _down_seg(G, l, i)
            _seg_scatter(G.down, s, nt, off[l + 1], th[l], cf, part, h, r, k)
    return impl


@njit(inline="always")
def _seg_touched(w, s, ns, o, th, cf, part, h, mark, touched, nt):
    ap, bp, an, bn = cf[0], cf[1], cf[2], cf[3]
    o = np.uint64(o)
    for j in range(ns):
        c = part[o + j]
        h[0, c] += _bv(np.float64(w[s + j]), th, ap, bp, an, bn)
        if not mark[c]:
            mark[c] = True
            touched[nt] = c
            nt += 1
    return nt


@overload(_touched)
def _ov_touched(G, part, u, h, mark, touched):
    if _is_csr(G):
        def impl(G, part, u, h, mark, touched):
            ip, ix, dv = G
            nt = 0
            for p in range(ip[u], ip[u + 1]):
                c = part[ix[p]]
                h[0, c] += dv[p]
                if not mark[c]:  # written out: an inlined helper returning nt made this loop 3x slower
                    mark[c] = True
                    touched[nt] = c
                    nt += 1
            return nt
        return impl

    def impl(G, part, u, h, mark, touched):
        off, layer, th, cf = G.off, G.layer, G.th, G.coef
        l = layer[u]
        i = u - off[l]
        nt = 0
        if l > 0:
            s, ns = _up_seg(G, l - 1, i)
            nt = _seg_touched(G.up, s, ns, off[l - 1], th[l - 1], cf, part, h, mark, touched, nt)
        if l < G.boff.size - 1:
            s, ns = _down_seg(G, l, i)
            nt = _seg_touched(G.down, s, ns, off[l + 1], th[l], cf, part, h, mark, touched, nt)
        return nt
    return impl


@njit(inline="always")
def _null(xb, ysum, c, R):
    """``Σ_t xb_t ysum[t, c]`` (the usual ranks written out)."""
    if R == 2:
        return xb[0] * ysum[0, c] + xb[1] * ysum[1, c]
    if R == 1:
        return xb[0] * ysum[0, c]
    h = 0.0
    for t in range(R):
        h += xb[t] * ysum[t, c]
    return h


@njit(inline="always")
def _nb_step(c, h, ysum, xb, best, arg):
    """A neighbour's module ``c`` against the best so far: its value is read once, then set to NaN, so
    that repeats (and modules marked beforehand) drop out of the comparison."""
    uc = np.uint64(c)
    v = h[0, uc] - _null(xb, ysum, uc, xb.size)
    h[0, uc] = np.nan
    return (v, c) if v > best else (best, arg)


@njit(inline="always")
def _seg_best(o, nt, part, h, ysum, xb, best, arg):
    o = np.uint64(o)
    for j in range(np.uint64(nt)):
        best, arg = _nb_step(part[o + j], h, ysum, xb, best, arg)
    return best, arg


@overload(_nb_best)
def _ov_nb_best(G, part, u, h, ysum, xb):
    if _is_csr(G):
        def impl(G, part, u, h, ysum, xb):
            ip, ix = G.indptr, G.indices
            best, arg = -np.inf, -1
            for p in range(ip[u], ip[u + 1]):
                best, arg = _nb_step(part[ix[p]], h, ysum, xb, best, arg)
            return best, arg
        return impl

    def impl(G, part, u, h, ysum, xb):
        off, layer = G.off, G.layer
        l = layer[u]
        best, arg = -np.inf, -1
        if l > 0:
            best, arg = _seg_best(off[l - 1], off[l] - off[l - 1], part, h, ysum, xb, best, arg)
        if l < G.boff.size - 1:
            best, arg = _seg_best(off[l + 1], off[l + 2] - off[l + 1], part, h, ysum, xb, best, arg)
        return best, arg
    return impl


@overload(_nb_zero)
def _ov_nb_zero(G, part, u, h):
    if _is_csr(G):
        def impl(G, part, u, h):
            ip, ix = G.indptr, G.indices
            for p in range(ip[u], ip[u + 1]):
                h[0, part[ix[p]]] = 0.0
        return impl

    def impl(G, part, u, h):
        off, layer = G.off, G.layer
        l = layer[u]
        if l > 0:
            for v in range(np.uint64(off[l - 1]), np.uint64(off[l])):
                h[0, np.uint64(part[v])] = 0.0
        if l < G.boff.size - 1:
            for v in range(np.uint64(off[l + 1]), np.uint64(off[l + 2])):
                h[0, np.uint64(part[v])] = 0.0
    return impl


@njit(inline="always")
def _seg_move(w, s, nt, o, th, cf, Hnm, a, c):
    ap, bp, an, bn = cf[0], cf[1], cf[2], cf[3]
    ua, uc, o = np.uint64(a), np.uint64(c), np.uint64(o)
    for j in range(nt):
        v = _bv(np.float64(w[s + j]), th, ap, bp, an, bn)
        Hnm[o + j, ua] -= v
        Hnm[o + j, uc] += v


@overload(_move_rows)
def _ov_move_rows(G, u, Hnm, a, c):
    if _is_csr(G):
        def impl(G, u, Hnm, a, c):
            ip, ix, dv = G
            ua, uc = np.uint64(a), np.uint64(c)
            for p in range(np.uint64(ip[u]), np.uint64(ip[u + 1])):
                v = np.uint64(ix[p])
                Hnm[v, ua] -= dv[p]
                Hnm[v, uc] += dv[p]
        return impl

    def impl(G, u, Hnm, a, c):
        off, layer, th, cf = G.off, G.layer, G.th, G.coef
        l = layer[u]
        i = u - off[l]
        if l < G.boff.size - 1:
            s, nt = _down_seg(G, l, i)
            _seg_move(G.down, s, nt, off[l + 1], th[l], cf, Hnm, a, c)
        if l > 0:
            s, nt = _up_seg(G, l - 1, i)
            _seg_move(G.up, s, nt, off[l - 1], th[l - 1], cf, Hnm, a, c)
    return impl


@intrinsic
def _prefetch(typingctx, arr, i):
    """``llvm.prefetch`` (read, keep in all levels) of the cache line holding ``arr[i]`` (1-D array)."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [ptr.type],
                                              ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]))
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    if not isinstance(i, types.Integer):
        return None
    return types.void(arr, i), codegen


@overload(_prefetch_row, inline="always")
def _ov_prefetch_row(G, u):
    if _is_csr(G):
        def impl(G, u):
            ip, ix, dv = G
            for p in range(ip[u], ip[u + 1], 8):
                _prefetch(dv, p)
                _prefetch(ix, p)
        return impl

    def impl(G, u):
        off, layer = G.off, G.layer
        l = layer[u]
        i = u - off[l]
        if l > 0:
            s, nt = _up_seg(G, l - 1, i)
            for q in range(np.uint64(0), nt, np.uint64(16)):
                _prefetch(G.up, s + q)
        if l < G.boff.size - 1:
            s, nt = _down_seg(G, l, i)
            for q in range(np.uint64(0), nt, np.uint64(16)):
                _prefetch(G.down, s + q)
    return impl


#: nodes per tile of ``_dense_rows`` (its module-major workspace is ``hi × _TILE``, in L1/L2).
_TILE = 128


@njit(inline="always")
def _add_rows(w, s, nl, val, th, cf, T, c):
    """``T[c, :nl] += val(w[s:s+nl])``: one source row of a block added into module ``c``'s row (vectorised;
    unsigned indices: with signed ones the wrap-around tests kept this loop scalar, 4x slower)."""
    ap, bp, an, bn = cf[0], cf[1], cf[2], cf[3]
    s, c = np.uint64(s), np.uint64(c)
    for j in range(np.uint64(nl)):
        T[c, j] += val(np.float64(w[s + j]), th, ap, bp, an, bn)


@njit(inline="always")
def _tile_rows(G, part, Hnm, hi, work, l, j0, nb, val):
    """``_dense_rows`` for the ``nb`` nodes ``j0 ..`` of layer ``l``, through the module-major tile ``T =
    work[:hi·nb]`` (hi, nb): the block below adds the tile's slice of each source's row (``down``) into its
    module's row of ``T``, the block above each target's (``up``), in the order ``_scatter`` adds them (so each
    sum is the same to the bit); then ``T`` is transposed into the rows, in strips of 8 modules."""
    down, up, boff, off, th, cf = G.down, G.up, G.boff, G.off, G.th, G.coef
    L = boff.size - 1
    nl = off[l + 1] - off[l]
    unb, uhi, o = np.uint64(nb), np.uint64(hi), np.uint64(off[l] + j0)
    cap, eight = np.uint64(Hnm.shape[1]), np.uint64(8)
    T = work[:hi * nb].reshape((hi, nb))
    for c in range(uhi):
        for j in range(unb):
            T[c, j] = 0.0
    if l > 0:
        for i in range(off[l] - off[l - 1]):
            _add_rows(down, boff[l - 1] + i * nl + j0, nb, val, th[l - 1], cf, T, part[off[l - 1] + i])
    if l < L:
        for v in range(off[l + 2] - off[l + 1]):
            _add_rows(up, boff[l] + v * nl + j0, nb, val, th[l], cf, T, part[off[l + 1] + v])
    top = uhi - uhi % eight
    for c0 in range(np.uint64(0), top, eight):
        for j in range(unb):
            for c in range(c0, c0 + eight):
                Hnm[o + j, c] = T[c, j]
    for j in range(unb):
        for c in range(top, uhi):
            Hnm[o + j, c] = T[c, j]
        for c in range(uhi, cap):
            Hnm[o + j, c] = 0.0


@overload(_dense_rows)
def _ov_dense_rows(G, part, Hnm, hi, work):
    if _is_csr(G):
        return lambda G, part, Hnm, hi, work: False

    def impl(G, part, Hnm, hi, work):
        off, th, cf = G.off, G.th, G.coef
        plain = cf[1] == 0 and cf[3] == 0
        for l in range(th.size):
            plain = plain and th[l] <= 0
        for l in range(off.size - 1):
            for j0 in range(0, off[l + 1] - off[l], _TILE):
                nb = min(_TILE, off[l + 1] - off[l] - j0)
                if plain:  # the common unthresholded case: a cheaper value (_seg_scatter)
                    _tile_rows(G, part, Hnm, hi, work, l, j0, nb, _pv)
                else:
                    _tile_rows(G, part, Hnm, hi, work, l, j0, nb, _bv)
        return True
    return impl


@overload(_dense_work)
def _ov_dense_work(G, k):
    if _is_csr(G):
        return lambda G, k: 0
    return lambda G, k: k * _TILE


@overload(_diag)
def _ov_diag(G):
    if _is_csr(G):
        def impl(G):
            ip, ix, dv = G
            n = ip.size - 1
            diag = np.zeros(n)
            for u in range(n):
                seg = ix[ip[u]:ip[u + 1]]
                k = 0
                for p in range(seg.size):  # a branch-free count vectorises; most rows have no self-loop
                    k += np.int64(seg[p] == u)
                if k:
                    for p in range(ip[u], ip[u + 1]):
                        if ix[p] == u:
                            diag[u] += dv[p]
            return diag
        return impl
    return lambda G: np.zeros(G.off[-1])  # a layered graph has no self-loops

