"""Batched Sinkhorn over many pairs of distributions on one shared support: CPU twin.

Pairs are rows: ``a``, ``b`` are ``(P, d)``. The two products per iteration are GEMMs (numpy → BLAS); the
potential updates between them (a row max, ``exp``, ``log``) are fused Numba passes over contiguous rows. The
iteration runs in the log domain with a per-pair shift (``f = ε log u``, ``g = ε log v``), so ``u`` and ``v``
never overflow, and zero-mass bins are exact zeros of the plan (their potential is ``-inf``).
"""
import numpy as np
from numba import njit, prange

from .. import config


def _shifted_exp_py(pot, eps, out, shift):
    """out[p] = exp((pot[p] − max pot[p]) / eps); shift[p] = max pot[p] / eps."""
    P, d = pot.shape
    for p in prange(P):
        m = -np.inf
        for i in range(d):
            if pot[p, i] > m:
                m = pot[p, i]
        if m == -np.inf:
            m = 0.0
        shift[p] = m / eps
        for i in range(d):
            out[p, i] = np.exp((pot[p, i] - m) / eps)


def _update_py(pot, logm, prod, shift, eps, want_err, err):
    """pot = eps (log m − log prod − shift); err[p] = Σ_i |exp(pot_old/eps + log prod + shift) − m| if asked."""
    P, d = pot.shape
    tiny = 1e-300
    for p in prange(P):
        e = 0.0
        for i in range(d):
            lk = np.log(max(prod[p, i], tiny)) + shift[p]
            if want_err and pot[p, i] > -np.inf:
                e += abs(np.exp(pot[p, i] / eps + lk) - np.exp(logm[p, i]))
            pot[p, i] = eps * (logm[p, i] - lk)
        err[p] = e


def _cost_py(f, prod, shift, eps, out):
    P, d = f.shape
    for p in prange(P):
        s = 0.0
        for i in range(d):
            if f[p, i] > -np.inf and prod[p, i] > 0.0:
                s += np.exp(f[p, i] / eps + np.log(prod[p, i]) + shift[p])
        out[p] = s


# Each helper compiled twice: parallel for large batches, serial for small ones (a parallel region costs tens of
# microseconds, far more on a loaded machine, and runs 4 times per iteration).
_PAR = {f.__name__[:-3]: njit(parallel=True, cache=config.CACHE)(f) for f in (_shifted_exp_py, _update_py, _cost_py)}
_SER = {f.__name__[:-3]: njit(cache=config.CACHE)(f) for f in (_shifted_exp_py, _update_py, _cost_py)}


def sinkhorn_pairs(K, KM, a, b, eps, max_iter, tol, out, pot):
    """Entropic transport cost ``⟨γ, M⟩`` of P pairs at once (the value of POT's ``sinkhorn2``).

    .. math:: u \\leftarrow a / (K v),\\quad v \\leftarrow b / (K^{\\mathsf T} u),\\qquad
              \\mathrm{cost} = \\textstyle\\sum_{ij} u_i K_{ij} M_{ij} v_j,\\quad K = e^{-M/ε}

    Parameters
    ----------
    K : array, shape (d, d), float64, ``exp(−M/ε)`` (no entry may underflow to 0)
    KM : array, shape (d, d), float64, ``K ∘ M``
    a, b : array, shape (P, d), float64, C-contiguous; rows are distributions (sum 1, zeros allowed)
    eps : float, the entropic regularisation ε (in units of M)
    max_iter : int
    tol : float, stop when every pair's row-marginal L1 error is below ``tol`` (checked every 10 iterations)
    out : array, shape (P,), float64, overwritten with the costs
    pot : array, shape (2, P, d), float64, C-contiguous; in: the starting potentials ``(f, g)`` (zeros for a
        cold start; the result of a larger ε for ε-scaling), out: the final potentials

    Returns
    -------
    (n_iter, max_err) : (int, float)
        Iterations done and the largest row-marginal L1 error at the last check.
    """
    P, d = a.shape
    h = _PAR if P * d >= config.SINKHORN_PARALLEL_MIN else _SER
    _shifted_exp, _update, _cost = h["_shifted_exp"], h["_update"], h["_cost"]
    with np.errstate(divide="ignore"):
        loga = np.log(a)
        logb = np.log(b)
    f = pot[0]
    g = pot[1]
    E = np.empty((P, d))
    prod = np.empty((P, d))
    shift = np.empty(P)
    err = np.zeros(P)
    Kt = np.ascontiguousarray(K.T)
    max_err = np.inf
    it = 0
    while it < max_iter:
        check = ((it % 10 == 9) or it == max_iter - 1) and it > 0
        _shifted_exp(g, eps, E, shift)
        np.matmul(E, Kt, out=prod)            # (K v) for every pair, as rows
        _update(f, loga, prod, shift, eps, check, err)
        if check:
            max_err = float(err.max())
        _shifted_exp(f, eps, E, shift)
        np.matmul(E, K, out=prod)             # (Kᵀ u)
        _update(g, logb, prod, shift, eps, False, err)
        it += 1
        if check and max_err < tol:
            break
    _shifted_exp(g, eps, E, shift)
    np.matmul(E, np.ascontiguousarray(KM.T), out=prod)
    _cost(f, prod, shift, eps, out)
    return it, max_err
