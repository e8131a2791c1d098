"""Louvain in BCT ``community_louvain`` form on a sparse graph plus a low-rank null model.

The modularity matrix is never stored. It is held as

.. math:: B_{uv} = A_{uv} - \\sum_{t<R} b_t\\, X_{t,u} Y_{t,v}

with ``A`` symmetric, held as a CSR matrix or as the weight blocks themselves (``louvain_graph``), and ``R``
rank-one null terms (``R = 1`` Newman, ``2`` signed undirected, ``4`` signed directed after BCT's
symmetrisation). The node-to-module sums ``H[u,c] = A[u,c] − Σ_t b_t X_{t,u} Σ_{v∈c} Y_{t,v}`` cost
``O(deg u)`` for the neighbour part plus ``O(R)`` per candidate module. Aggregation keeps the form:
``A ← EᵀAE`` (self-loops included), ``X ← EᵀX``, ``Y ← EᵀY``.

Move rule as BCT: ``dQ(u→c) = H[u,c] − H[u,a] + B_uu``, best move accepted if ``> 1e-10``; sweeps in a
random node order until no move; aggregate while the level gains ``> 1e-10``. The node order comes from a
xorshift64 stream per run, so a run is deterministic for its seed whatever the thread count.

How a node's candidates are evaluated (all exact, the same candidates as BCT's dense ``B·M``):

* module ids are kept compact (renumbered between sweeps), so the ``C`` modules are ids ``0..C-1``;
* *scan*: ``A[u, ·]`` scattered into a row of length ``C+1`` (or read from the dense matrix below), then one
  vectorised pass over all ids (an empty id is "u alone");
* *neighbours*: for a node whose degree is small against ``C``, only the modules of its neighbours and
  "alone", when a bound on the null term shows that no other module can give a move; else the scan. The
  bound is the smaller of two: ``ymin``/``ymax`` over the modules, and for rank 2 with ``Y ≥ 0`` (signed
  undirected) a bound from the largest ratio ``Y1_c/Y0_c``, leaving out the 16 modules with the largest
  ratios, which are then evaluated exactly with the neighbours' (``_ratio_ub``, ``_outliers``);
* *dense mode*: once an ``N × C'`` matrix fits in cache, or the last sweep moved few nodes and the matrix is
  no larger than the edge list, the rows ``Hnm[u, c] = A[u, c]`` are kept (built when it starts: all at once
  from the blocks, module-major then transposed, or row by row from a CSR; updated by each move in
  ``O(deg)``), so a sweep costs ``O(N·C)`` instead of ``O(E)``; they also give the next level's graph.

Names used throughout: ``part`` the module id of every node; ``ysum[t, c] = Σ_{v∈c} Y[t, v]``; ``xb[t] =
b_t X[t, u]`` of the node ``u`` being evaluated, so its null term for module ``c`` is ``Σ_t xb[t] ysum[t, c]``;
``b_uu = B[u, u]``; ``h_own`` the value ``H[u, a] − null`` of u's own module ``a``; ``Hnm`` the dense node ×
module sums ``A[u, c]`` (BCT's name); ``scat1``/``scat4`` the one or four rows a node's row is scattered into.

The sweeps (``_sweeps``) are compiled without Numba's reference counting (``_nrt=False``; the workspace is
allocated by ``_local_moving``): the atomic incref/decref of every array view and tuple item were 20% of a
run. For the same reason the per-entry loops address rows by index instead of slicing, and use unsigned
indices (a signed one costs a wrap-around test per access).
"""
from collections import namedtuple

import numba
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from .. import config
from .louvain_graph import (CSRGraph, _deg, _dense_rows, _dense_work, _diag, _move_rows, _n, _nb_best, _nb_zero, _nnz,
                            _null, _prefetch, _prefetch_row, _scatter, _touched)

_TOL = 1e-10
_MAX_SWEEPS = 1000
#: scan every module id (instead of only the neighbours' modules) while ids ≤ _SCAN_PER_EDGE · degree.
_SCAN_PER_EDGE = 4
#: dense mode (after the first sweep, unless the graph is complete or the start has at most N/2 modules)
#: when its N × C' matrix fits in _DENSE_CACHE entries (L2) or the last sweep moved at most N / _DENSE_MOVES
#: nodes, ...
_DENSE_CACHE = 1 << 18
_DENSE_MOVES = 4
#: ... and the N × C' matrix has at most _DENSE_RATIO × the stored entries and at most _DENSE_MAX entries.
_DENSE_RATIO = 1.0
_DENSE_MAX = 1 << 24
#: scatter into one row while more ids than this are live or than the node has neighbours (few repeats),
#: else into four interleaved rows.
_ONE_ROW = 1024
#: ids are compacted within a sweep once fewer than 3/4 of them are live (and there are more than this);
#: a dense row is built through four interleaved rows up to this many ids.
_CHUNK = 64
#: modules with the largest Y1/Y0 ratios that the neighbours path evaluates exactly (``_outliers``).
_OUTLIERS = 16
#: the scan's fast-math flags (no value there is NaN).
_SCAN_MATH = {"nnan", "nsz", "contract"}

