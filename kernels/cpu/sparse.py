"""The fused masked sign-channel mat-vecs of a CSR block stack (a pruned or thresholded block held sparse).

Epoch ``t``'s rows are ``indptr[t]``: absolute offsets into one ``indices``/``data`` pair shared by all
epochs, so an epoch stack is three arrays and each epoch may keep a different set of entries. The channels
are those of ``blockpass.block_matvec`` (``A⁺, A⁻, W⁺, W⁻`` with ``|w| > θ_t``), or the one or two sums a
``fold`` asks for (``kernels.common.FOLD_TERMS``): O(stored entries) work and O(units) extra memory (one
column accumulator per chunk of rows).

Each stored entry is read once and its channel values are formed without a branch (a weight's sign is a coin
flip in a trained network: the branchy split mispredicted on half the entries and ran 2.4× slower); a chunk's
column accumulator holds a column's channels side by side (``(n_t, C)``), so the scatter of an entry touches
one cache line, not ``C``. A fold writes only its channels: the undirected degree and strength scatter two
sums per entry instead of four, and k_nn's count one.
"""
import numba
import numpy as np
from numba import njit, prange

from .. import config

#: Channels of each fold (``None``: the four sign channels), and the code the compiled loops branch on.
_CHANNELS = {None: 4, "count": 1, "abs": 1, "count+net": 2}
_CODE = {None: 0, "count": 1, "abs": 2, "count+net": 3}
_PATTERN = 4  # the count of every stored entry: no weight read


