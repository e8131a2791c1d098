"""Consensus clustering (Lancichinetti & Fortunato 2012) with MATLAB BCT ``consensus_und`` semantics.

``consensus(g)`` runs Louvain ``runs`` times per epoch (spread over the cores: one run per Numba prange
iteration), builds the agreement matrix and hands it to :func:`consensus_und`. MATLAB behaviour where bctpy
differs: the all-zero test is MATLAB's ``nnz(dt) == 0`` (bctpy's is inverted) and the re-clustering uses
``community_louvain`` (bctpy calls ``modularity_louvain_und_sign``). Singletons left by the threshold stay
disconnected, as BCT.
"""
import warnings

import numpy as np

from ..backend import backend_for, to_host
from ..errors import InputError
from ..model.graph import takes_graph
from .modularity import (
    _check_gamma,
    canonical_mode,
    louvain_problem,
    louvain_runs,
    run_states,
    seed_partitions,
)

#: Cap on consensus_und's re-clustering rounds (MATLAB has none; it converges in a few in practice).
MAX_ROUNDS = 100


def agreement(partitions, normalize=False, device=None):
    """Agreement matrix of a set of partitions: ``D_ij`` = number (or fraction) of partitions with
    ``c_i = c_j``; the diagonal is 0 (BCT ``agreement``).

    .. math:: D = \\sum_r E_r E_r^{\\mathsf T} - \\mathrm{diag}, \\quad E_r \\text{ one-hot of partition } r

    Parameters
    ----------
    partitions : array, shape (R, N), integer
    normalize : bool
        Divide by ``R`` (the probabilities ``consensus_und`` expects).
    device : {None, "cpu", "gpu"}
        Where to compute; default: where ``partitions`` are (a CuPy array: the GPU).

    Returns
    -------
    array, shape (N, N), float64
    """
    be = backend_for(device, partitions)
    a = to_host(partitions)
    if a.ndim != 2 or a.dtype.kind not in "iu":
        raise InputError(f"partitions must be an integer array of shape (R, N), got {a.dtype} {a.shape}")
    xp = be.xp
    lab = xp.asarray(np.ascontiguousarray(a, dtype=np.int64))
    D = xp.empty((a.shape[1], a.shape[1]))
    be.kernel("communities").agreement(lab, D)
    return D / a.shape[0] if normalize else D


def _dense_problem(dt, gamma=1.0):
    """Louvain input for BCT's default ``community_louvain(dt)`` (Newman Q of a non-negative symmetric matrix)."""
    import scipy.sparse as sp

    # Louvain's kernels are loaded on first use (0.1 s), not by import deepcnt
    from ..kernels.cpu.louvain import CSRGraph

    s = float(dt.sum())
    k = dt.sum(axis=1)
    m = sp.csr_matrix(dt / s)
    return (CSRGraph(m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float64)),
            k[None, :].astype(np.float64).copy(), k[None, :].astype(np.float64).copy(),
            np.array([gamma / s ** 2]))


