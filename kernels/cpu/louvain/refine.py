"""Seeded runs that can still split a module (``_louvain_refined``): Louvain refined by the parts that two
partitions share, in the spirit of Leiden."""
import numpy as np
from numba import njit

from ... import config
from .access import _n
from .aggregate import _aggregate
from .graph import CSRGraph
from .ids import _renumber
from .levels import _louvain_one
from .moving import _TOL

#: Refinement rounds of a seeded run that can still move (``_louvain_refined``); each raises Q or stops.
_MAX_REFINE = 100


@njit(cache=config.CACHE)
def _refined_parts(labels, fine):
    """The parts of ``labels ∩ fine`` (nodes with the same module in both), numbered ``0..P-1`` in order of
    first appearance; returns ``(parts, n_parts)``."""
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
        parts, n_parts = _refined_parts(labels, fresh)
        if n_parts == n:  # every part a single node: the runs above have made every move there is
            break
        ip, ix, dv, xsum, ysum = _aggregate(G, X, Y, parts, n_parts)
        start = np.empty(n_parts, np.int64)
        for u in range(n):
            start[parts[u]] = labels[u]
        coarse = np.empty(n_parts, np.int64)
        q2 = _louvain_one(CSRGraph(ip, ix, dv), xsum, ysum, b, start, state, nonneg, coarse, dense_ratio)
        if q2 - q <= _TOL:
            break
        for u in range(n):
            labels[u] = coarse[parts[u]]
        _renumber(labels)
        q = q2
    return q

