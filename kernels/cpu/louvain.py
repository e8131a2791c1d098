"""Louvain in BCT ``community_louvain`` form on a sparse graph plus a low-rank null model (spec §5.3).

The modularity matrix is never stored. It is held as

.. math:: B_{uv} = A_{uv} - \\sum_{t<R} b_t\\, X_{t,u} Y_{t,v}

with ``A`` a symmetric CSR matrix (self-loops allowed, every undirected edge stored in both rows) and ``R``
rank-one null terms (``R = 1`` Newman, ``2`` signed undirected, ``4`` signed directed after BCT's
symmetrisation). The node-to-module sums ``H[u,c] = A[u,c] − Σ_t b_t X_{t,u} Σ_{v∈c} Y_{t,v}`` cost
``O(deg u)`` for the neighbour part plus ``O(R)`` per candidate module, so a sweep is
``O(E + N·C_active)`` (``O(E)`` when every null term is non-negative, where non-neighbour modules are
dominated by an empty module). Aggregation keeps the form: ``A ← EᵀAE`` (self-loops included), ``X ← EᵀX``,
``Y ← EᵀY``.

Move rule as BCT: ``dQ(u→c) = H[u,c] − H[u,a] + B_uu``, best move accepted if ``> 1e-10``; sweeps in a
random node order until no move; aggregate while the level gains ``> 1e-10``. The node order comes from a
xorshift64 stream per run, so a run is deterministic for its seed whatever the thread count.
"""
import numpy as np
from numba import njit, prange

from .. import config

_TOL = 1e-10
_MAX_SWEEPS = 1000
#: Dense node × module mode once at most this many modules are left (spec §5.3: exact, O(N·C) sweeps).
_KMAX = 128


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


@njit(cache=config.CACHE)
def _mark_scatter4(ip, ix, dv, Mb, u, acc4, mark, touched):
    """``acc4[r, c] += A[u, v]`` as ``_scatter4``, and the modules met listed in ``touched`` (marked);
    returns their number."""
    nt = 0
    p = ip[u]
    end = ip[u + 1]
    while p + 4 <= end:
        c0 = Mb[ix[p]]
        c1 = Mb[ix[p + 1]]
        c2 = Mb[ix[p + 2]]
        c3 = Mb[ix[p + 3]]
        acc4[0, c0] += dv[p]
        acc4[1, c1] += dv[p + 1]
        acc4[2, c2] += dv[p + 2]
        acc4[3, c3] += dv[p + 3]
        if not mark[c0]:
            mark[c0] = True
            touched[nt] = c0
            nt += 1
        if not mark[c1]:
            mark[c1] = True
            touched[nt] = c1
            nt += 1
        if not mark[c2]:
            mark[c2] = True
            touched[nt] = c2
            nt += 1
        if not mark[c3]:
            mark[c3] = True
            touched[nt] = c3
            nt += 1
        p += 4
    while p < end:
        c0 = Mb[ix[p]]
        acc4[0, c0] += dv[p]
        if not mark[c0]:
            mark[c0] = True
            touched[nt] = c0
            nt += 1
        p += 1
    return nt


@njit(inline="always")
def _null(xb, YM, c, R):
    """``Σ_t xb_t YM[t, c]`` (the usual ranks written out)."""
    if R == 2:
        return xb[0] * YM[0, c] + xb[1] * YM[1, c]
    if R == 1:
        return xb[0] * YM[0, c]
    h = 0.0
    for t in range(R):
        h += xb[t] * YM[t, c]
    return h


@njit(cache=config.CACHE)
def _scatter4(ip, ix, dv, Mb, u, acc4):
    """``acc4[r, c] += A[u, v]`` over u's neighbours ``v`` in module ``c``, interleaved over four rows."""
    p = ip[u]
    end = ip[u + 1]
    while p + 4 <= end:
        acc4[0, Mb[ix[p]]] += dv[p]
        acc4[1, Mb[ix[p + 1]]] += dv[p + 1]
        acc4[2, Mb[ix[p + 2]]] += dv[p + 2]
        acc4[3, Mb[ix[p + 3]]] += dv[p + 3]
        p += 4
    while p < end:
        acc4[0, Mb[ix[p]]] += dv[p]
        p += 1


