"""GPU twin of ``kernels.cpu.roles`` (numba.cuda): participation and within-module z-score from κ.

Same names, signatures and outputs as the CPU module; one thread per (epoch, node), module sums by
``cuda.atomic.add``.
"""
import math

import numpy as np
from numba import cuda

from .. import config


def _zeros(like, shape):
    if type(like).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy.zeros(shape)
    return np.zeros(shape)


@cuda.jit
def _part_kernel(kappa, out):
    i, t = cuda.grid(2)
    T, N, C = kappa.shape
    if i >= N or t >= T:
        return
    k = 0.0
    k2 = 0.0
    for c in range(C):
        v = kappa[t, i, c]
        k += v
        k2 += v * v
    out[t, i] = 1.0 - k2 / (k * k) if k != 0.0 else 0.0


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
    mean = s[t, c] / n[t, c]
    dof = n[t, c] - ddof
    sd = math.sqrt(ss[t, c] / dof) if dof > 0 else 0.0
    if sd > 1e-14 * (1.0 + abs(mean)):
        out[t, i] = (kappa[t, i, c] - mean) / sd
    else:
        out[t, i] = 0.0


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
