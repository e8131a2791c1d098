"""Independent Louvain runs of one problem, over threads: the entry point ``louvain_runs``."""
import numba
import numpy as np
from numba import njit

from ... import config
from .levels import _louvain_one
from .moving import _DENSE_RATIO
from .refine import _louvain_refined


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
        ``graph``: ``CSRGraph(indptr, indices, data)`` (symmetric CSR, shapes (n+1,), (nnz,), (nnz,);
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