@njit(cache=config.CACHE)
def _local_moving(ip, ix, dv, X, Y, b, Mb, state, nonneg, kmax, diag):
    """BCT's local moving phase. Two exact ways to get ``A[u, c]``: from u's row (sparse mode), or, once at
    most ``_KMAX`` modules are left, from a dense node × module matrix ``Hd`` updated by every move in
    ``O(deg)`` (dense mode: a sweep with few moves then costs ``O(N·C)`` instead of ``O(E)``)."""
    n = ip.size - 1
    R = b.size
    YM = np.zeros((R, n))
    size = np.zeros(n, np.int64)
    for u in range(n):
        size[Mb[u]] += 1
        for t in range(R):
            YM[t, Mb[u]] += Y[t, u]
    # active[0:nact] are the non-empty modules, active[nact:n] the empty ones; pos is the inverse
    active = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    nact = 0
    for c in range(n):
        if size[c] > 0:
            active[nact] = c
            pos[c] = nact
            nact += 1
    k = nact
    for c in range(n):
        if size[c] == 0:
            active[k] = c
            pos[c] = k
            k += 1
    acc4 = np.zeros((4, n))
    mark = np.zeros(n, np.bool_)
    touched = np.empty(n, np.int64)
    xb = np.empty(R)
    perm = np.arange(n)
    dense = False
    kmax = min(kmax, n)
    Hd = np.zeros((max(kmax, 0), 0))  # module slot × node: a move streams over its (sorted) neighbour ids
    slot = np.full(n, -1, np.int64)
    free = np.empty(max(kmax, 0), np.int64)
    nfree = 0
    # bounds of the module null sums over active modules (min only falls, max only rises within a sweep):
    # they bound the best non-neighbour candidate, so most nodes skip that O(C) scan
    ymin = np.empty(R)
    ymax = np.empty(R)
    moved_any = False
    for _sweep in range(_MAX_SWEEPS):
        for t in range(R):
            ymin[t] = np.inf
            ymax[t] = -np.inf
            for q in range(nact):
                v = YM[t, active[q]]
                ymin[t] = min(ymin[t], v)
                ymax[t] = max(ymax[t], v)
        if not dense and nact <= kmax and _sweep > 0 and kmax > 0:
            # enter dense mode: one O(E) pass builds Hd[u, slot(c)] = A[u, c]
            dense = True
            Hd = np.zeros((kmax, n))
            for q in range(nact):
                slot[active[q]] = q
            nfree = 0
            for q in range(kmax - 1, nact - 1, -1):
                free[nfree] = q
                nfree += 1
            for u in range(n):
                _scatter4(ip, ix, dv, Mb, u, acc4)
                for q in range(nact):
                    c = active[q]
                    Hd[slot[c], u] = acc4[0, c] + acc4[1, c] + acc4[2, c] + acc4[3, c]
                    acc4[0, c] = 0.0
                    acc4[1, c] = 0.0
                    acc4[2, c] = 0.0
                    acc4[3, c] = 0.0
        flag = False
        _shuffle(perm, state)
        for u in perm:
            a = Mb[u]
            buu = diag[u]
            for t in range(R):
                xb[t] = b[t] * X[t, u]
                buu -= xb[t] * Y[t, u]
            best = 0.0
            bestc = a
            if dense:
                hua = Hd[slot[a], u] - _null(xb, YM, a, R)
                for q in range(nact):
                    c = active[q]
                    if c == a:
                        continue
                    h = Hd[slot[c], u] - _null(xb, YM, c, R)
                    dq = h - hua + buu
                    if dq > best:
                        best = dq
                        bestc = c
            elif nact <= ip[u + 1] - ip[u]:
                # few modules for u's degree: scatter without bookkeeping, then scan every active module
                # (the same candidates as the neighbour + non-neighbour scan below)
                _scatter4(ip, ix, dv, Mb, u, acc4)
                hua = acc4[0, a] + acc4[1, a] + acc4[2, a] + acc4[3, a] - _null(xb, YM, a, R)
                for q in range(nact):
                    c = active[q]
                    h = acc4[0, c] + acc4[1, c] + acc4[2, c] + acc4[3, c]
                    acc4[0, c] = 0.0
                    acc4[1, c] = 0.0
                    acc4[2, c] = 0.0
                    acc4[3, c] = 0.0
                    if c == a:
                        continue
                    dq = h - _null(xb, YM, c, R) - hua + buu
                    if dq > best:
                        best = dq
                        bestc = c
            else:
                nt = _mark_scatter4(ip, ix, dv, Mb, u, acc4, mark, touched)
                hua = acc4[0, a] + acc4[1, a] + acc4[2, a] + acc4[3, a] - _null(xb, YM, a, R)
                for q in range(nt):  # fold, clear and evaluate in one pass
                    c = touched[q]
                    h = acc4[0, c] + acc4[1, c] + acc4[2, c] + acc4[3, c]
                    acc4[0, c] = 0.0
                    acc4[1, c] = 0.0
                    acc4[2, c] = 0.0
                    acc4[3, c] = 0.0
                    if c == a:
                        continue
                    dq = h - _null(xb, YM, c, R) - hua + buu
                    if dq > best:
                        best = dq
                        bestc = c
                ub = 0.0
                for t in range(R):
                    ub -= xb[t] * (ymin[t] if xb[t] >= 0 else ymax[t])
                if not (nonneg and nact < n) and ub - hua + buu > best:
                    for q in range(nact):
                        c = active[q]
                        if mark[c] or c == a:
                            continue
                        h = 0.0 - _null(xb, YM, c, R)
                        dq = h - hua + buu
                        if dq > best:
                            best = dq
                            bestc = c
                for q in range(nt):
                    mark[touched[q]] = False
            if nact < n:  # an empty module: u alone
                dq = buu - hua
                if dq > best:
                    best = dq
                    bestc = active[nact]
            if best > _TOL:
                flag = True
                moved_any = True
                c = bestc
                if size[c] == 0:  # activate: swap c into position nact
                    other = active[nact]
                    pc = pos[c]
                    active[pc] = other
                    pos[other] = pc
                    active[nact] = c
                    pos[c] = nact
                    nact += 1
                    if dense:
                        if nfree > 0:
                            nfree -= 1
                            slot[c] = free[nfree]
                        else:  # more modules than Hd holds: back to sparse mode for this level
                            dense = False
                size[c] += 1
                size[a] -= 1
                for t in range(R):
                    YM[t, c] += Y[t, u]
                    YM[t, a] -= Y[t, u]
                    ymax[t] = max(ymax[t], YM[t, c])
                    ymin[t] = min(ymin[t], YM[t, c])
                    if size[a] > 0:
                        ymin[t] = min(ymin[t], YM[t, a])
                        ymax[t] = max(ymax[t], YM[t, a])
                Mb[u] = c
                if dense:
                    sa = slot[a]
                    sc = slot[c]
                    Ha = Hd[sa]
                    Hc = Hd[sc]
                    for p in range(ip[u], ip[u + 1]):
                        Ha[ix[p]] -= dv[p]
                    for p in range(ip[u], ip[u + 1]):
                        Hc[ix[p]] += dv[p]
                if size[a] == 0:  # deactivate: swap a to position nact-1
                    last = active[nact - 1]
                    pa = pos[a]
                    active[pa] = last
                    pos[last] = pa
                    active[nact - 1] = a
                    pos[a] = nact - 1
                    nact -= 1
                    for t in range(R):
                        YM[t, a] = 0.0
                    if dense:  # an empty module's column is exactly 0 (drop the rounding residue)
                        sa = slot[a]
                        Hd[sa, :] = 0.0
                        free[nfree] = sa
                        nfree += 1
        if not flag:
            break
    return dense, Hd, slot


