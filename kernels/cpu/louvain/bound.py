"""Bounds on the null term of the modules a node is not linked to (the neighbours strategy, ``neighbours``).

A node of small degree evaluates only its neighbours' modules and "alone" when no other module can give a
move: every other module ``c`` has ``H[u, c] = −Σ_t xb_t ysum[t, c]`` (no edge), bounded by ``ymin``/``ymax``
over the modules (in ``moving._sweeps``) and, for rank 2 with ``Y ≥ 0`` (signed undirected), by the ratio
bound below, which leaves out the ``_OUTLIERS`` modules of largest ``Y1_c / Y0_c`` (evaluated exactly).
"""
import numpy as np
from numba import njit

from ... import config

#: modules with the largest Y1/Y0 ratios that the neighbours path evaluates exactly (``_outliers``).
_OUTLIERS = 16


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
def _outliers(ysum, size, hi, outliers, ratios, is_outlier, rho):
    """The ratio bound's outliers: ``outliers`` gets the (at most ``outliers.size``) non-empty modules with the
    largest ``Y1_c / Y0_c`` (flagged in ``is_outlier``), which the neighbours path evaluates exactly; ``rho[0]``
    becomes the largest ratio of the others, ``rho[1]`` the largest ``Y0_c / Y1_c`` of all. One module with
    an extreme ratio (a singleton, early on) would otherwise loosen the bound for every node. Returns the
    number of outliers (``ratios``: a workspace for their ratios, ascending)."""
    n_max = outliers.size
    for q in range(n_max):
        is_outlier[outliers[q]] = False
    n_out = 0
    rho[0] = 0.0
    rho[1] = 0.0
    for c in range(hi):
        if size[c] == 0:
            continue
        rho[1] = max(rho[1], _ratio(ysum[0, c], ysum[1, c]))
        r = _ratio(ysum[1, c], ysum[0, c])
        if n_out == n_max:
            if r <= ratios[0]:
                rho[0] = max(rho[0], r)
                continue
            rho[0] = max(rho[0], ratios[0])  # the smallest outlier drops out
            q = 0
            while q + 1 < n_max and ratios[q + 1] < r:
                ratios[q] = ratios[q + 1]
                outliers[q] = outliers[q + 1]
                q += 1
        else:
            q = n_out
            while q > 0 and ratios[q - 1] > r:
                ratios[q] = ratios[q - 1]
                outliers[q] = outliers[q - 1]
                q -= 1
            n_out += 1
        ratios[q] = r
        outliers[q] = c
    for q in range(n_out):
        is_outlier[outliers[q]] = True
    for q in range(n_out, n_max):
        outliers[q] = outliers[0] if n_out > 0 else 0
    return n_out

