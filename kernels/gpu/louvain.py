"""GPU twin of ``kernels.cpu.louvain``: Louvain stays on the CPU (issue 4 allows it).

Louvain's local moving is a sequential chain of dependent moves; a GPU version (parallel moves with conflict
resolution) would not reproduce BCT's move rule. This twin keeps the interface: it copies device arrays to
the host, runs the CPU kernel and copies the outputs back.
"""
import numpy as np

from ..cpu import louvain as _cpu


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def louvain_runs(indptr, indices, data, X, Y, b, init, states, labels_out, q_out):
    """Independent Louvain runs; same contract as ``deepcnt.kernels.cpu.louvain.louvain_runs``.

    Parameters
    ----------
    indptr, indices : arrays, shape (n+1,), (nnz,), int64 and int32
    data : array, shape (nnz,), float64
    X, Y : arrays, shape (R, n), float64
    b : array, shape (R,), float64
    init : array, shape (runs, n), int64
    states : array, shape (runs,), uint64
    labels_out : array, shape (runs, n), int64, overwritten
    q_out : array, shape (runs,), float64, overwritten
    """
    args = [np.ascontiguousarray(_host(a)) for a in (indptr, indices, data, X, Y, b, init, states)]
    lab = np.empty(tuple(labels_out.shape), np.int64)
    q = np.empty(tuple(q_out.shape))
    _cpu.louvain_runs(*args, lab, q)
    labels_out[...] = lab if not hasattr(labels_out, "get") else _to_device(lab, labels_out)
    q_out[...] = q if not hasattr(q_out, "get") else _to_device(q, q_out)


def _to_device(a, like):
    import cupy

    return cupy.asarray(a)


def block_edge_counts(W, th, c0, c1, code, row_cnt, col_cnt):
    """Same contract as ``deepcnt.kernels.cpu.louvain.block_edge_counts`` (run on the host).

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th, c0, c1 : float
    code : int
    row_cnt : array, shape (n_s,), int64, incremented
    col_cnt : array, shape (n_t,), int64, incremented
    """
    rc, cc = _host(row_cnt).copy(), _host(col_cnt).copy()
    _cpu.block_edge_counts(np.ascontiguousarray(_host(W)), th, c0, c1, code, rc, cc)
    row_cnt[...] = rc if not hasattr(row_cnt, "get") else _to_device(rc, row_cnt)
    col_cnt[...] = cc if not hasattr(col_cnt, "get") else _to_device(cc, col_cnt)


def block_csr_fill(W, th, c0, c1, code, o_src, o_dst, pos, indices, data):
    """Same contract as ``deepcnt.kernels.cpu.louvain.block_csr_fill`` (run on the host).

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th, c0, c1 : float
    code : int
    o_src, o_dst : int
    pos : array, shape (N,), int64
    indices : array, shape (nnz,), int64
    data : array, shape (nnz,), float64
    """
    arrs = [_host(a).copy() for a in (pos, indices, data)]
    _cpu.block_csr_fill(np.ascontiguousarray(_host(W)), th, c0, c1, code, o_src, o_dst, *arrs)
    for out, a in zip((pos, indices, data), arrs):
        out[...] = a if not hasattr(out, "get") else _to_device(a, out)


def block_channel_sums(W, th, binary, rows, cols):
    """Same contract as ``deepcnt.kernels.cpu.louvain.block_channel_sums`` (run on the host).

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th : float
    binary : bool
    rows : array, shape (4, n_s), float64, incremented
    cols : array, shape (4, n_t), float64, incremented
    """
    r, c = _host(rows).copy(), _host(cols).copy()
    _cpu.block_channel_sums(np.ascontiguousarray(_host(W)), th, binary, r, c)
    rows[...] = r if not hasattr(rows, "get") else _to_device(r, rows)
    cols[...] = c if not hasattr(cols, "get") else _to_device(c, cols)


def block_csr_fill_dense(W, th, c0, c1, code, o_src, o_dst, pos, indices, data):
    """Same contract as ``deepcnt.kernels.cpu.louvain.block_csr_fill_dense`` (run on the host).

    Parameters
    ----------
    W : array, shape (n_s, n_t)
    th, c0, c1 : float
    code : int
    o_src, o_dst : int
    pos : array, shape (N,), int64
    indices : array, shape (nnz,), int32
    data : array, shape (nnz,), float64
    """
    arrs = [_host(a).copy() for a in (pos, indices, data)]
    _cpu.block_csr_fill_dense(np.ascontiguousarray(_host(W)), th, c0, c1, code, o_src, o_dst, *arrs)
    for out, a in zip((pos, indices, data), arrs):
        out[...] = a if not hasattr(out, "get") else _to_device(a, out)