def csr_matvec(indptr, indices, data, theta, x_row, x_col, row_out, col_out, fold=None, add=False):
    """Row and column mat-vecs of the four masked sign channels of a CSR block stack (or of a ``fold``).

    .. math::
        \\mathrm{row\\_out}[t,c,i] = \\sum_j B_c[t,i,j]\\, x\\_col[t,j], \\qquad
        \\mathrm{col\\_out}[t,c,j] = \\sum_i B_c[t,i,j]\\, x\\_row[t,i]

    Parameters
    ----------
    indptr : array, shape (T, n_s + 1), int64: row ``i`` of epoch ``t`` is ``indptr[t, i]:indptr[t, i+1]``
    indices : array, shape (nnz,), int32 or int64, the column of each stored entry
    data : array, shape (nnz,), float32 or float64; or ``None`` with ``fold="count"`` when every stored entry
        is kept (``|w| > θ``, a pruned block at θ = 0): the pattern alone, ``indices`` the only array read
    theta : array, shape (T,), float64
    x_row : array, shape (T, n_s), float64
    x_col : array, shape (T, n_t), float64
    row_out : array, shape (T, 4, n_s), float64; (T, n_s) with a one-channel ``fold``, (T, 2, n_s) with
        ``"count+net"``
    col_out : array, shape (T, 4, n_t), float64; (T, n_t) or (T, 2, n_t) likewise
    fold : {None, "count", "abs", "count+net"}
        Only ``A⁺ + A⁻``, only ``|W| = W⁺ + W⁻``, or ``A⁺ + A⁻`` and ``W⁺ − W⁻`` (``kernels.common.FOLD_TERMS``).
    add : bool
        Add to the outputs instead of overwriting them.
    """
    T = indptr.shape[0]
    ns = indptr.shape[1] - 1
    nnz = int(indptr[-1, -1] - indptr[0, 0]) if T else 0
    # rows are split into chunks, each with its own column accumulators: enough jobs for every thread (one
    # chunk for a small pass: a parallel region costs more than the whole of it)
    nchunks = 1 if nnz < config.PARALLEL_MIN_ELEMENTS else max(1, min(ns, -(-numba.get_num_threads() // T)))
    _matvec(indptr, indices, data, theta, x_row, x_col, row_out, col_out, fold, add, nchunks)


def _matvec(indptr, indices, data, theta, x_row, x_col, row_out, col_out, fold, add, nchunks):
    """:func:`csr_matvec` with the rows of every epoch in ``nchunks`` chunks (1: serial)."""
    if fold not in _CODE:
        raise ValueError(f"fold must be one of {tuple(_CODE)}, got {fold!r}")
    code = _CODE[fold]
    if data is None:
        if fold != "count":
            raise ValueError(f"data=None (the stored pattern) gives only fold='count', not {fold!r}")
        code, data = _PATTERN, np.empty(0)  # never read
    if _CHANNELS[fold] == 1:  # one channel: the same loops, through a channel axis of length 1
        row_out, col_out = row_out[:, None], col_out[:, None]
    if not add:
        row_out[...] = 0.0
        col_out[...] = 0.0
    T = indptr.shape[0]
    if T == 0 or indptr.shape[1] == 1:
        return
    part = np.zeros((T * nchunks, col_out.shape[2], _CHANNELS[fold]))
    run = _csr_serial if nchunks == 1 else _csr_parallel
    run(indptr, indices, data, theta, x_row, x_col, row_out, part, nchunks, code)
    _add_chunks(part, nchunks, col_out)


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _chunk(indptr, indices, data, theta, x_row, x_col, row_out, part, t, r0, r1, code):
    """Rows ``r0..r1`` of epoch ``t``: row sums added to ``row_out``, column sums to ``part`` (n_t, C)."""
    if code == 0:
        _rows_four(indptr, indices, data, theta[t], x_row[t], x_col[t], row_out[t], part, t, r0, r1)
    elif code == _PATTERN:
        _rows_pattern(indptr, indices, x_row[t], x_col[t], row_out[t], part, t, r0, r1)
    elif code == 3:
        _rows_count_net(indptr, indices, data, theta[t], x_row[t], x_col[t], row_out[t], part, t, r0, r1)
    else:
        _rows_one(indptr, indices, data, theta[t], x_row[t], x_col[t], row_out[t], part, t, r0, r1, code == 2)


# unsigned positions in the loops below: Numba then emits no negative-index wraparound (10% of their time)
@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _rows_four(indptr, indices, data, th, xr, xc, row_out, part, t, r0, r1):
    """The four sign channels ``(A⁺, A⁻, W⁺, W⁻)``."""
    for i in range(r0, r1):
        xi = xr[i]
        rp = rm = rwp = rwm = 0.0
        for e in range(np.uint64(indptr[t, i]), np.uint64(indptr[t, i + 1])):
            j = np.uint64(indices[e])
            w = np.float64(data[e])
            ap = 1.0 if w > th else 0.0  # selects, not branches
            am = 1.0 if w < -th else 0.0
            wp = w * ap
            wm = -w * am
            xj = xc[j]
            rp += ap * xj
            rm += am * xj
            rwp += wp * xj
            rwm += wm * xj
            part[j, 0] += ap * xi
            part[j, 1] += am * xi
            part[j, 2] += wp * xi
            part[j, 3] += wm * xi
        row_out[0, i] += rp
        row_out[1, i] += rm
        row_out[2, i] += rwp
        row_out[3, i] += rwm


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _rows_count_net(indptr, indices, data, th, xr, xc, row_out, part, t, r0, r1):
    """The kept edges ``A⁺ + A⁻`` and their net weight ``W⁺ − W⁻``."""
    for i in range(r0, r1):
        xi = xr[i]
        ra = rw = 0.0
        for e in range(np.uint64(indptr[t, i]), np.uint64(indptr[t, i + 1])):
            j = np.uint64(indices[e])
            w = np.float64(data[e])
            a = 1.0 if abs(w) > th else 0.0
            wa = w * a
            xj = xc[j]
            ra += a * xj
            rw += wa * xj
            part[j, 0] += a * xi
            part[j, 1] += wa * xi
        row_out[0, i] += ra
        row_out[1, i] += rw


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _rows_one(indptr, indices, data, th, xr, xc, row_out, part, t, r0, r1, weighted):
    """One channel: the kept edges ``A⁺ + A⁻``, or their magnitudes ``W⁺ + W⁻`` (``weighted``)."""
    for i in range(r0, r1):
        xi = xr[i]
        r = 0.0
        for e in range(np.uint64(indptr[t, i]), np.uint64(indptr[t, i + 1])):
            j = np.uint64(indices[e])
            m = abs(np.float64(data[e]))
            b = (m if weighted else 1.0) if m > th else 0.0
            r += b * xc[j]
            part[j, 0] += b * xi
        row_out[0, i] += r


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _rows_pattern(indptr, indices, xr, xc, row_out, part, t, r0, r1):
    """Every stored entry, as an edge of weight 1: gathers and scatters of ``x`` along ``indices`` alone."""
    for i in range(r0, r1):
        xi = xr[i]
        r = 0.0
        for e in range(np.uint64(indptr[t, i]), np.uint64(indptr[t, i + 1])):
            j = np.uint64(indices[e])
            r += xc[j]
            part[j, 0] += xi
        row_out[0, i] += r


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _csr_serial(indptr, indices, data, theta, x_row, x_col, row_out, part, nchunks, code):
    for t in range(indptr.shape[0]):
        _chunk(indptr, indices, data, theta, x_row, x_col, row_out, part[t], t, 0, indptr.shape[1] - 1, code)


@njit(parallel=True, cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _csr_parallel(indptr, indices, data, theta, x_row, x_col, row_out, part, nchunks, code):
    ns = indptr.shape[1] - 1
    for job in prange(part.shape[0]):
        t = job // nchunks
        c = job - t * nchunks
        _chunk(indptr, indices, data, theta, x_row, x_col, row_out, part[job], t, (c * ns) // nchunks,
               ((c + 1) * ns) // nchunks, code)


@njit(cache=config.CACHE, fastmath=config.FASTMATH, nogil=True)
def _add_chunks(part, nchunks, col_out):
    """``col_out[t, c, j] += Σ_k part[t·nchunks + k, j, c]``: the column sums of the row chunks, in chunk order."""
    T, C, nt = col_out.shape
    for t in range(T):
        for c in range(C):
            for j in range(nt):
                s = 0.0
                for k in range(nchunks):
                    s += part[t * nchunks + k, j, c]
                col_out[t, c, j] += s