@njit(cache=config.CACHE)
def _diag(ip, ix, dv):
    """Self-loop weights ``A[u, u]``, shape (n,)."""
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


@njit(cache=config.CACHE)
def _renumber(Mb):
    """Relabel in place to 0..C-1 in order of first appearance; returns C."""
    n = Mb.size
    new = np.full(n, -1, np.int64)
    C = 0
    for u in range(n):
        m = Mb[u]
        if new[m] < 0:
            new[m] = C
            C += 1
        Mb[u] = new[m]
    return C


@njit(cache=config.CACHE)
def _aggregate(ip, ix, dv, X, Y, Mb, C):
    n = ip.size - 1
    R = X.shape[0]
    # members of each module, grouped (counting sort)
    start = np.zeros(C + 1, np.int64)
    for u in range(n):
        start[Mb[u] + 1] += 1
    for c in range(C):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    members = np.empty(n, np.int64)
    for u in range(n):
        members[fill[Mb[u]]] = u
        fill[Mb[u]] += 1
    nip = np.zeros(C + 1, np.int64)
    nix = np.empty(ix.size, np.int32)
    ndv = np.empty(ix.size)
    acc = np.zeros(C)
    mark = np.zeros(C, np.bool_)
    touched = np.empty(C, np.int64)
    nnz = 0
    for c in range(C):
        nt = 0
        for q in range(start[c], start[c + 1]):
            u = members[q]
            for p in range(ip[u], ip[u + 1]):
                d = Mb[ix[p]]
                if not mark[d]:
                    mark[d] = True
                    acc[d] = 0.0
                    touched[nt] = d
                    nt += 1
                acc[d] += dv[p]
        for q in range(nt):
            d = touched[q]
            mark[d] = False
            nix[nnz] = d
            ndv[nnz] = acc[d]
            nnz += 1
        nip[c + 1] = nnz
    XM = np.zeros((R, C))
    YM = np.zeros((R, C))
    for u in range(n):
        for t in range(R):
            XM[t, Mb[u]] += X[t, u]
            YM[t, Mb[u]] += Y[t, u]
    return nip, nix[:nnz].copy(), ndv[:nnz].copy(), XM, YM