CPU_ONLY = ("Louvain's local moving is a chain of dependent moves; a GPU version (parallel moves with conflict "
            "resolution) would not follow BCT's move rule, so it runs on the CPU for every backend")

#: The sweeps' workspace: ``_local_moving`` allocates it, ``_sweeps`` (compiled without reference counting)
#: only reads and writes it. A named tuple compiles as a tuple: its fields cost nothing to read.
Workspace = namedtuple("Workspace", [
    "ysum",    # (R', n+1): Σ_{v∈c} Y[t, v] of every module id c (rank padded to R' = 2 for _scan)
    "size",    # (n,): members of every module id
    "scat4",   # (4, n+1): four interleaved scatter rows (_scatter, k = 4)
    "scat1",   # (1, n+1): one scatter row
    "values",  # (n+1,): a scan's values
    "free",    # (2n+1,): empty ids below hi (lazily: a popped id may have been refilled)
    "xb",      # (R',): b_t X[t, u] of the node being evaluated
    "perm",    # (n,): the node order, shuffled in place every sweep
    "built",   # (n,): dense rows built
    "ymin", "ymax",  # (R,): bounds of ysum over the non-empty modules (the non-neighbour bound)
    "rho",     # (2,): the ratio bound (_ratio_ub)
    "new",     # (n+1,): _compact's renumbering
    "Hbuf",    # the dense node × module matrix Hnm (at most hmax entries)
    "outl", "top", "isout",  # the ratio bound's outliers (_outliers)
    "work",    # _dense_rows' workspace
])


@intrinsic
def _fmax(typingctx, a, b):
    """``llvm.maxnum.f64``: a max that LLVM vectorises as a reduction (Python's ``max`` and a compare-select do
    not vectorise in Numba)."""
    def codegen(context, builder, sig, args):
        d = ir.DoubleType()
        return builder.call(builder.module.declare_intrinsic("llvm.maxnum", [d], ir.FunctionType(d, [d, d])), args)
    return types.float64(types.float64, types.float64), codegen


@njit(cache=config.CACHE)
def _next(state):
    x = state[0]
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    state[0] = x
    return x


@njit(cache=config.CACHE)
def _shuffle(perm, state):
    for i in range(perm.size - 1, 0, -1):
        j = np.int64(_next(state) % np.uint64(i + 1))
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp


@njit(inline="always")
def _rows(h, c):
    """``Σ_k h[k, c]``: the partial sums of the interleaved scatter rows (1 or 4 rows)."""
    if h.shape[0] == 4:
        return (h[0, c] + h[1, c]) + (h[2, c] + h[3, c])
    return h[0, c]


@njit(inline="always")
def _scan(h, r, k, ysum, xb, m, buf, clear):
    """``buf[c] = v[c] = Σ_{q<k} h[r+q, c] − Σ_t xb_t ysum[t, c]`` for ``c < m``; returns ``max_c v[c]``. With
    ``clear``, those rows of ``h`` are zeroed on the way (the scatter rows are then ready for the next node).

    ``k`` is 1 (a dense-mode row ``Hnm[r]``, or the scatter row) or 4 (the interleaved scatter rows, ``r = 0``).
    Ranks up to 2 come with ``ysum`` and ``xb`` padded to 2 rows (zeros), and run as branch-free kernels: a
    kernel with the shapes as branches inside costs 75 instead of 25 cycles per call, and ~2x per id. Rows
    are addressed by index, not sliced: every array view costs an atomic incref/decref pair.
    """
    if ysum.shape[0] == 2:
        if k == 4:
            return _scan4z(h, ysum, xb, m, buf)
        return _scan1(h, r, ysum, xb, m, buf, clear)
    return _scan_r(h, r, k, ysum, xb, m, buf, clear)


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _scan1(h, r, ysum, xb, m, buf, clear):
    """``_scan`` for one row and rank 2 (padded): a plain loop that LLVM vectorises (with ``_fmax``; the
    test of ``clear`` is hoisted out of it)."""
    x0, x1 = xb[0], xb[1]
    best = -np.inf
    for c in range(m):
        v = h[r, c] - x0 * ysum[0, c] - x1 * ysum[1, c]
        if clear:
            h[r, c] = 0.0
        buf[c] = v
        best = _fmax(best, v)
    return best


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _scan1max(h, r, ysum, xb, m):
    """``max_c v[c]`` of ``_scan1`` without storing the values (nor clearing): a dense sweep, where few nodes
    move, then finds the module with ``_first1``. The store cost 40% (36 against 21 ns for 113 ids)."""
    x0, x1 = xb[0], xb[1]
    best = -np.inf
    for c in range(m):
        best = _fmax(best, h[r, c] - x0 * ysum[0, c] - x1 * ysum[1, c])
    return best


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _first1(h, r, ysum, xb, m, best):
    """The first ``c < m`` whose value (computed as in ``_scan1max``) equals ``best``, else ``m``."""
    x0, x1 = xb[0], xb[1]
    first = m
    for c in range(m):
        first = min(first, c if h[r, c] - x0 * ysum[0, c] - x1 * ysum[1, c] == best else m)
    return first


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _scan4z(h, ysum, xb, m, buf):
    """``_scan`` for four interleaved rows (``h[0:4]``) and rank 2 (padded), zeroing them."""
    x0, x1 = xb[0], xb[1]
    best = -np.inf
    for c in range(m):
        v = ((h[0, c] + h[1, c]) + (h[2, c] + h[3, c])) - x0 * ysum[0, c] - x1 * ysum[1, c]
        h[0, c] = 0.0
        h[1, c] = 0.0
        h[2, c] = 0.0
        h[3, c] = 0.0
        buf[c] = v
        best = _fmax(best, v)
    return best


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _scan_r(h, r, k, ysum, xb, m, buf, clear):
    """``_scan`` for any rank and either row count."""
    R = xb.size
    best = -np.inf
    for c in range(m):
        v = h[r, c]
        if k == 4:
            v = (h[r, c] + h[r + 1, c]) + (h[r + 2, c] + h[r + 3, c])
        for t in range(R):
            v -= xb[t] * ysum[t, c]
        buf[c] = v
        best = _fmax(best, v)
    if clear:
        for q in range(r, r + k):
            for c in range(m):
                h[q, c] = 0.0
    return best


