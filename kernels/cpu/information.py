"""Mutual information of binary features with a class label, from contingency counts: CPU twin.

The counts come from one GEMM in the engine (``n_{p,1,y} = X_bᵀ Y_1``); these kernels do the elementwise part,
one feature per iteration of a parallel loop.
"""
from numba import njit, prange

from .. import common, config

_binary_mi_row = njit(inline="always")(common.binary_mi_row)
_on_information_row = njit(inline="always")(common.on_information_row)


@njit(parallel=True, cache=config.CACHE)
def binary_mi(n1y, ny, S, out):
    """Plug-in MI in bits of a binary feature and a class, for every feature (row of ``n1y``).

    .. math:: I = \\sum_{x\\in\\{0,1\\}}\\sum_y \\frac{n_{xy}}{S}\\log_2\\frac{n_{xy}\\,S}{n_x\\,n_y},\\qquad
              n_{0y} = n_y - n_{1y}

    Parameters
    ----------
    n1y : array, shape (P, C), float64, items with the feature on, per class
    ny : array, shape (C,), float64, items per class
    S : float, number of items
    out : array, shape (P,), float64, overwritten (0·log 0 = 0)
    """
    for p in prange(n1y.shape[0]):
        out[p] = _binary_mi_row(n1y, ny, S, p)


@njit(parallel=True, cache=config.CACHE)
def on_information(n1y, ny, S, out):
    """Pointwise MI averaged over the items where the feature is on (Shine et al.'s ID), in bits.

    .. math:: I_D = \\frac{1}{n_1}\\sum_{i: x_i = 1} \\log_2\\frac{p(y_i\\mid x=1)}{p(y_i)}
              = \\sum_y \\frac{n_{1y}}{n_1}\\log_2\\frac{n_{1y} S}{n_1 n_y}

    Parameters
    ----------
    n1y : array, shape (P, C); ny : array, shape (C,); S : float
    out : array, shape (P,), overwritten (0 for a feature that is never on)
    """
    for p in prange(n1y.shape[0]):
        out[p] = _on_information_row(n1y, ny, S, p)