@njit(cache=config.CACHE)
def _aggregate_dense(Hd, slot, old, Mb, C, X, Y):
    """``_aggregate`` from the dense node × module sums of the last sweep, ``O(N·C)`` instead of ``O(E)``:
    ``A'[c, d] = Σ_{u∈c} Hd[slot(d), u]``. ``old`` holds the module ids before renumbering, ``Mb`` after."""
    n = Mb.size
    R = X.shape[0]
    newid = np.full(n, -1, np.int64)
    for u in range(n):
        newid[old[u]] = Mb[u]
    sl = np.empty(C, np.int64)
    for m in range(n):
        if newid[m] >= 0:
            sl[newid[m]] = slot[m]
    Ad = np.zeros((C, C))
    for d in range(C):
        row = Hd[sl[d]]
        for u in range(n):
            Ad[Mb[u], d] += row[u]
    nip = np.arange(C + 1) * C
    nix = np.empty(C * C, np.int32)
    ndv = np.empty(C * C)
    for c in range(C):
        for d in range(C):
            nix[c * C + d] = d
            ndv[c * C + d] = 0.5 * (Ad[c, d] + Ad[d, c])
    XM = np.zeros((R, C))
    YM = np.zeros((R, C))
    for u in range(n):
        for t in range(R):
            XM[t, Mb[u]] += X[t, u]
            YM[t, Mb[u]] += Y[t, u]
    return nip, nix, ndv, XM, YM


@njit(cache=config.CACHE)
def _quality(ip, ix, dv, X, Y, b, Mb):
    """Σ_{ij} B_ij δ(c_i, c_j) for the partition ``Mb`` (labels in 0..n-1)."""
    n = ip.size - 1
    R = b.size
    q = 0.0
    for u in range(n):
        for p in range(ip[u], ip[u + 1]):
            if Mb[ix[p]] == Mb[u]:
                q += dv[p]
    XM = np.zeros((R, n))
    YM = np.zeros((R, n))
    for u in range(n):
        for t in range(R):
            XM[t, Mb[u]] += X[t, u]
            YM[t, Mb[u]] += Y[t, u]
    for c in range(n):
        for t in range(R):
            q -= b[t] * XM[t, c] * YM[t, c]
    return q


