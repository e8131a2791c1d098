"""Block kernels of the community family: within-module sums, node-to-module sums, agreement.

Every kernel reads each weight block once, builds the mask ``|w| > θ`` on the fly and scatters into
module-indexed accumulators, so Q, P and z of a partition cost O(E + N·C), never N×N.

Weight channels (argument ``channel`` of :func:`node_module_sums`): ``0`` A⁺, ``1`` A⁻, ``2`` W⁺, ``3`` W⁻
(magnitude), ``4`` A (all kept edges), ``5`` W (signed), ``6`` |W|.
"""
import numpy as np
from numba import njit, prange

from .. import common, config

_chan = njit(inline="always")(common.channel_weight)
_add_sign_channels = njit(inline="always")(common.add_sign_channels)


def within_sums(W, theta, lab_src, lab_dst, out):
    """Sums of the four sign channels over the edges whose two ends share a module.

    .. math:: \\mathrm{out}[t,c] = \\sum_{i,j} B_c[t,i,j]\\,\\delta(\\ell^{src}_{t,i}, \\ell^{dst}_{t,j})

    with ``B = (A⁺, A⁻, W⁺, W⁻)``: the within-module weight ``Σ_c e_c`` of one block.
    Serial: one memory-bound pass (parallel regions cost more than they save on a shared 2-core machine).

    Parameters
    ----------
    W : array, shape (T, n_s, n_t), float32 or float64
    theta : array, shape (T,), float64
    lab_src : array, shape (T, n_s), int64, module of each source node
    lab_dst : array, shape (T, n_t), int64, module of each target node
    out : array, shape (T, 4), float64, overwritten
    """
    out[:] = 0.0
    _within_sums(W, theta, lab_src, lab_dst, out)


@njit(cache=config.CACHE)
def _within_sums(W, theta, lab_src, lab_dst, out):
    T, ns, nt = W.shape
    for t in range(T):
        th = theta[t]
        ap = am = wp = wm = 0.0
        ld = lab_dst[t]
        for i in range(ns):
            li = lab_src[t, i]
            Wi = W[t, i]
            for j in range(nt):
                if ld[j] == li:
                    ap, am, wp, wm = _add_sign_channels(np.float64(Wi[j]), th, 1.0, ap, am, wp, wm)
        out[t, 0] = ap
        out[t, 1] = am
        out[t, 2] = wp
        out[t, 3] = wm


def node_module_sums(W, theta, channel, lab_src, lab_dst, row_out, col_out):
    """Node-to-module sums of one weight channel over one block: κ_ic

    .. math:: \\mathrm{row}[t,i,c] = \\sum_j B[t,i,j]\\,[\\ell^{dst}_{t,j}=c], \\qquad
              \\mathrm{col}[t,j,c] = \\sum_i B[t,i,j]\\,[\\ell^{src}_{t,i}=c]

    Parameters
    ----------
    W : array, shape (T, n_s, n_t)
    theta : array, shape (T,), float64
    channel : int, 0..6 (module docstring)
    lab_src : array, shape (T, n_s), int64, modules in ``0..C-1``
    lab_dst : array, shape (T, n_t), int64
    row_out : array, shape (T, n_s, C), float64, overwritten (out-neighbours of each source node)
    col_out : array, shape (T, n_t, C), float64, overwritten (in-neighbours of each target node)
    """
    row_out[:] = 0.0
    col_out[:] = 0.0
    _node_module_sums(W, theta, channel, lab_src, lab_dst, row_out, col_out)


@njit(cache=config.CACHE)
def _node_module_sums(W, theta, channel, lab_src, lab_dst, row_out, col_out):
    T, ns, nt = W.shape
    for t in range(T):
        th = theta[t]
        for i in range(ns):
            li = lab_src[t, i]
            for j in range(nt):
                v = _chan(np.float64(W[t, i, j]), th, channel)
                if v != 0.0:
                    row_out[t, i, lab_dst[t, j]] += v
                    col_out[t, j, li] += v


def agreement(labels, out):
    """Agreement counts of a set of partitions: how many partitions put ``i`` and ``j`` together.

    .. math:: D_{ij} = \\sum_r [c^{(r)}_i = c^{(r)}_j],\\quad D_{ii} = 0

    Parameters
    ----------
    labels : array, shape (R, N), int64
    out : array, shape (N, N), float64, overwritten
    """
    R, N = labels.shape
    _agreement(np.ascontiguousarray(labels.T), out)


@njit(parallel=True, cache=config.CACHE)
def _agreement(labT, out):
    N, R = labT.shape
    for i in prange(N):
        li = labT[i]
        for j in range(N):
            if j == i:
                out[i, j] = 0.0
                continue
            lj = labT[j]
            s = 0
            for r in range(R):
                if li[r] == lj[r]:
                    s += 1
            out[i, j] = s
