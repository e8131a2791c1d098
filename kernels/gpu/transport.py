"""Batched Sinkhorn over many pairs: GPU twin, written against ``xp`` (CuPy on a device; numpy under
the CUDA simulator, which is how it is tested without a GPU). The GEMMs go to cuBLAS through ``xp.matmul``;
the potential updates are CuPy elementwise expressions. Same log-domain, per-pair-shift scheme as the CPU twin.
"""
import numpy as np


def _xp(a):
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def sinkhorn_pairs(K, KM, a, b, eps, max_iter, tol, out, pot):
    """Entropic transport cost ``⟨γ, M⟩`` of P pairs at once; see ``deepcnt.kernels.cpu.transport``.

    .. math:: u \\leftarrow a / (K v),\\quad v \\leftarrow b / (K^{\\mathsf T} u),\\qquad
              \\mathrm{cost} = \\textstyle\\sum_{ij} u_i K_{ij} M_{ij} v_j

    Parameters
    ----------
    K, KM : array, shape (d, d); a, b : array, shape (P, d), rows are distributions
    eps : float; max_iter : int; tol : float
    out : array, shape (P,), overwritten with the costs
    pot : array, shape (2, P, d), in: starting potentials (f, g), out: final potentials

    Returns
    -------
    (n_iter, max_err) : (int, float)
    """
    xp = _xp(a)
    tiny = 1e-300
    with np.errstate(divide="ignore"):
        loga = xp.log(a)
        logb = xp.log(b)
    f = pot[0].copy()
    g = pot[1].copy()

    def shifted(pot):
        m = xp.max(pot, axis=1, keepdims=True)
        m = xp.where((m == -xp.inf), 0.0, m)
        return xp.exp((pot - m) / eps), m / eps

    max_err = float("inf")
    it = 0
    while it < max_iter:
        check = ((it % 10 == 9) or it == max_iter - 1) and it > 0
        E, s = shifted(g)
        lk = xp.log(xp.maximum(E @ K.T, tiny)) + s
        if check:
            r = xp.where((f == -xp.inf), 0.0, xp.exp(xp.where((f == -xp.inf), 0.0, f / eps + lk)))
            max_err = float(xp.abs(r - a).sum(axis=1).max())
        f = eps * (loga - lk)
        E, s = shifted(f)
        g = eps * (logb - (xp.log(xp.maximum(E @ K, tiny)) + s))
        it += 1
        if check and max_err < tol:
            break
    E, s = shifted(g)
    prod = E @ KM.T
    ok = ~(f == -xp.inf) & (prod > 0)
    terms = xp.where(ok, xp.exp(xp.where(ok, f / eps + xp.log(xp.where(ok, prod, 1.0)) + s, 0.0)), 0.0)
    out[...] = terms.sum(axis=1)
    pot[0] = f
    pot[1] = g
    return it, max_err