@njit(cache=config.CACHE)
def _louvain_one(indptr, indices, data, X, Y, b, init, state, nonneg, labels, kmax):
    n0 = indptr.size - 1
    ip, ix, dv = indptr, indices, data
    Xl = X.copy()
    Yl = Y.copy()
    Mb = init.copy()
    ci = init.copy()
    diag = _diag(ip, ix, dv)
    single = True  # singletons: Q from the self-loops and the null terms alone (no O(E) pass)
    seen = np.zeros(n0, np.bool_)
    for u in range(n0):
        if seen[Mb[u]]:
            single = False
            break
        seen[Mb[u]] = True
    if single:
        q = diag.sum()
        for t in range(b.size):
            q -= b[t] * np.dot(Xl[t], Yl[t])
    else:
        q = _quality(ip, ix, dv, Xl, Yl, b, Mb)
    q0 = -np.inf
    first = True
    while q - q0 > _TOL:
        if not first:
            diag = _diag(ip, ix, dv)
        dense, Hd, slot = _local_moving(ip, ix, dv, Xl, Yl, b, Mb, state, nonneg, kmax, diag)
        old = Mb.copy()
        C = _renumber(Mb)
        if first:
            ci[:] = Mb
            first = False
        else:
            for u in range(n0):
                ci[u] = Mb[ci[u]]
        if dense and C * C < ix.size:
            ip, ix, dv, Xl, Yl = _aggregate_dense(Hd, slot, old, Mb, C, Xl, Yl)
        else:
            ip, ix, dv, Xl, Yl = _aggregate(ip, ix, dv, Xl, Yl, Mb, C)
        Mb = np.arange(C)
        q0 = q
        q = 0.0
        for c in range(C):
            for p in range(ip[c], ip[c + 1]):
                if ix[p] == c:
                    q += dv[p]
            for t in range(b.size):
                q -= b[t] * Xl[t, c] * Yl[t, c]
    _renumber(ci)
    labels[:] = ci
    return q


@njit(parallel=True, cache=config.CACHE)
def _louvain_many(indptr, indices, data, X, Y, b, init, states, nonneg, labels_out, q_out, kmax):
    for r in prange(states.size):
        st = states[r:r + 1].copy()
        q_out[r] = _louvain_one(indptr, indices, data, X, Y, b, init[r], st, nonneg, labels_out[r], kmax)


@njit(cache=config.CACHE)
def _louvain_serial(indptr, indices, data, X, Y, b, init, states, nonneg, labels_out, q_out, kmax):
    for r in range(states.size):
        st = states[r:r + 1].copy()
        q_out[r] = _louvain_one(indptr, indices, data, X, Y, b, init[r], st, nonneg, labels_out[r], kmax)


def louvain_runs(indptr, indices, data, X, Y, b, init, states, labels_out, q_out):
    """Independent Louvain runs, spread over the cores (one run per prange iteration).

    Parameters
    ----------
    indptr, indices : arrays, shape (n+1,), (nnz,), int64 and int32 (n < 2^31)
        Symmetric CSR pattern of ``A`` (both directions of every edge; self-loops once).
    data : array, shape (nnz,), float64
        ``A``'s values, already normalised (e.g. ``w⁺/s0 − w⁻/(s0+s1)`` for negative_asym).
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
    """
    nonneg = bool(np.all(b >= 0) and np.all(X >= 0) and np.all(Y >= 0))
    run = _louvain_serial if states.size == 1 else _louvain_many  # one run: no thread-pool overhead
    run(indptr, indices, data, X, Y, b, init, states, nonneg, labels_out, q_out, _KMAX)


# ----------------------------------------------------------------------------- level-0 CSR from the blocks
@njit(inline="always")
def _edge_value(w, th, c0, c1, code):
    """Louvain weight of one block entry: 0 if not kept. code = mode (0 signed, 1 |w|, 2 as is) + 4·binary
    + 8·half (directed view: A = (W + Wᵀ)/2)."""
    if not (w > th or w < -th):
        return 0.0
    if code & 4:
        w = 1.0 if w > 0 else -1.0
    m = code & 3
    if m == 0:
        v = c0 * w if w > 0 else c1 * w
    elif m == 1:
        v = c0 * abs(w)
    else:
        v = c0 * w
    return 0.5 * v if code & 8 else v