@njit(inline="always")
def _ratio(num, den):
    """``num / den`` for the ratio bound below; a module with ``den ≤ 0`` (0, or a rounding residue) is
    bounded only if ``num ≤ 0`` as well."""
    if den > 0:
        return num / den
    return np.inf if num > 0 else 0.0


@njit(inline="always")
def _ratio_ub(xb, rho, ymax):
    """A bound on ``max_c −x0 Y0_c − x1 Y1_c`` over the non-empty modules for rank 2 with ``ysum ≥ 0``, from
    ``rho[0] ≥ max_c Y1_c / Y0_c``, ``rho[1] ≥ max_c Y0_c / Y1_c`` and ``ymax``: for ``x0 ≥ 0 > x1`` the value is
    ``Y0_c (|x1| Y1_c/Y0_c − x0) ≤ ymax0 · max(0, |x1| rho0 − x0)`` (the other sign symmetric). Much tighter
    than the ``ymin``/``ymax`` bound for signed modularity, where ``x0 > 0 > x1`` and ``Y1_c ≈ Y0_c``."""
    x0, x1 = xb[0], xb[1]
    if x0 >= 0 and x1 >= 0:
        return 0.0
    if x0 >= 0:
        k, y = -x1 * rho[0] - x0, ymax[0]
    elif x1 >= 0:
        k, y = -x0 * rho[1] - x1, ymax[1]
    else:
        return np.inf
    if k <= 0:
        return 0.0
    return k * y if k < np.inf else np.inf


@njit(cache=config.CACHE)
def _outliers(ysum, size, hi, outl, top, isout, rho):
    """The ratio bound's outliers: ``outl`` gets the (at most ``outl.size``) non-empty modules with the
    largest ``Y1_c / Y0_c`` (flagged in ``isout``), which the neighbours path evaluates exactly; ``rho[0]``
    becomes the largest ratio of the others, ``rho[1]`` the largest ``Y0_c / Y1_c`` of all. One module with
    an extreme ratio (a singleton, early on) would otherwise loosen the bound for every node. Returns the
    number of outliers (``top``: a workspace for their ratios, ascending)."""
    K = outl.size
    for q in range(K):
        isout[outl[q]] = False
    nout = 0
    rho[0] = 0.0
    rho[1] = 0.0
    for c in range(hi):
        if size[c] == 0:
            continue
        rho[1] = max(rho[1], _ratio(ysum[0, c], ysum[1, c]))
        r = _ratio(ysum[1, c], ysum[0, c])
        if nout == K:
            if r <= top[0]:
                rho[0] = max(rho[0], r)
                continue
            rho[0] = max(rho[0], top[0])  # the smallest outlier drops out
            q = 0
            while q + 1 < K and top[q + 1] < r:
                top[q] = top[q + 1]
                outl[q] = outl[q + 1]
                q += 1
        else:
            q = nout
            while q > 0 and top[q - 1] > r:
                top[q] = top[q - 1]
                outl[q] = outl[q - 1]
                q -= 1
            nout += 1
        top[q] = r
        outl[q] = c
    for q in range(nout):
        isout[outl[q]] = True
    for q in range(nout, K):
        outl[q] = outl[0] if nout > 0 else 0
    return nout


@njit(cache=config.CACHE)
def _first(buf, m, best):
    """The first ``c < m`` with ``buf[c] == best`` (an integer min-reduction, which vectorises)."""
    first = m
    for c in range(m):
        first = min(first, c if buf[c] == best else m)
    return first


@njit(inline="always")
def _clear(h, m):
    """``h[:, :m] = 0`` as plain loops (Numba's 2-D slice assignment is slow)."""
    for r in range(h.shape[0]):
        for c in range(m):
            h[r, c] = 0.0


