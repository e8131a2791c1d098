"""A Louvain run: levels of local moving and aggregation while a level raises Q by more than ``_TOL``."""
import numpy as np
from numba import njit

from ... import config
from .access import _diag, _n, _nnz
from .aggregate import _aggregate, _aggregate_dense, _quality
from .graph import CSRGraph
from .ids import _renumber
from .moving import _TOL, _local_moving


@njit(cache=config.CACHE)
def _level(G, X, Y, b, part, state, nonneg, dense_ratio):
    """One Louvain level: local moving from ``part`` (renumbered in place to the ``C`` modules found), then
    aggregation. Returns the next level's ``(indptr, indices, data, X, Y)`` and its Q (its singletons')."""
    dense, Hnm, hi = _local_moving(G, X, Y, b, part, state, nonneg, _diag(G), dense_ratio)
    old = part.copy()
    C = _renumber(part)
    if dense and C * C < _nnz(G):
        ip, ix, dv, xsum, ysum = _aggregate_dense(Hnm, hi, old, part, C, X, Y)
    else:
        ip, ix, dv, xsum, ysum = _aggregate(G, X, Y, part, C)
    q = 0.0
    for c in range(C):
        for p in range(ip[c], ip[c + 1]):
            if ix[p] == c:
                q += dv[p]
        for t in range(b.size):
            q -= b[t] * xsum[t, c] * ysum[t, c]
    return ip, ix, dv, xsum, ysum, q


@njit(cache=config.CACHE)
def _louvain_one(G, X, Y, b, init, state, nonneg, labels, dense_ratio):
    """One BCT Louvain run from the partition ``init`` (n,): levels while one raises Q by more than ``_TOL``.
    Writes the partition into ``labels`` (n,) (ids ``0..C-1`` in order of first appearance) and returns its
    ``Q = Σ_ij B_ij δ(c_i, c_j)``; ``state`` (1,) uint64 is the run's random stream."""
    n0 = _n(G)
    labels0 = init.copy()
    single = True  # singletons: Q from the self-loops and the null terms alone (no O(E) pass)
    seen = np.zeros(n0, np.bool_)
    for u in range(n0):
        if seen[labels0[u]]:
            single = False
            break
        seen[labels0[u]] = True
    if single:
        q0 = _diag(G).sum()
        for t in range(b.size):
            q0 -= b[t] * np.dot(X[t], Y[t])
    else:
        q0 = _quality(G, X, Y, b, labels0)
    ip, ix, dv, Xl, Yl, q = _level(G, X, Y, b, labels0, state, nonneg, dense_ratio)
    while q - q0 > _TOL:
        part = np.arange(ip.size - 1)
        ip2, ix2, dv2, Xl, Yl, q2 = _level(CSRGraph(ip, ix, dv), Xl, Yl, b, part, state, nonneg, dense_ratio)
        for u in range(n0):
            labels0[u] = part[labels0[u]]
        ip, ix, dv = ip2, ix2, dv2
        q0 = q
        q = q2
    _renumber(labels0)
    labels[:] = labels0
    return q

