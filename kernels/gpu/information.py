"""Mutual information from contingency counts: GPU twin (numba.cuda, one thread per feature).

Accepts CuPy arrays on a device and numpy arrays under the CUDA simulator.
"""
from numba import cuda

from .. import common, config


_binary_mi_row = cuda.jit(device=True, inline="always")(common.binary_mi_row)
_on_information_row = cuda.jit(device=True, inline="always")(common.on_information_row)


@cuda.jit
def _binary_mi(n1y, ny, S, out):
    p = cuda.grid(1)
    if p < n1y.shape[0]:
        out[p] = _binary_mi_row(n1y, ny, S, p)


@cuda.jit
def _on_information(n1y, ny, S, out):
    p = cuda.grid(1)
    if p < n1y.shape[0]:
        out[p] = _on_information_row(n1y, ny, S, p)


def _launch(kernel, n1y, ny, S, out):
    P = n1y.shape[0]
    if P == 0:
        return
    tpb = config.THREADS_PER_BLOCK
    kernel[(P + tpb - 1) // tpb, tpb](n1y, ny, float(S), out)


def binary_mi(n1y, ny, S, out):
    """Plug-in MI in bits of a binary feature and a class, for every feature; see the CPU twin.

    .. math:: I = \\sum_{x,y} \\frac{n_{xy}}{S}\\log_2\\frac{n_{xy}\\,S}{n_x\\,n_y}
    """
    _launch(_binary_mi, n1y, ny, S, out)


def on_information(n1y, ny, S, out):
    """Pointwise MI averaged over the items where the feature is on (ID), in bits; see the CPU twin.

    .. math:: I_D = \\sum_y \\frac{n_{1y}}{n_1}\\log_2\\frac{n_{1y} S}{n_1 n_y}
    """
    _launch(_on_information, n1y, ny, S, out)