@njit(cache=config.CACHE)
def block_edge_counts(W, th, c0, c1, code, row_cnt, col_cnt):
    """Number of non-zero Louvain entries per row and per column of one block (adds to the counts).

    Serial on purpose: one memory-bound pass, and a parallel region costs 10–20 ms on a loaded machine.

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th, c0, c1 : float
        Threshold and the coefficients of the positive and negative weights.
    code : int
        Mode bits (see ``_edge_value``).
    row_cnt : array, shape (n_s,), int64, incremented
    col_cnt : array, shape (n_t,), int64, incremented
    """
    ns, nt = W.shape
    for i in range(ns):
        k = 0
        for j in range(nt):
            if _edge_value(np.float64(W[i, j]), th, c0, c1, code) != 0.0:
                k += 1
                col_cnt[j] += 1
        row_cnt[i] += k


@njit(cache=config.CACHE)
def block_csr_fill(W, th, c0, c1, code, o_src, o_dst, pos, indices, data):
    """Write one block's entries into the symmetric CSR: row ``o_src+i`` gets ``o_dst+j`` and vice versa
    (serial, as ``block_edge_counts``).

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th, c0, c1 : float
    code : int
    o_src, o_dst : int
        Global ids of the block's first source and first target node.
    pos : array, shape (N,), int64
        Next free slot of every row; advanced.
    indices : array, shape (nnz,), int32
    data : array, shape (nnz,), float64
    """
    ns, nt = W.shape
    for i in range(ns):
        p = pos[o_src + i]
        for j in range(nt):
            v = _edge_value(np.float64(W[i, j]), th, c0, c1, code)
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
def _edge_coefs(c0, c1, code):
    """``_edge_value`` as ``a_p·w + b_p`` (w > 0) or ``a_n·w + b_n`` (w < 0): branch-free in the weight, so
    the dense fill vectorises (exactly the same values: one of a, b is 0, and 0.5 scales exactly)."""
    m = code & 3
    binary = code & 4
    if m == 0:
        ap, an = c0, c1
    elif m == 1:
        ap, an = c0, -c0
    else:
        ap, an = c0, c0
    if binary:
        bp, bn = ap, -an
        ap, an = 0.0, 0.0
    else:
        bp, bn = 0.0, 0.0
    if code & 8:
        ap, an, bp, bn = 0.5 * ap, 0.5 * an, 0.5 * bp, 0.5 * bn
    return ap, bp, an, bn


@njit(inline="always")
def _dense_row(w, th, ap, bp, an, bn, o, ind, d):
    """One dense CSR row segment: values, then ids (two simple loops that vectorise)."""
    for j in range(w.size):
        x = np.float64(w[j])
        v = ap * x + bp if x > 0 else an * x + bn
        d[j] = v if (x > th or x < -th) else 0.0
    for j in range(w.size):
        ind[j] = o + j


@njit(cache=config.CACHE)
def block_csr_fill_dense(W, th, c0, c1, code, o_src, o_dst, pos, indices, data):
    """``block_csr_fill`` for a block stored densely: every entry is written, dropped ones as explicit
    zeros (they add nothing to any sum), so positions are known and the transposed half is a tiled
    transpose followed by a contiguous copy. Source row ``i`` starts at ``pos[o_src+i]``; target row ``j`` at ``pos[o_dst+j]``; both are
    advanced by the block's width.

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th, c0, c1 : float
    code : int
    o_src, o_dst : int
    pos : array, shape (N,), int64
    indices : array, shape (nnz,), int32
    data : array, shape (nnz,), float64
    """
    ns, nt = W.shape
    ap, bp, an, bn = _edge_coefs(c0, c1, code)
    for i in range(ns):
        p = pos[o_src + i]
        _dense_row(W[i], th, ap, bp, an, bn, o_dst, indices[p:p + nt], data[p:p + nt])
        pos[o_src + i] = p + nt
    Wt = np.empty((nt, ns), W.dtype)  # tiled transpose first: the fill then reads and writes contiguously
    B = 64
    for i0 in range(0, ns, B):
        i1 = min(i0 + B, ns)
        for j0 in range(0, nt, B):
            j1 = min(j0 + B, nt)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    Wt[j, i] = W[i, j]
    for j in range(nt):
        q = pos[o_dst + j]
        _dense_row(Wt[j], th, ap, bp, an, bn, o_src, indices[q:q + ns], data[q:q + ns])
        pos[o_dst + j] = q + ns
