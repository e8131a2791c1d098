"""GPU twin of ``kernels.cpu.louvain``: Louvain stays on the CPU (issue 4 allows it).

Louvain's local moving is a sequential chain of dependent moves; a GPU version (parallel moves with conflict
resolution) would not reproduce BCT's move rule. This twin keeps the interface: it copies device arrays to
the host, runs the CPU kernel and copies the outputs back. (The level-0 graph builders,
``kernels.cpu.louvain_graph``, are CPU-only.)
"""
import numpy as np

from ..cpu import louvain as _cpu


def _host(a):
    """Device arrays to host, recursively through tuples; host arrays as they are."""
    if isinstance(a, tuple):
        return tuple(_host(x) for x in a)
    if hasattr(a, "get"):
        return np.ascontiguousarray(a.get())
    return np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a


def louvain_runs(graph, X, Y, b, init, states, labels_out, q_out):
    """Independent Louvain runs; same contract as ``deepcnt.kernels.cpu.louvain.louvain_runs``.

    Parameters
    ----------
    graph : tuple
        ``(indptr, indices, data)`` or ``(down, up, boff, off, layer, th, coef)`` (``kernels.cpu.louvain_graph``).
    X, Y : arrays, shape (R, n), float64
    b : array, shape (R,), float64
    init : array, shape (runs, n), int64
    states : array, shape (runs,), uint64
    labels_out : array, shape (runs, n), int64, overwritten
    q_out : array, shape (runs,), float64, overwritten
    """
    lab = np.empty(tuple(labels_out.shape), np.int64)
    q = np.empty(tuple(q_out.shape))
    _cpu.louvain_runs(*_host((graph, X, Y, b, init, states)), lab, q)
    for out, a in ((labels_out, lab), (q_out, q)):
        if hasattr(out, "get"):
            import cupy

            out[...] = cupy.asarray(a)
        else:
            out[...] = a
