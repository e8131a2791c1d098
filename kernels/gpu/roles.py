"""GPU twin of ``kernels.cpu.roles`` (numba.cuda): participation and within-module z-score from κ.

Same names, signatures and outputs as the CPU module; one thread per (epoch, node), module sums by
``cuda.atomic.add``.
"""
import math

import numpy as np
from numba import cuda

from .. import common, config

_participation = cuda.jit(device=True, inline="always")(common.participation)
_module_zscore = cuda.jit(device=True, inline="always")(common.module_zscore)


def _zeros(like, shape):
    if type(like).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy.zeros(shape)
    return np.zeros(shape)


@cuda.jit
def _part_kernel(kappa, out):
    i, t = cuda.grid(2)
    if i < kappa.shape[1] and t < kappa.shape[0]:
        out[t, i] = _participation(kappa, t, i)


def participation_from_kappa(kappa, out):
    """Guimerà–Amaral participation coefficient; same contract as the CPU twin.

    Parameters
    ----------
    kappa : array, shape (T, N, C), float64
    out : array, shape (T, N), float64, overwritten
    """
    T, N, C = kappa.shape
    if T == 0 or N == 0:
        return
    tpb = config.THREADS_PER_BLOCK
    _part_kernel[(math.ceil(N / tpb), T), (tpb, 1)](kappa, out)


@cuda.jit
def _sum_kernel(kappa, labels, s, n):
    i, t = cuda.grid(2)
    T, N, C = kappa.shape
    if i >= N or t >= T:
        return
    c = labels[t, i]
    cuda.atomic.add(s, (t, c), kappa[t, i, c])
    cuda.atomic.add(n, (t, c), 1.0)


@cuda.jit
def _ss_kernel(kappa, labels, s, n, ss):
    i, t = cuda.grid(2)
    T, N, C = kappa.shape
    if i >= N or t >= T:
        return
    c = labels[t, i]
    d = kappa[t, i, c] - s[t, c] / n[t, c]
    cuda.atomic.add(ss, (t, c), d * d)


@cuda.jit
def _z_kernel(kappa, labels, ddof, s, n, ss, out):
    i, t = cuda.grid(2)
    T, N, C = kappa.shape
    if i >= N or t >= T:
        return
    c = labels[t, i]
    out[t, i] = _module_zscore(kappa[t, i, c], s[t, c] / n[t, c], ss[t, c], n[t, c], ddof)


def zscore_from_kappa(kappa, labels, ddof, out):
    """Within-module degree z-score, NaN → 0; same contract as the CPU twin.

    Parameters
    ----------
    kappa : array, shape (T, N, C), float64
    labels : array, shape (T, N), int64
    ddof : int
    out : array, shape (T, N), float64, overwritten
    """
    T, N, C = kappa.shape
    if T == 0 or N == 0:
        return
    s, n, ss = (_zeros(kappa, (T, C)) for _ in range(3))
    tpb = config.THREADS_PER_BLOCK
    grid = ((math.ceil(N / tpb), T), (tpb, 1))
    _sum_kernel[grid](kappa, labels, s, n)
    _ss_kernel[grid](kappa, labels, s, n, ss)
    _z_kernel[grid](kappa, labels, ddof, s, n, ss, out)