@njit(cache=config.CACHE)
def _compact(part, size, ysum, hi, new):
    """Renumber the non-empty ids below ``hi`` to ``0..C-1`` in id order (``size``, ``ysum`` follow; ``new``
    is a workspace of at least ``hi`` entries); returns ``C``."""
    C = 0
    for c in range(hi):
        if size[c] > 0:
            new[c] = C
            size[C] = size[c]
            for t in range(ysum.shape[0]):
                ysum[t, C] = ysum[t, c]
            C += 1
    size[C:hi] = 0
    ysum[:, C:hi] = 0.0
    for u in range(part.size):
        part[u] = new[part[u]]
    return C


@njit(cache=config.CACHE)
def _local_moving(G, X, Y, b, part, state, nonneg, diag, dense_ratio):
    """BCT's local moving phase on ``B = A − Σ_t b_t X_t Y_tᵀ`` (``A`` = the graph ``G``, either form) from
    the partition ``part`` (changed in place; ids end below the returned ``hi``). Dense mode is allowed while
    its ``N × C'`` matrix has at most ``dense_ratio`` × the stored entries (and ``_DENSE_MAX``).

    Returns (dense, Hnm, hi): when ``dense``, ``Hnm[u, c] = A[u, c]`` for ``c < hi`` is exact for the final
    partition.

    This allocates the workspace; the sweeps run in ``_sweeps``, compiled without reference counting.
    """
    n = _n(G)
    R = b.size
    nnz = _nnz(G)
    hi = _renumber(part)
    RP = 2 if R <= 2 else R  # ysum and xb padded with zero rows to rank 2 (_scan)
    ysum = np.zeros((RP, n + 1))  # id n is never used: a scan of all n ids still has one empty id
    ypos = R == 2 and np.all(Y >= 0)  # the ratio bound applies (signed undirected: Y = k⁺, k⁻)
    hmax = max(0, min(n * n, _DENSE_MAX, int(dense_ratio * nnz)))  # the largest dense matrix allowed
    ws = Workspace(ysum=ysum, size=np.zeros(n, np.int64), scat4=np.zeros((4, n + 1)), scat1=np.zeros((1, n + 1)),
                   values=np.empty(n + 1), free=np.empty(2 * n + 1, np.int64), xb=np.zeros(RP), perm=np.arange(n),
                   built=np.zeros(n, np.bool_), ymin=np.empty(R), ymax=np.empty(R), rho=np.zeros(2),
                   new=np.empty(n + 1, np.int64), Hbuf=np.empty(hmax), outl=np.zeros(_OUTLIERS, np.int64),
                   top=np.empty(_OUTLIERS), isout=np.zeros(n + 1, np.bool_),
                   work=np.empty(_dense_work(G, min(n, hmax // max(n, 1)))))  # dense: n·cap ≤ hmax, hi ≤ cap
    dense, cap, hi = _sweeps(G, X, Y, b, part, state, nonneg, diag, dense_ratio, hi, ypos, ws)
    Hbuf = ws.Hbuf
    if dense:
        return True, Hbuf[:n * cap].reshape((n, cap)), hi
    return False, np.zeros((0, 0)), hi


@njit(cache=config.CACHE, _nrt=False)
def _sweeps(G, X, Y, b, part, state, nonneg, diag, dense_ratio, hi, ypos, ws):
    """The sweeps of ``_local_moving`` (its ``Workspace`` passed in as ``ws``; returns (dense, cap, hi)).

    Compiled with ``_nrt=False``: no array is allocated here, so no reference count is needed, and without
    them the atomic incref/decref pairs of every array view and tuple item (20% of a run) are gone.
    ``free``: empty ids below hi (lazily: a popped id may have been refilled); ``new``: ``_compact``'s
    workspace; ``Hbuf``: the dense matrix, its rows built all at once when dense mode starts (blocks form,
    ``_dense_rows`` through ``work``: 81 against 210 µs row by row on 784-100-100-10), else one by one
    (zeroed first) during the first dense sweep.
    """
    ysum, size, scat4, scat1, buf, free, xb = ws.ysum, ws.size, ws.scat4, ws.scat1, ws.values, ws.free, ws.xb
    perm, built, ymin, ymax, rho, new, Hbuf = ws.perm, ws.built, ws.ymin, ws.ymax, ws.rho, ws.new, ws.Hbuf
    outl, top, isout, work = ws.outl, ws.top, ws.isout, ws.work
    n = _n(G)
    R = b.size
    nnz = _nnz(G)
    for u in range(n):
        size[part[u]] += 1
        for t in range(R):
            ysum[t, part[u]] += Y[t, u]
    nact = hi
    dense = False
    Hnm = Hbuf[:0].reshape((0, 0))
    cap = n
    moved = n
    for sweep in range(_MAX_SWEEPS):
        if not dense:
            if nact < hi:
                hi = _compact(part, size, ysum, hi, new)
            cap = min(n, nact + 8 + nact // 4)
            small = n * cap <= _DENSE_CACHE  # its updates stay in cache, however many nodes move
            # from the first sweep too when the rows cost no more than the graph (an aggregated level is
            # complete) or the start has few modules (an initial partition): then few nodes move
            first = n * n <= nnz or 2 * nact <= n
            if (sweep > 0 or first) and (small or moved * _DENSE_MOVES <= n):
                if n * cap <= min(_DENSE_MAX, dense_ratio * nnz):
                    dense = True
                    Hnm = Hbuf[:n * cap].reshape((n, cap))
                    built[:] = _dense_rows(G, part, Hnm, hi, work)  # else built one by one below
            if not dense:
                cap = n
        nfree = 0
        for c in range(hi):
            if size[c] == 0:
                free[nfree] = c
                nfree += 1
        for t in range(R):
            ymin[t] = np.inf
            ymax[t] = -np.inf
            for c in range(hi):
                if size[c] > 0:
                    ymin[t] = min(ymin[t], ysum[t, c])
                    ymax[t] = max(ymax[t], ysum[t, c])
        nout = _outliers(ysum, size, hi, outl, top, isout, rho) if ypos else 0
        moved = 0
        _shuffle(perm, state)
        for k in range(n):
            u = perm[k]
            if k + 1 < n:  # the next node's data, while this one is evaluated
                nxt = perm[k + 1]
                if dense:
                    for c in range(0, min(hi + 1, cap), 8):
                        _prefetch(Hbuf, nxt * cap + c)
                if not dense or not built[nxt]:
                    _prefetch_row(G, nxt)
            a = part[u]
            deg = _deg(G, u)
            b_uu = diag[u]
            for t in range(R):
                xb[t] = b[t] * X[t, u]
                b_uu -= xb[t] * Y[t, u]
            if dense:
                if not built[u]:  # CSR: the first dense sweep builds the rows (moves wrote into unbuilt ones)
                    for c in range(cap):
                        Hnm[u, c] = 0.0
                    if hi > _CHUNK:  # many modules, few repeats: straight into the row
                        _scatter(G, part, u, Hnm, u, 1)
                    else:  # few modules: four interleaved rows, then folded
                        _scatter(G, part, u, scat4, 0, 4)
                        for c in range(hi):
                            Hnm[u, c] = _rows(scat4, c)
                        _clear(scat4, hi)
                    built[u] = True
                keep = Hnm[u, a]
                h_own = keep - _null(xb, ysum, a, R)
                Hnm[u, a] = -np.inf
                m = min(hi + 1, cap)
                bestc = m
                if ysum.shape[0] == 2:  # few nodes move: the max alone, then the first module reaching it
                    v = _scan1max(Hnm, u, ysum, xb, m)
                    best = v - h_own + b_uu
                    bestc = _first1(Hnm, u, ysum, xb, m, v) if best > _TOL else a
                if bestc == m:  # rank > 2 (or a value computed twice that differed: not seen)
                    v = _scan(Hnm, u, 1, ysum, xb, m, buf, False)
                    best = v - h_own + b_uu
                    bestc = _first(buf, m, v) if best > _TOL else a
                Hnm[u, a] = keep
            elif hi < _SCAN_PER_EDGE * deg:
                # four interleaved rows only when neighbours share modules (a one-row scan is cheaper)
                acc, nrow = (scat4, 4) if hi <= _ONE_ROW and deg >= hi else (scat1, 1)
                _scatter(G, part, u, acc, 0, nrow)
                h_own = _rows(acc, a) - _null(xb, ysum, a, R)
                acc[0, a] = -np.inf
                v = _scan(acc, 0, nrow, ysum, xb, hi + 1, buf, True)
                best = v - h_own + b_uu
                bestc = _first(buf, hi + 1, v) if best > _TOL else a
            else:
                _scatter(G, part, u, scat1, 0, 1)
                h_own = scat1[0, a] - _null(xb, ysum, a, R)
                ub = 0.0  # bounds the best non-neighbour module's value (ymin/ymax over the modules)
                for t in range(R):
                    ub -= xb[t] * (ymin[t] if xb[t] >= 0 else ymax[t])
                if ypos:
                    ub = min(ub, _ratio_ub(xb, rho, ymax))
                if not nonneg and ub - h_own + b_uu > _TOL:  # a non-neighbour module could give a move
                    scat1[0, a] = -np.inf
                    v = _scan(scat1, 0, 1, ysum, xb, hi + 1, buf, True)
                    best = v - h_own + b_uu
                    bestc = _first(buf, hi + 1, v) if best > _TOL else a
                else:  # only the neighbours' modules (an empty one, "alone", dominates the others)
                    scat1[0, a] = np.nan
                    v, bestc = _nb_best(G, part, u, scat1, ysum, xb)
                    for q in range(nout):  # the ratio bound's outliers (a module read already is NaN)
                        o = outl[q]
                        if size[o] > 0:
                            vo = scat1[0, o] - _null(xb, ysum, o, R)
                            if vo > v:
                                v = vo
                                bestc = o
                    best = v - h_own + b_uu
                    if bestc < 0:
                        bestc = a
                    _nb_zero(G, part, u, scat1)
                    scat1[0, a] = 0.0
            alone = b_uu - h_own
            if alone > best:
                best = alone
                bestc = -1
            if best > _TOL:
                moved += 1
                c = bestc
                if c < 0 or size[c] == 0:  # u alone: an empty id
                    while nfree > 0 and size[free[nfree - 1]] > 0:
                        nfree -= 1
                    if c < 0:
                        if nfree > 0:
                            nfree -= 1
                            c = free[nfree]
                        else:
                            c = hi
                    if c >= hi:
                        hi = c + 1
                    if dense and c >= cap:  # more modules than Hnm holds: sparse sweeps for this level
                        dense = False
                    nact += 1
                size[c] += 1
                size[a] -= 1
                for t in range(R):
                    ysum[t, c] += Y[t, u]
                    ysum[t, a] -= Y[t, u]
                    ymax[t] = max(ymax[t], ysum[t, c])
                    ymin[t] = min(ymin[t], ysum[t, c])
                    if size[a] > 0:
                        ymin[t] = min(ymin[t], ysum[t, a])
                        ymax[t] = max(ymax[t], ysum[t, a])
                if ypos:  # (an outlier is evaluated exactly: its ratio does not enter the bound)
                    if not isout[c]:
                        rho[0] = max(rho[0], _ratio(ysum[1, c], ysum[0, c]))
                    rho[1] = max(rho[1], _ratio(ysum[0, c], ysum[1, c]))
                    if size[a] > 0:
                        if not isout[a]:
                            rho[0] = max(rho[0], _ratio(ysum[1, a], ysum[0, a]))
                        rho[1] = max(rho[1], _ratio(ysum[0, a], ysum[1, a]))
                part[u] = c
                if dense:
                    _move_rows(G, u, Hnm, a, c)
                if size[a] == 0:
                    nact -= 1
                    for t in range(R):
                        ysum[t, a] = 0.0
                    free[nfree] = a
                    nfree += 1
                    if dense:  # an empty module's column is exactly 0 (drop the rounding residue)
                        for v in range(n):
                            Hnm[v, a] = 0.0
                    elif 4 * nact < 3 * hi and hi > _CHUNK:  # compact mid-sweep: the scans shrink with the ids
                        hi = _compact(part, size, ysum, hi, new)
                        nfree = 0
                        if ypos:  # new ids: the outliers again (the bound is exact again too)
                            nout = _outliers(ysum, size, hi, outl, top, isout, rho)
        if moved == 0:
            break
    return dense, cap, hi


@njit(cache=config.CACHE)
def _renumber(part):
    """Relabel in place to 0..C-1 in order of first appearance; returns C."""
    n = part.size
    new = np.full(n, -1, np.int64)
    C = 0
    for u in range(n):
        m = part[u]
        if new[m] < 0:
            new[m] = C
            C += 1
        part[u] = new[m]
    return C


@njit(cache=config.CACHE)
def _module_sums(X, Y, part, C):
    """``XM = X Eᵀ``, ``ysum = Y Eᵀ``: the null vectors summed per module, shape (R, C) each."""
    R = X.shape[0]
    XM = np.zeros((R, C))
    ysum = np.zeros((R, C))
    for u in range(part.size):
        for t in range(R):
            XM[t, part[u]] += X[t, u]
            ysum[t, part[u]] += Y[t, u]
    return XM, ysum


@njit(cache=config.CACHE)
def _aggregate(G, X, Y, part, C):
    """The next level's CSR ``EᵀAE`` (self-loops included) and null vectors, in ``O(E)``."""
    n = _n(G)
    start = np.zeros(C + 1, np.int64)  # members of each module, grouped (counting sort)
    for u in range(n):
        start[part[u] + 1] += 1
    for c in range(C):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    members = np.empty(n, np.int64)
    for u in range(n):
        members[fill[part[u]]] = u
        fill[part[u]] += 1
    cap = min(_nnz(G), C * C)
    nip = np.zeros(C + 1, np.int64)
    nix = np.empty(cap, np.int32)
    ndv = np.empty(cap)
    acc = np.zeros((1, C))
    mark = np.zeros(C, np.bool_)
    touched = np.empty(C, np.int64)
    nnz = 0
    for c in range(C):
        nt = 0
        for q in range(start[c], start[c + 1]):
            nt += _touched(G, part, members[q], acc, mark, touched[nt:])
        for q in range(nt):
            d = touched[q]
            mark[d] = False
            nix[nnz] = d
            ndv[nnz] = acc[0, d]
            acc[0, d] = 0.0
            nnz += 1
        nip[c + 1] = nnz
    XM, ysum = _module_sums(X, Y, part, C)
    return nip, nix[:nnz].copy(), ndv[:nnz].copy(), XM, ysum


@njit(cache=config.CACHE)
def _aggregate_dense(Hnm, hi, old, part, C, X, Y):
    """``_aggregate`` from the dense node × module sums of the last sweep, ``O(N·C)`` instead of ``O(E)``:
    ``A'[c, d] = Σ_{u∈c} Hnm[u, d]``. ``old`` holds the module ids before renumbering (below ``hi``), ``part``
    after. The rows are summed in the old ids (each sum takes its terms in node order), then gathered into
    the new ids and symmetrised; unsigned indices let both loops vectorise (60 -> 35 µs for 994 nodes × 120
    modules)."""
    n = part.size
    vid = np.empty(C, np.int64)  # the old id of every new one
    for u in range(n):
        vid[part[u]] = old[u]
    Ao = np.zeros((hi, hi))
    uhi, uC = np.uint64(hi), np.uint64(C)
    for u in range(np.uint64(n)):
        a = np.uint64(old[u])
        for d in range(uhi):
            Ao[a, d] += Hnm[u, d]
    P = np.empty((C, C))
    for c in range(uC):
        r = np.uint64(vid[c])
        for d in range(uC):
            P[c, d] = Ao[r, np.uint64(vid[d])]
    nip = np.arange(C + 1) * C
    nix = np.empty(C * C, np.int32)
    ndv = np.empty(C * C)
    for c in range(uC):
        for d in range(uC):
            nix[c * uC + d] = d
            ndv[c * uC + d] = 0.5 * (P[c, d] + P[d, c])
    XM, ysum = _module_sums(X, Y, part, C)
    return nip, nix, ndv, XM, ysum


@njit(cache=config.CACHE)
def _quality(G, X, Y, b, part):
    """``Σ_ij B_ij δ(c_i, c_j)`` of the partition ``part`` (ids below n)."""
    n = _n(G)
    q = 0.0
    acc = np.zeros((1, n))
    mark = np.zeros(n, np.bool_)
    touched = np.empty(n, np.int64)
    for u in range(n):
        nt = _touched(G, part, u, acc, mark, touched)
        q += acc[0, part[u]]
        for k in range(nt):
            acc[0, touched[k]] = 0.0
            mark[touched[k]] = False
    XM, ysum = _module_sums(X, Y, part, n)
    for c in range(n):
        for t in range(b.size):
            q -= b[t] * XM[t, c] * ysum[t, c]
    return q


@njit(cache=config.CACHE)
def _level(G, X, Y, b, part, state, nonneg, dense_ratio):
    """One Louvain level: local moving from ``part`` (renumbered in place to the ``C`` modules found), then
    aggregation. Returns the next level's ``(indptr, indices, data, X, Y)`` and its Q (its singletons')."""
    dense, Hnm, hi = _local_moving(G, X, Y, b, part, state, nonneg, _diag(G), dense_ratio)
    old = part.copy()
    C = _renumber(part)
    if dense and C * C < _nnz(G):
        ip, ix, dv, XM, ysum = _aggregate_dense(Hnm, hi, old, part, C, X, Y)
    else:
        ip, ix, dv, XM, ysum = _aggregate(G, X, Y, part, C)
    q = 0.0
    for c in range(C):
        for p in range(ip[c], ip[c + 1]):
            if ix[p] == c:
                q += dv[p]
        for t in range(b.size):
            q -= b[t] * XM[t, c] * ysum[t, c]
    return ip, ix, dv, XM, ysum, q


@njit(cache=config.CACHE)
def _louvain_one(G, X, Y, b, init, state, nonneg, labels, dense_ratio):
    n0 = _n(G)
    ci = init.copy()
    single = True  # singletons: Q from the self-loops and the null terms alone (no O(E) pass)
    seen = np.zeros(n0, np.bool_)
    for u in range(n0):
        if seen[ci[u]]:
            single = False
            break
        seen[ci[u]] = True
    if single:
        q0 = _diag(G).sum()
        for t in range(b.size):
            q0 -= b[t] * np.dot(X[t], Y[t])
    else:
        q0 = _quality(G, X, Y, b, ci)
    ip, ix, dv, Xl, Yl, q = _level(G, X, Y, b, ci, state, nonneg, dense_ratio)
    while q - q0 > _TOL:
        part = np.arange(ip.size - 1)
        ip2, ix2, dv2, Xl, Yl, q2 = _level(CSRGraph(ip, ix, dv), Xl, Yl, b, part, state, nonneg, dense_ratio)
        for u in range(n0):
            ci[u] = part[ci[u]]
        ip, ix, dv = ip2, ix2, dv2
        q0 = q
        q = q2
    _renumber(ci)
    labels[:] = ci
    return q


#: Refinement rounds of a seeded run that can still move (``_louvain_refined``); each raises Q or stops.
_MAX_REFINE = 100


@njit(cache=config.CACHE)
def _refined_parts(labels, fine):
    """The parts of ``labels ∩ fine`` (nodes with the same module in both), numbered ``0..P-1`` in order of
    first appearance; returns ``(parts, P)``."""
    n = labels.size
    key = labels * n + fine  # labels, fine < n
    order = np.argsort(key, kind="mergesort")
    parts = np.empty(n, np.int64)
    p = -1
    for i in range(n):
        if i == 0 or key[order[i]] != key[order[i - 1]]:
            p += 1
        parts[order[i]] = p
    return parts, _renumber(parts)


@njit(cache=config.CACHE)
def _louvain_refined(G, X, Y, b, init, state, nonneg, labels, dense_ratio):
    """A run seeded by ``init`` that can still move whole groups of nodes, not only single ones.

    BCT's seeded run (``_louvain_one``) moves single nodes out of the seed's modules and merges modules, but
    never splits one: from a seed that is already a local optimum (the previous epoch's partition) it returns
    the seed. Here, after it, each round draws a fresh unseeded run (same random stream); the better of the
    partition and the fresh run (the partition on a tie) is refined by the other, in the spirit of Leiden
    (Traag et al. 2019): the parts are the nodes that share a module in both, the graph is aggregated by those
    parts and Louvain runs on it *starting from the better partition*, so a part can move to another module or
    alone (a module splits). Rounds repeat while Q grows by ``> 1e-10``. So Q never ends below the seed's nor
    below a fresh run's: where the network has moved away from the seed's basin, the run follows.
    (Refining the seed alone, by parts of the seed and a fresh run, still stayed in the seed's basin on a
    trained network: Q 0.1445 where 0.1555 was there.)
    """
    q = _louvain_one(G, X, Y, b, init, state, nonneg, labels, dense_ratio)
    n = _n(G)
    fresh = np.empty(n, np.int64)
    for _ in range(_MAX_REFINE):
        qf = _louvain_one(G, X, Y, b, np.arange(n), state, nonneg, fresh, dense_ratio)
        if qf - q > _TOL:  # the fresh run is better: refine it by the partition instead
            for u in range(n):
                labels[u], fresh[u] = fresh[u], labels[u]
            q = qf
        parts, P = _refined_parts(labels, fresh)
        if P == n:  # every part a single node: the runs above have made every move there is
            break
        ip, ix, dv, XM, ysum = _aggregate(G, X, Y, parts, P)
        start = np.empty(P, np.int64)
        for u in range(n):
            start[parts[u]] = labels[u]
        coarse = np.empty(P, np.int64)
        q2 = _louvain_one(CSRGraph(ip, ix, dv), XM, ysum, b, start, state, nonneg, coarse, dense_ratio)
        if q2 - q <= _TOL:
            break
        for u in range(n):
            labels[u] = coarse[parts[u]]
        _renumber(labels)
        q = q2
    return q


@njit(cache=config.CACHE, nogil=True)
def _louvain_serial(G, X, Y, b, init, states, nonneg, labels_out, q_out, dense_ratio, refine):
    for r in range(states.size):
        st = states[r:r + 1].copy()
        if refine:
            q_out[r] = _louvain_refined(G, X, Y, b, init[r], st, nonneg, labels_out[r], dense_ratio)
        else:
            q_out[r] = _louvain_one(G, X, Y, b, init[r], st, nonneg, labels_out[r], dense_ratio)


def louvain_runs(graph, X, Y, b, init, states, labels_out, q_out, refine=False):
    """Independent Louvain runs, spread over ``numba.get_num_threads()`` threads (contiguous chunks of runs;
    the kernel releases the GIL). A parfor cannot take the blocks form's tuple of arrays, hence threads.

    Parameters
    ----------
    graph : CSRGraph or BlocksGraph
        ``A``, already normalised (e.g. ``w⁺/s0 − w⁻/(s0+s1)`` for negative_asym), in one of the two forms of
        ``louvain_graph``: ``CSRGraph(indptr, indices, data)`` (symmetric CSR, shapes (n+1,), (nnz,), (nnz,);
        int64, int32, float64) or ``BlocksGraph(down, up, boff, off, layer, th, coef)`` (the weight blocks).
    X, Y : arrays, shape (R, n), float64
        Null-model vectors: ``B = A − Σ_t b_t X_t Y_tᵀ`` (the set of terms is symmetric as a whole).
    b : array, shape (R,), float64
    init : array, shape (runs, n), int64
        Initial partition of every run, labels in ``0..n-1`` (``arange(n)``: singletons).
    states : array, shape (runs,), uint64, non-zero
        The random stream of every run (node order).
    labels_out : array, shape (runs, n), int64, overwritten
        Final partitions, labels ``0..C-1`` in order of first appearance.
    q_out : array, shape (runs,), float64, overwritten
        ``Q = Σ_ij B_ij δ(c_i, c_j)`` of every final partition.
    refine : bool
        Runs seeded by ``init`` that can still move groups of nodes (``_louvain_refined``), instead of BCT's
        seeded run (single-node moves and merges only).
    """
    nonneg = bool(np.all(b >= 0) and np.all(X >= 0) and np.all(Y >= 0))
    runs = states.size
    k = min(runs, numba.get_num_threads())
    if k <= 1:
        _louvain_serial(graph, X, Y, b, init, states, nonneg, labels_out, q_out, _DENSE_RATIO, bool(refine))
        return
    from concurrent.futures import ThreadPoolExecutor

    cuts = np.linspace(0, runs, k + 1).astype(np.int64)
    with ThreadPoolExecutor(k) as pool:
        done = [pool.submit(_louvain_serial, graph, X, Y, b, init[i:j], states[i:j], nonneg, labels_out[i:j],
                            q_out[i:j], _DENSE_RATIO, bool(refine)) for i, j in zip(cuts[:-1], cuts[1:])]
        for f in done:
            f.result()
