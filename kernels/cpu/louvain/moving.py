r"""Local moving: BCT's sweeps of single-node moves, in a random node order, until no move raises Q.

A node ``u`` of module ``a`` moves to the module (or "alone": an empty id) of largest

.. math:: \Delta Q(u \to c) = H[u, c] - H[u, a] + B_{uu}, \qquad
          H[u, c] = A[u, c] - \sum_t b_t X_{t,u} \sum_{v \in c} Y_{t,v},

when it is ``> 1e-10`` (the first such module in id order on a tie). Module ids are kept compact
(``ids._compact``), so a scan covers ids ``0..hi``. How a node's candidates are evaluated (all exact):

* *dense mode*: the rows ``Hnm[u, c] = A[u, c]`` are kept (built when it starts, updated by each move in
  ``O(deg)``), and a node is one scan of its row (``scan._max_row_rank2``);
* *scan*: ``A[u, ·]`` scattered into one or four rows (``access._scatter``), then a scan of every id
  (``scan._scan_values``), while the ids are at most ``_SCAN_PER_EDGE`` × the degree;
* *neighbours*: else only the modules of the neighbours, the ratio bound's outliers and "alone"
  (``neighbours._nb_best``) when the bounds of ``bound`` show that no other module gives a move; else a scan.

Names: ``part`` the module id of every node; ``ysum[t, c] = Σ_{v∈c} Y[t, v]``; ``xb[t] = b_t X[t, u]`` of the
node ``u`` being evaluated; ``b_uu = B[u, u]``; ``h_own`` the value ``H[u, a]`` of u's own module.
"""
from collections import namedtuple

import numpy as np
from numba import njit

from ... import config
from .access import _deg, _move_rows, _n, _nnz, _prefetch, _prefetch_row, _scatter
from .bound import _OUTLIERS, _outliers, _ratio, _ratio_ub
from .dense_rows import _dense_rows, _dense_work
from .ids import _compact, _renumber
from .neighbours import _neighbours_best, _neighbours_zero, _null
from .rng import _shuffle
from .scan import _first_max, _first_max_row_rank2, _fold_rows, _max_row_rank2, _scan_values, _zero_rows

#: a move (and a level) is taken when it raises Q by more than this (BCT's tolerance).
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

#: One level's ``B = A − Σ_t b_t X_t Y_tᵀ`` as the sweeps read it (a named tuple compiles as a tuple).
Level = namedtuple("Level", [
    "graph",        # A: a CSRGraph or a BlocksGraph (n nodes)
    "X", "Y",       # (R, n): the null-model vectors
    "b",            # (R,): their coefficients
    "diag",         # (n,): A[u, u]
    "nonneg",       # b, X, Y ≥ 0: every null term ≥ 0, so a module with no edge to u never gives a move
    "ypos",         # R = 2 and Y ≥ 0: the ratio bound applies (signed undirected: Y = k⁺, k⁻)
    "dense_ratio",  # dense mode while its N × C' matrix has at most dense_ratio × the stored entries
])

#: The sweeps' workspace: ``_local_moving`` allocates it, ``_sweeps`` (compiled without reference counting)
#: only reads and writes it. A named tuple compiles as a tuple: its fields cost nothing to read.
Workspace = namedtuple("Workspace", [
    "ysum",      # (R', n+1): Σ_{v∈c} Y[t, v] of every module id c (rank padded to R' = 2 for the scans)
    "size",      # (n,): members of every module id
    "scatter4",  # (4, n+1): four interleaved scatter rows (_scatter, k = 4)
    "scatter1",  # (1, n+1): one scatter row
    "values",    # (n+1,): a scan's values
    "free",      # (2n+1,): empty ids below hi (lazily: a popped id may have been refilled)
    "xb",        # (R',): b_t X[t, u] of the node being evaluated
    "perm",      # (n,): the node order, shuffled in place every sweep
    "built",     # (n,): dense rows built
    "ymin", "ymax",  # (R,): bounds of ysum over the non-empty modules (the non-neighbour bound)
    "rho",       # (2,): the ratio bound (_ratio_ub)
    "renumbering",  # (n+1,): _compact's new ids
    "dense_buf",    # the dense node × module matrix Hnm (at most dense_max entries)
    "outliers", "outlier_ratios", "is_outlier",  # the ratio bound's outliers (_outliers)
    "tile_work",    # _dense_rows' workspace
])


