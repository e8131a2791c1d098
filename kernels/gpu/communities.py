"""GPU twin of ``kernels.cpu.communities`` (numba.cuda): within-module sums, node-to-module sums, agreement.

Same names, signatures and outputs as the CPU module. Accepts CuPy arrays on a device and numpy arrays under
the CUDA simulator. Scatter-adds use ``cuda.atomic.add`` on float64.
"""
import math

from numba import cuda, float64

from .. import common, config

_chan = cuda.jit(device=True, inline="always")(common.channel_weight)
_add_sign_channels = cuda.jit(device=True, inline="always")(common.add_sign_channels)


@cuda.jit
def _within_kernel(W, theta, lab_src, lab_dst, out):
    i, t = cuda.grid(2)
    T, ns, nt = W.shape
    if i >= ns or t >= T:
        return
    th = theta[t]
    li = lab_src[t, i]
    ap = am = wp = wm = 0.0
    for j in range(nt):
        if lab_dst[t, j] == li:
            ap, am, wp, wm = _add_sign_channels(float64(W[t, i, j]), th, 1.0, ap, am, wp, wm)
    cuda.atomic.add(out, (t, 0), ap)
    cuda.atomic.add(out, (t, 1), am)
    cuda.atomic.add(out, (t, 2), wp)
    cuda.atomic.add(out, (t, 3), wm)


def within_sums(W, theta, lab_src, lab_dst, out):
    """Sums of the four sign channels over the edges whose two ends share a module.

    Same contract as ``deepcnt.kernels.cpu.communities.within_sums``.

    Parameters
    ----------
    W : array, shape (T, n_s, n_t)
    theta : array, shape (T,), float64
    lab_src : array, shape (T, n_s), int64
    lab_dst : array, shape (T, n_t), int64
    out : array, shape (T, 4), float64, overwritten
    """
    T, ns, nt = W.shape
    out[:] = 0.0
    if T == 0 or ns == 0 or nt == 0:
        return
    tpb = config.THREADS_PER_BLOCK
    _within_kernel[(math.ceil(ns / tpb), T), (tpb, 1)](W, theta, lab_src, lab_dst, out)


@cuda.jit
def _side_kernel(W, theta, channel, lab_other, out, by_col):
    """One thread per row (``by_col`` False) or per column ``u`` of ``W``: ``out[t, u, m]`` sums the channel's
    weights between ``u`` and the nodes ``v`` at the other end whose module ``lab_other[t, v]`` is ``m``."""
    u, t = cuda.grid(2)
    T, ns, nt = W.shape
    n_u, n_v = (nt, ns) if by_col else (ns, nt)
    if u >= n_u or t >= T:
        return
    th = theta[t]
    for v in range(n_v):
        val = _chan(float64(W[t, v, u] if by_col else W[t, u, v]), th, channel)
        if val != 0.0:
            out[t, u, lab_other[t, v]] += val


def node_module_sums(W, theta, channel, lab_src, lab_dst, row_out, col_out):
    """Node-to-module sums of one weight channel over one block (κ_ic).

    Same contract as ``deepcnt.kernels.cpu.communities.node_module_sums``: one thread per row (per column)
    owns its output row, so no atomics are needed.

    Parameters
    ----------
    W : array, shape (T, n_s, n_t)
    theta : array, shape (T,), float64
    channel : int, 0..6
    lab_src : array, shape (T, n_s), int64
    lab_dst : array, shape (T, n_t), int64
    row_out : array, shape (T, n_s, C), float64, overwritten
    col_out : array, shape (T, n_t, C), float64, overwritten
    """
    T, ns, nt = W.shape
    row_out[:] = 0.0
    col_out[:] = 0.0
    if T == 0 or ns == 0 or nt == 0:
        return
    tpb = config.THREADS_PER_BLOCK
    _side_kernel[(math.ceil(ns / tpb), T), (tpb, 1)](W, theta, channel, lab_dst, row_out, False)
    _side_kernel[(math.ceil(nt / tpb), T), (tpb, 1)](W, theta, channel, lab_src, col_out, True)


@cuda.jit
def _agreement_kernel(labels, out):
    i, j = cuda.grid(2)
    R, N = labels.shape
    if i >= N or j >= N:
        return
    if i == j:
        out[i, j] = 0.0
        return
    s = 0
    for r in range(R):
        if labels[r, i] == labels[r, j]:
            s += 1
    out[i, j] = s


def agreement(labels, out):
    """Agreement counts of a set of partitions; ``D_ii = 0``.

    Same contract as ``deepcnt.kernels.cpu.communities.agreement``.

    Parameters
    ----------
    labels : array, shape (R, N), int64
    out : array, shape (N, N), float64, overwritten
    """
    R, N = labels.shape
    if N == 0:
        return
    t = 16
    _agreement_kernel[(math.ceil(N / t), math.ceil(N / t)), (t, t)](labels, out)