def consensus_und(D, tau, reps=10, seed=0):
    """Consensus partition of an agreement matrix (BCT ``consensus_und``, MATLAB semantics).

    Loop: ``dt = D·1[D ≥ τ]`` with a zero diagonal; if ``dt`` has no non-zero, every node is its own module;
    otherwise cluster ``dt`` ``reps`` times with Louvain (Newman Q, γ = 1); if all ``reps`` partitions are
    identical that is the answer, else ``D`` ← their agreement / ``reps`` and repeat.

    Parameters
    ----------
    D : array, shape (N, N)
        Symmetric, entries in [0, 1].
    tau : float
        Threshold in [0, 1].
    reps : int
    seed : int

    Returns
    -------
    ndarray, shape (N,), int64
        Modules numbered ``0..C-1`` by first appearance.
    """
    D = np.asarray(D.get() if hasattr(D, "get") else D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise InputError(f"D must be a square agreement matrix, got shape {D.shape}")
    if not np.all(np.isfinite(D)) or D.min() < 0 or D.max() > 1 + 1e-12:
        raise InputError("D must hold probabilities in [0, 1] (divide agreement counts by the number of runs)")
    if not np.allclose(D, D.T):
        raise InputError("D must be symmetric")
    if not 0 <= tau <= 1:
        raise InputError(f"tau must be in [0, 1], got {tau!r}")
    if not isinstance(reps, (int, np.integer)) or reps < 1:
        raise InputError(f"reps must be a positive integer, got {reps!r}")
    n = D.shape[0]
    d = D
    for rnd in range(MAX_ROUNDS):
        dt = d * (d >= tau)
        np.fill_diagonal(dt, 0.0)
        if not dt.any():
            return np.arange(n, dtype=np.int64)
        labels, _ = louvain_runs(_dense_problem(dt), reps, seed, stream=1 + rnd)
        if (labels == labels[0]).all():
            return labels[0]
        d = agreement(labels, normalize=True)
    warnings.warn(f"consensus_und did not converge in {MAX_ROUNDS} rounds; returning the first partition",
                  RuntimeWarning, stacklevel=2)
    return labels[0]


@takes_graph(skips=True)
def consensus(g, runs=500, tau=0.1, reps=10, seed=0, gamma=1.0, negative="asym", directed=False, binary=False,
              across_epochs=False, init=None, refine=None):
    """Consensus partition of ``runs`` Louvain runs per epoch (Shine et al.: 500 runs).

    Parameters
    ----------
    g : LayeredGraph
    runs : int
        Louvain runs per epoch (run ``r`` uses the seed stream ``(seed, r)``; run 0 equals
        ``louvain(g, seed=seed)``). Spread over the cores.
    tau, reps : float, int
        As :func:`consensus_und`.
    seed : int
    gamma, negative, directed, binary
        As :func:`deepcnt.louvain`.
    across_epochs : bool
        For an epoch stack: also take the consensus of the per-epoch consensus partitions (Shine et al.'s
        consensus across epochs) and return that single partition.
    init : array of shape (N,) or (T, N), or "previous", optional
        Seed every run of an epoch with this partition. ``"previous"``: Shine et al.'s temporal use, each
        epoch's runs seeded with the *consensus* partition of the epoch before (epoch 0's runs start from
        singletons).
    refine : bool, optional
        Seeded runs that can still move groups of nodes (:func:`deepcnt.louvain`'s ``refine``); default True
        when seeded. With ``refine=False`` (BCT's seeded runs) a seed that is a local optimum comes back from
        every run, and the chain stays tied to epoch 0's partition.

    Returns
    -------
    ndarray, shape (N,) or (T, N), int64
        Shape (N,) for a single network or with ``across_epochs=True``.

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[.5, -1], [2, .25]]), np.array([[1, -.5], [0, 1.5]])])
    >>> consensus(g, runs=20).tolist()
    [0, 0, 0, 1, 0, 1]
    """
    mode = canonical_mode(negative)
    gamma = _check_gamma(gamma)
    if not isinstance(runs, (int, np.integer)) or runs < 1:
        raise InputError(f"runs must be a positive integer, got {runs!r}")
    run_states(seed, 1)  # validates the seed
    T = g.blocks[0].shape[0]
    chain, lab0 = seed_partitions(g, init)
    refine = True if refine is None else bool(refine)
    out = np.empty((T, g.n_nodes), np.int64)
    for t in range(T):
        start = lab0[t] if lab0 is not None else (out[t - 1] if chain and t > 0 else None)
        labels, _ = louvain_runs(louvain_problem(g, t, gamma, mode, directed, binary), runs, seed, start,
                                 refine=refine and start is not None)
        D = g.backend.to_numpy(agreement(labels, normalize=True, device=g.device))
        out[t] = consensus_und(D, tau, reps, seed)
    if across_epochs:
        if not g.stacked:
            raise InputError("across_epochs=True needs an epoch stack")
        return consensus_partitions(out, tau, reps, seed)
    return out if g.stacked else out[0]


def consensus_partitions(partitions, tau=0.1, reps=10, seed=0):
    """Consensus of given partitions (e.g. one per epoch): ``consensus_und(agreement / R, tau, reps)``.

    Parameters
    ----------
    partitions : array, shape (R, N), integer

    Returns
    -------
    ndarray, shape (N,), int64
    """
    return consensus_und(agreement(partitions, normalize=True), tau, reps, seed)


__all__ = ["agreement", "consensus", "consensus_partitions", "consensus_und"]