@njit(cache=config.CACHE)
def _local_moving(G, X, Y, b, part, state, nonneg, diag, dense_ratio):
    r"""BCT's local moving phase on ``B = A − Σ_t b_t X_t Y_tᵀ``: sweeps of single-node moves of gain

    .. math:: \Delta Q(u \to c) = H[u, c] - H[u, a] + B_{uu}, \quad
              H[u, c] = A[u, c] - \sum_t b_t X_{t,u} \sum_{v \in c} Y_{t,v}

    (the best ``c``, an empty id for "alone", when ``> 1e-10``) in a random node order, until a sweep moves
    no node.

    Parameters
    ----------
    G : CSRGraph or BlocksGraph
        ``A``, n nodes.
    X, Y : arrays, shape (R, n), float64
    b : array, shape (R,), float64
    part : array, shape (n,), int64
        The start partition, changed in place into the result (ids end below the returned ``hi``).
    state : array, shape (1,), uint64
        The run's random stream (``rng``), advanced.
    nonneg : bool
        ``b, X, Y ≥ 0``.
    diag : array, shape (n,), float64
        ``A[u, u]``.
    dense_ratio : float
        Dense mode is allowed while its ``N × C'`` matrix has at most ``dense_ratio`` × the stored entries
        (and ``_DENSE_MAX``).

    Returns
    -------
    dense : bool
    Hnm : array, shape (n, cap), float64
        When ``dense``, ``Hnm[u, c] = A[u, c]`` for ``c < hi``, exact for the final partition; else (0, 0).
    hi : int
        The ids of ``part`` are below ``hi``.

    This allocates the workspace; the sweeps run in ``_sweeps``, compiled without reference counting.
    """
    n = _n(G)
    R = b.size
    nnz = _nnz(G)
    hi = _renumber(part)
    rank_padded = 2 if R <= 2 else R  # ysum and xb padded with zero rows to rank 2 (_scan_values)
    ysum = np.zeros((rank_padded, n + 1))  # id n is never used: a scan of all n ids still has one empty id
    ypos = R == 2 and np.all(Y >= 0)  # the ratio bound applies (signed undirected: Y = k⁺, k⁻)
    dense_max = max(0, min(n * n, _DENSE_MAX, int(dense_ratio * nnz)))  # the largest dense matrix allowed
    ws = Workspace(ysum=ysum, size=np.zeros(n, np.int64), scatter4=np.zeros((4, n + 1)),
                   scatter1=np.zeros((1, n + 1)), values=np.empty(n + 1), free=np.empty(2 * n + 1, np.int64),
                   xb=np.zeros(rank_padded), perm=np.arange(n), built=np.zeros(n, np.bool_), ymin=np.empty(R),
                   ymax=np.empty(R), rho=np.zeros(2), renumbering=np.empty(n + 1, np.int64),
                   dense_buf=np.empty(dense_max), outliers=np.zeros(_OUTLIERS, np.int64),
                   outlier_ratios=np.empty(_OUTLIERS), is_outlier=np.zeros(n + 1, np.bool_),
                   # dense: n·cap ≤ dense_max, hi ≤ cap
                   tile_work=np.empty(_dense_work(G, min(n, dense_max // max(n, 1)))))
    level = Level(G, X, Y, b, diag, nonneg, ypos, dense_ratio)
    dense, cap, hi = _sweeps(level, part, state, hi, ws)
    dense_buf = ws.dense_buf
    if dense:
        return True, dense_buf[:n * cap].reshape((n, cap)), hi
    return False, np.zeros((0, 0)), hi


@njit(cache=config.CACHE, _nrt=False)
def _sweeps(level, part, state, hi, ws):
    """The sweeps of ``_local_moving`` on ``level`` (a ``Level``) from ``part`` (ids below ``hi``), its
    ``Workspace`` passed in as ``ws``; returns (dense, cap, hi).

    Compiled with ``_nrt=False``: no array is allocated here, so no reference count is needed, and without
    them the atomic incref/decref pairs of every array view and tuple item (20% of a run) are gone.
    ``free``: empty ids below hi (lazily: a popped id may have been refilled); ``renumbering``: ``_compact``'s
    workspace; ``dense_buf``: the dense matrix, its rows built all at once when dense mode starts (blocks form,
    ``_dense_rows`` through ``tile_work``: 81 against 210 µs row by row on 784-100-100-10), else one by one
    (zeroed first) during the first dense sweep.
    """
    G, X, Y, b, diag = level.graph, level.X, level.Y, level.b, level.diag
    nonneg, ypos, dense_ratio = level.nonneg, level.ypos, level.dense_ratio
    ysum, size, values, free, xb, perm, built = ws.ysum, ws.size, ws.values, ws.free, ws.xb, ws.perm, ws.built
    scatter4, scatter1, ymin, ymax, rho, dense_buf = ws.scatter4, ws.scatter1, ws.ymin, ws.ymax, ws.rho, ws.dense_buf
    renumbering, outliers, outlier_ratios = ws.renumbering, ws.outliers, ws.outlier_ratios
    is_outlier, tile_work = ws.is_outlier, ws.tile_work
    n = _n(G)
    R = b.size
    nnz = _nnz(G)
    for u in range(n):
        size[part[u]] += 1
        for t in range(R):
            ysum[t, part[u]] += Y[t, u]
    n_live = hi
    dense = False
    Hnm = dense_buf[:0].reshape((0, 0))
    cap = n
    moved = n
    for sweep in range(_MAX_SWEEPS):
        if not dense:
            if n_live < hi:
                hi = _compact(part, size, ysum, hi, renumbering)
            cap = min(n, n_live + 8 + n_live // 4)
            small = n * cap <= _DENSE_CACHE  # its updates stay in cache, however many nodes move
            # from the first sweep too when the rows cost no more than the graph (an aggregated level is
            # complete) or the start has few modules (an initial partition): then few nodes move
            first = n * n <= nnz or 2 * n_live <= n
            if (sweep > 0 or first) and (small or moved * _DENSE_MOVES <= n):
                if n * cap <= min(_DENSE_MAX, dense_ratio * nnz):
                    dense = True
                    Hnm = dense_buf[:n * cap].reshape((n, cap))
                    built[:] = _dense_rows(G, part, Hnm, hi, tile_work)  # else built one by one below
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
        n_out = _outliers(ysum, size, hi, outliers, outlier_ratios, is_outlier, rho) if ypos else 0
        moved = 0
        _shuffle(perm, state)
        for k in range(n):
            u = perm[k]
            if k + 1 < n:  # the next node's data, while this one is evaluated
                nxt = perm[k + 1]
                if dense:
                    for c in range(0, min(hi + 1, cap), 8):
                        _prefetch(dense_buf, nxt * cap + c)
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
                        _scatter(G, part, u, scatter4, 0, 4)
                        for c in range(hi):
                            Hnm[u, c] = _fold_rows(scatter4, c)
                        _zero_rows(scatter4, hi)
                    built[u] = True
                keep = Hnm[u, a]
                h_own = keep - _null(xb, ysum, a, R)
                Hnm[u, a] = -np.inf
                m = min(hi + 1, cap)
                bestc = m
                if ysum.shape[0] == 2:  # few nodes move: the max alone, then the first module reaching it
                    v = _max_row_rank2(Hnm, u, ysum, xb, m)
                    best = v - h_own + b_uu
                    bestc = _first_max_row_rank2(Hnm, u, ysum, xb, m, v) if best > _TOL else a
                if bestc == m:  # rank > 2 (or a value computed twice that differed: not seen)
                    v = _scan_values(Hnm, u, 1, ysum, xb, m, values, False)
                    best = v - h_own + b_uu
                    bestc = _first_max(values, m, v) if best > _TOL else a
                Hnm[u, a] = keep
            elif hi < _SCAN_PER_EDGE * deg:
                # four interleaved rows only when neighbours share modules (a one-row scan is cheaper)
                rows, n_rows = (scatter4, 4) if hi <= _ONE_ROW and deg >= hi else (scatter1, 1)
                _scatter(G, part, u, rows, 0, n_rows)
                h_own = _fold_rows(rows, a) - _null(xb, ysum, a, R)
                rows[0, a] = -np.inf
                v = _scan_values(rows, 0, n_rows, ysum, xb, hi + 1, values, True)
                best = v - h_own + b_uu
                bestc = _first_max(values, hi + 1, v) if best > _TOL else a
            else:
                _scatter(G, part, u, scatter1, 0, 1)
                h_own = scatter1[0, a] - _null(xb, ysum, a, R)
                bound = 0.0  # bounds the best non-neighbour module's value (ymin/ymax over the modules)
                for t in range(R):
                    bound -= xb[t] * (ymin[t] if xb[t] >= 0 else ymax[t])
                if ypos:
                    bound = min(bound, _ratio_ub(xb, rho, ymax))
                if not nonneg and bound - h_own + b_uu > _TOL:  # a non-neighbour module could give a move
                    scatter1[0, a] = -np.inf
                    v = _scan_values(scatter1, 0, 1, ysum, xb, hi + 1, values, True)
                    best = v - h_own + b_uu
                    bestc = _first_max(values, hi + 1, v) if best > _TOL else a
                else:  # only the neighbours' modules (an empty one, "alone", dominates the others)
                    scatter1[0, a] = np.nan
                    v, bestc = _neighbours_best(G, part, u, scatter1, ysum, xb)
                    for q in range(n_out):  # the ratio bound's outliers (a module read already is NaN)
                        o = outliers[q]
                        if size[o] > 0:
                            v_out = scatter1[0, o] - _null(xb, ysum, o, R)
                            if v_out > v:
                                v = v_out
                                bestc = o
                    best = v - h_own + b_uu
                    if bestc < 0:
                        bestc = a
                    _neighbours_zero(G, part, u, scatter1)
                    scatter1[0, a] = 0.0
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
                    n_live += 1
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
                    if not is_outlier[c]:
                        rho[0] = max(rho[0], _ratio(ysum[1, c], ysum[0, c]))
                    rho[1] = max(rho[1], _ratio(ysum[0, c], ysum[1, c]))
                    if size[a] > 0:
                        if not is_outlier[a]:
                            rho[0] = max(rho[0], _ratio(ysum[1, a], ysum[0, a]))
                        rho[1] = max(rho[1], _ratio(ysum[0, a], ysum[1, a]))
                part[u] = c
                if dense:
                    _move_rows(G, u, Hnm, a, c)
                if size[a] == 0:
                    n_live -= 1
                    for t in range(R):
                        ysum[t, a] = 0.0
                    free[nfree] = a
                    nfree += 1
                    if dense:  # an empty module's column is exactly 0 (drop the rounding residue)
                        for v in range(n):
                            Hnm[v, a] = 0.0
                    elif 4 * n_live < 3 * hi and hi > _CHUNK:  # compact mid-sweep: the scans shrink with the ids
                        hi = _compact(part, size, ysum, hi, renumbering)
                        nfree = 0
                        if ypos:  # new ids: the outliers again (the bound is exact again too)
                            n_out = _outliers(ysum, size, hi, outliers, outlier_ratios, is_outlier, rho)
        if moved == 0:
            break
    return dense, cap, hi
