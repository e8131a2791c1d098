"""Earth mover's distance between receptive fields: exact (POT, over a process pool) and batched Sinkhorn.

Only the upper triangle of the symmetric EMD matrix is computed. Distributions are rows ``(n, d)`` over a
shared support of ``d`` points (pixel coordinates on the integer grid, row-major), with the Euclidean ground
metric, so EMD = W1. The exact solver restricts every pair to the bins that carry mass (exact, and about 4×
faster on positive parts of receptive fields).
"""
import os

import numpy as np

from .. import config
from ..backend import backend_for, to_host
from ..errors import InputError
from ..kernels.cpu.threads import blas_threads
from .receptive import rf_distributions


def grid_coordinates(shape):
    """Pixel coordinates ``(row, col)`` of an image of ``shape``, row-major: array (h·w, 2), float64."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 2) or min(shape) < 1:
        raise InputError(f"shape must be (n,) or (h, w) with positive sizes, got {shape}")
    if len(shape) == 1:
        return np.arange(shape[0], dtype=np.float64)[:, None]
    r, c = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return np.stack([r.ravel(), c.ravel()], axis=1).astype(np.float64)


def ground_metric(shape=None, coords=None):
    """Euclidean ground metric between support points: ``M[u, v] = ‖x_u − x_v‖₂`` (POT's
    ``ot.dist(x, x, metric='euclidean')``; POT's default ``'sqeuclidean'`` would give W2²).

    Returns
    -------
    ndarray, shape (d, d), float64, C-contiguous
    """
    x = grid_coordinates(shape) if coords is None else np.asarray(coords, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    diff = x[:, None, :] - x[None, :, :]
    return np.ascontiguousarray(np.sqrt((diff * diff).sum(-1)))


def _check_dists(P, M):
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] < 1:
        raise InputError(f"distributions must be a 2-D array (n, d), got shape {P.shape}")
    if not np.isfinite(P).all() or (P < 0).any():
        raise InputError("distributions must be finite and non-negative (use rf_distributions to build them)")
    mass = P.sum(axis=1)
    if not np.allclose(mass, 1.0, rtol=0, atol=1e-9):
        bad = int(np.flatnonzero(~np.isclose(mass, 1.0, rtol=0, atol=1e-9))[0])
        raise InputError(f"distribution {bad} sums to {mass[bad]:.6g}, not 1: normalise rows (rf_distributions)")
    M = np.ascontiguousarray(np.asarray(M, dtype=np.float64))
    if M.shape != (P.shape[1], P.shape[1]):
        raise InputError(f"ground metric has shape {M.shape} but the distributions have {P.shape[1]} bins")
    if not np.isfinite(M).all():
        raise InputError("ground metric holds NaN or infinite values")
    return np.ascontiguousarray(P / mass[:, None]), M


def emd_pair(a, b, M):
    """Exact EMD between two distributions on a shared support (POT ``emd2`` on the bins with mass).

    .. math:: \\mathrm{EMD}(a, b) = \\min_{γ \\ge 0,\\ γ1 = a,\\ γ^{\\mathsf T}1 = b} \\sum_{uv} γ_{uv} M_{uv}

    Examples
    --------
    >>> M = ground_metric((2, 2))
    >>> round(emd_pair(np.array([1., 0, 0, 0]), np.array([0., 0, 0, 1]), M), 6)
    1.414214
    """
    try:
        import ot
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("exact EMD needs POT: pip install 'POT>=0.9' (or use method='sinkhorn')") from None

    ia, ib = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    aa = np.ascontiguousarray(a[ia] / a[ia].sum())
    bb = np.ascontiguousarray(b[ib] / b[ib].sum())
    sub = np.ascontiguousarray(M[np.ix_(ia, ib)])
    cost, log = ot.emd2(aa, bb, sub, numItermax=config.EMD_NUM_ITERMAX, log=True)
    if log["result_code"] != 1:
        raise RuntimeError(f"POT emd2 did not reach the optimum ({log['warning']}): raise config.EMD_NUM_ITERMAX")
    return float(cost)


# ------------------------------------------------------------------ process pool (fork: the data is inherited)
_POOL_DATA = {}


def _pool_init(P, M):
    _POOL_DATA["P"], _POOL_DATA["M"] = P, M


def _pool_chunk(pairs):
    # one pair is a few small array operations: BLAS threads only add contention (measured: 5x slower on a
    # loaded 2-core machine), so every worker runs single-threaded and the pool provides the parallelism
    P, M = _POOL_DATA["P"], _POOL_DATA["M"]
    with blas_threads(1):
        return np.array([emd_pair(P[i], P[j], M) for i, j in pairs])


def n_cores():
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def emd_pairs(P, M, pairs, n_jobs=None, progress=None):
    """Exact EMD of the given pairs of rows of ``P``, spread over ``n_jobs`` processes.

    Parameters
    ----------
    P : array, shape (n, d), rows summing to 1
    M : array, shape (d, d)
    pairs : array, shape (m, 2), int
    n_jobs : int, optional; default every core (1: in this process)
    progress : callable, optional
        ``progress(done, total)`` after each chunk of pairs (e.g. :func:`deepcnt.runs.progress.progress_callback`).

    Returns
    -------
    ndarray, shape (m,), float64
    """
    P, M = _check_dists(P, M)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= P.shape[0]):
        raise InputError(f"pairs index rows outside 0..{P.shape[0] - 1}")
    n_jobs = n_cores() if n_jobs is None else int(n_jobs)
    if n_jobs < 1:
        raise InputError(f"n_jobs must be >= 1, got {n_jobs}")
    def collect(results):
        vals, done = [], 0
        for v in results:
            vals.append(v)
            done += len(v)
            if progress is not None:
                progress(done, len(pairs))
        return np.concatenate(vals) if vals else np.zeros(0)

    if n_jobs == 1 or len(pairs) < 2 * config.EMD_CHUNK:
        _pool_init(P, M)
        try:
            return collect(map(_pool_chunk, np.array_split(pairs, max(1, -(-len(pairs) // config.EMD_CHUNK)))))
        finally:
            _POOL_DATA.clear()
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    n_chunks = max(n_jobs * 4, -(-len(pairs) // config.EMD_CHUNK))
    chunks = np.array_split(pairs, n_chunks)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_pool_init, initargs=(P, M)) as ex:
        return collect(ex.map(_pool_chunk, chunks))


def upper_pairs(n):
    """The pairs ``(i, j)``, ``i < j``, of the upper triangle, row by row: array (n(n−1)/2, 2)."""
    i, j = np.triu_indices(n, 1)
    return np.stack([i, j], axis=1)


def _fill(n, pairs, vals):
    D = np.zeros((n, n))
    D[pairs[:, 0], pairs[:, 1]] = vals
    D[pairs[:, 1], pairs[:, 0]] = vals
    return D


def emd_matrix(P, M, method="exact", n_jobs=None, progress=None, **sinkhorn_options):
    """Symmetric EMD matrix between the rows of ``P`` (only the upper triangle is computed).

    Parameters
    ----------
    P : array, shape (n, d), rows summing to 1
    M : array, shape (d, d), ground metric (:func:`ground_metric`)
    method : {"exact", "sinkhorn"}
    n_jobs : int, optional
        Processes of the exact solver (default every core).
    progress : callable, optional
        ``progress(done, total)`` pairs of the exact solver (:func:`emd_pairs`).
    **sinkhorn_options
        ``eps``, ``max_iter``, ``tol``, ``device``, ``chunk`` of :func:`sinkhorn_pairs`.

    Returns
    -------
    ndarray, shape (n, n), float64, zero diagonal

    Examples
    --------
    >>> P = np.array([[1., 0, 0, 0], [.9, .1, 0, 0], [0, 0, 0, 1]])
    >>> emd_matrix(P, ground_metric((2, 2)), n_jobs=1).round(6).tolist()[0]
    [0.0, 0.1, 1.414214]
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2:
        raise InputError(f"distributions must be a 2-D array (n, d), got shape {P.shape}")
    pairs = upper_pairs(P.shape[0])
    if method == "exact":
        vals = emd_pairs(P, M, pairs, n_jobs=n_jobs, progress=progress)
    elif method == "sinkhorn":
        vals = sinkhorn_pairs(P, M, pairs, **sinkhorn_options)[0]
    else:
        raise InputError(f"unknown method {method!r}: use 'exact' or 'sinkhorn'")
    return _fill(P.shape[0], pairs, vals)


def default_eps(M, dtype=np.float64):
    """Default ε: ``config.SINKHORN_EPS`` (in units of the ground metric), raised if needed so that
    ``exp(−max M/ε)`` does not underflow in ``dtype``."""
    floor = float(M.max()) / (0.9 * -np.log(np.finfo(dtype).tiny))
    return max(config.SINKHORN_EPS, floor)


def eps_schedule(eps, M):
    """ε-scaling: halve from ``config.SINKHORN_EPS_START · max M`` down to ``eps`` (the last stage is ``eps``)."""
    start = config.SINKHORN_EPS_START * float(M.max())
    stages = []
    e = start
    while e > 2 * eps:
        stages.append(e)
        e /= 2
    return stages + [eps]


def sinkhorn_pairs(P, M, pairs, eps=None, max_iter=None, tol=None, device=None, chunk=None, scaling=False):
    """Entropic EMD of the given pairs by batched Sinkhorn: two GEMMs per iteration over a chunk of pairs.

    .. math:: \\mathrm{cost} = \\langle γ_ε, M\\rangle,\\quad γ_ε = \\mathrm{diag}(u) K \\mathrm{diag}(v),
              \\quad K = e^{-M/ε}

    (the value of POT's ``sinkhorn2``, without the entropy term). It over-estimates the exact EMD by
    ``O(ε log d)``; :func:`compare_to_exact` reports the error on a sample. With ``scaling`` the potentials
    are warm-started through a halving sequence of ε (:func:`eps_schedule`; intermediate stages stop at
    ``config.SINKHORN_STAGE_TOL``). Measured on 28×28 receptive fields at ε = 0.1 it saves little (2,820
    instead of 3,090 iterations: the last stage dominates), so it is off by default.

    Parameters
    ----------
    P : array, shape (n, d); M : array, shape (d, d); pairs : array, shape (m, 2)
    eps : float, optional; default :func:`default_eps`
    max_iter, tol : optional; defaults ``config.SINKHORN_MAX_ITER``, ``config.SINKHORN_TOL`` (last stage)
    device : {None, "cpu", "gpu"}
        ``gpu`` runs the CuPy twin (numpy arrays under the CUDA simulator); ``None`` follows ``P`` (a CuPy
        array: the GPU).
    chunk : int, optional; pairs per batch (default ``config.SINKHORN_CHUNK``)
    scaling : bool, ε-scaling, or a cold start at ``eps`` (default)

    Returns
    -------
    costs : ndarray, shape (m,), float64
    info : dict with ``eps``, ``n_iter`` (iterations of all stages, max over chunks), ``max_marginal_error``
    """
    be = backend_for(device, P)
    P, M = _check_dists(to_host(P), to_host(M))
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    eps = default_eps(M) if eps is None else float(eps)
    if not eps > 0:
        raise InputError(f"eps must be > 0, got {eps}")
    max_iter = config.SINKHORN_MAX_ITER if max_iter is None else int(max_iter)
    tol = config.SINKHORN_TOL if tol is None else float(tol)
    chunk = config.SINKHORN_CHUNK if chunk is None else int(chunk)
    if (np.exp(-M / eps) == 0).any():
        raise InputError(f"eps={eps} underflows exp(-M/eps); use eps >= {default_eps(M):.4g}")
    xp, kern = be.xp, be.kernel("transport")
    stages = eps_schedule(eps, M) if scaling else [eps]
    kernels = [(xp.asarray(np.exp(-M / e)), xp.asarray(np.exp(-M / e) * M), e) for e in stages]
    Px = xp.asarray(P)
    out = np.empty(len(pairs))
    n_iter, err = 0, 0.0
    for s in range(0, len(pairs), chunk):
        pc = pairs[s:s + chunk]
        a = xp.ascontiguousarray(Px[xp.asarray(pc[:, 0])])
        b = xp.ascontiguousarray(Px[xp.asarray(pc[:, 1])])
        o = xp.empty(len(pc))
        pot = xp.zeros((2,) + a.shape)
        its = 0
        for k, (K, KM, e) in enumerate(kernels):
            last = k == len(kernels) - 1
            it, er = kern.sinkhorn_pairs(K, KM, a, b, e, max_iter, tol if last else config.SINKHORN_STAGE_TOL,
                                         o, pot)
            its += it
        out[s:s + chunk] = be.to_numpy(o)
        n_iter, err = max(n_iter, its), max(err, er)
    return out, {"eps": eps, "n_iter": n_iter, "max_marginal_error": err}


def compare_to_exact(approx, exact):
    """Spearman correlation and max relative error of approximate distances against exact ones.

    Returns
    -------
    dict with ``spearman``, ``max_rel_error``, ``mean_rel_error`` (over pairs with exact > 0)
    """
    from scipy.stats import spearmanr

    approx, exact = np.ravel(approx), np.ravel(exact)
    if approx.shape != exact.shape:
        raise InputError(f"approx has {approx.size} values but exact has {exact.size}")
    keep = exact > 0
    rel = np.abs(approx[keep] - exact[keep]) / exact[keep]
    rho = spearmanr(approx[keep], exact[keep]).statistic if keep.sum() > 1 else np.nan
    return {"spearman": float(rho), "max_rel_error": float(rel.max(initial=0.0)),
            "mean_rel_error": float(rel.mean()) if rel.size else 0.0}


def validate_against_exact(P, M, D, n_pairs=200, seed=0, n_jobs=None):
    """Error of an approximate EMD matrix ``D`` (e.g. Sinkhorn) against exact EMD on a random sample of pairs.

    Parameters
    ----------
    P : array, shape (n, d); M : array, shape (d, d); D : array, shape (n, n)
    n_pairs : int, pairs sampled from the upper triangle (all of them if there are fewer)

    Returns
    -------
    dict of :func:`compare_to_exact` plus ``n_pairs``
    """
    D = np.asarray(D, dtype=np.float64)
    n = np.shape(P)[0]
    if D.shape != (n, n):
        raise InputError(f"D has shape {D.shape} but there are {n} distributions")
    pairs = upper_pairs(n)
    if len(pairs) > n_pairs:
        pairs = pairs[np.sort(np.random.default_rng(seed).choice(len(pairs), n_pairs, replace=False))]
    exact = emd_pairs(P, M, pairs, n_jobs=n_jobs)
    out = compare_to_exact(D[pairs[:, 0], pairs[:, 1]], exact)
    out["n_pairs"] = len(pairs)
    return out


def rf_emd_matrix(rf, shape, mode="pos", method="exact", levels=255, n_jobs=None, progress=None,
                  **sinkhorn_options):
    """EMD matrix between receptive fields (rows of ``rf``): ``rf_distributions`` then
    :func:`emd_matrix`; ``mode="split"`` is ``EMD(pos) + EMD(neg)``.

    Parameters
    ----------
    rf : array, shape (n_units, h·w); shape : (h, w)
    mode : {"pos", "neg", "abs", "shift", "minmax", "pebbles", "split"}
    progress : callable, optional
        ``progress(done, total)`` of :func:`emd_matrix` (twice for ``"split"``).
    """
    rf = np.asarray(rf, dtype=np.float64)
    M = ground_metric(shape)
    if rf.ndim != 2 or rf.shape[1] != M.shape[0]:
        raise InputError(f"receptive fields of shape {rf.shape} do not match an image of shape {tuple(shape)}")
    if mode == "split":
        return sum(emd_matrix(rf_distributions(rf, m), M, method, n_jobs, progress, **sinkhorn_options)
                   for m in ("pos", "neg"))
    return emd_matrix(rf_distributions(rf, mode, levels), M, method, n_jobs, progress, **sinkhorn_options)
