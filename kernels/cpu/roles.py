"""Node roles from node-to-module sums κ: participation coefficient and within-module z-score.

Both take ``κ`` of shape (T, N, C) (``κ[t,i,c]`` = weight of node ``i`` into module ``c`` at epoch ``t``, from
``communities.node_module_sums``) and cost O(N·C).
"""
import numpy as np
from numba import njit

from .. import common, config

_participation = njit(inline="always")(common.participation)
_module_zscore = njit(inline="always")(common.module_zscore)


@njit(cache=config.CACHE)
def participation_from_kappa(kappa, out):
    """Guimerà–Amaral participation coefficient; 0 for a node with no weight (BCT).

    .. math:: P_i = 1 - \\sum_c \\Big(\\frac{\\kappa_{ic}}{\\kappa_i}\\Big)^2,\\qquad \\kappa_i = \\sum_c \\kappa_{ic}

    Parameters
    ----------
    kappa : array, shape (T, N, C), float64
    out : array, shape (T, N), float64, overwritten
    """
    T, N, _ = kappa.shape
    for r in range(T * N):
        t = r // N
        i = r - t * N
        out[t, i] = _participation(kappa, t, i)


@njit(cache=config.CACHE)
def zscore_from_kappa(kappa, labels, ddof, out):
    """Within-module degree z-score (Guimerà & Amaral; BCT ``module_degree_zscore``), NaN → 0.

    .. math:: z_i = \\frac{\\kappa_{i c_i} - \\langle \\kappa_{j c_j} \\rangle_{j \\in c_i}}{\\sigma_{c_i}},
              \\qquad \\sigma^2_c = \\frac{1}{n_c - \\mathrm{ddof}}\\sum_{j\\in c}(\\kappa_{jc} - \\langle\\cdot\\rangle)^2

    A module with ``n_c ≤ ddof`` or with zero spread (``σ ≤ 1e-14·(1+|mean|)``, i.e. constant up to rounding)
    gives ``z = 0``, as BCT's NaN → 0 rule.

    Parameters
    ----------
    kappa : array, shape (T, N, C), float64
    labels : array, shape (T, N), int64, modules in ``0..C-1``
    ddof : int
        1 = MATLAB ``std`` (BCT), 0 = numpy (bctpy).
    out : array, shape (T, N), float64, overwritten
    """
    T, N, C = kappa.shape
    for t in range(T):
        s = np.zeros(C)
        n = np.zeros(C)
        for i in range(N):
            c = labels[t, i]
            s[c] += kappa[t, i, c]
            n[c] += 1.0
        mean = np.zeros(C)
        for c in range(C):
            if n[c] > 0:
                mean[c] = s[c] / n[c]
        ss = np.zeros(C)
        for i in range(N):
            c = labels[t, i]
            d = kappa[t, i, c] - mean[c]
            ss[c] += d * d
        for i in range(N):
            c = labels[t, i]
            out[t, i] = _module_zscore(kappa[t, i, c], mean[c], ss[c], n[c], ddof)
