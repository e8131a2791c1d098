"""The fused masked sign-channel mat-vecs of a 2-D convolution seen as a bipartite graph.

A convolution from input units ``(c_in, y, x)`` to output units ``(c_out, oy, ox)`` has one edge per
(output position, kernel entry) whose input position falls inside the image (zero padding adds no edge); the
weight of that edge is the kernel entry. Two distinct kernel entries never join the same pair of units, so the
graph is simple. The kernels below compute the same four channels as ``blockpass.block_matvec``
(``A⁺, A⁻, W⁺, W⁻`` with the threshold ``|w| > θ`` applied to kernel entries), or one sum of two of them
(a "fold": what k_nn reads), and never build the edge list; memory O(parameters + units), and O(kh·kw·units)
for the unfolded image of a BLAS product. Degrees and strengths (a vector constant over each channel) take
O(parameters + units) per-offset tables; other vectors take BLAS products (im2col, float32 where exact) on
large blocks and loops over kernel entries × output positions (O(E)) on small ones.

Unit order is C-order of ``(C, H, W)`` (``c·H·W + y·W + x``), the order of ``torch.flatten``.

``geom`` is a tuple of 15 ints
``(C_in, H, W, C_out, H_out, W_out, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups)``.
"""
import numba
import numpy as np
from numba import njit, prange

from .. import config
from ..common import fold_four
from . import conv_classes
from .conv_classes import _f32_chunk, _product, per_channel_constant
from .conv_classes import sign_channels as _sign_channels

#: Below this many edges a convolution block runs on one thread: a parallel launch costs more than the work
#: (and far more on a loaded machine). Candidate for ``kernels/config.py``.
PARALLEL_MIN_EDGES = 1 << 16
#: Above ``PARALLEL_MIN_EDGES``, a general vector goes through the BLAS products for all four sign channels
#: when a group joins at least this many (input, output) channel pairs, and through the loops below it
#: (measured with per-offset products: 64×64 channels at 28×28, loops 47 ms, products 88 ms; 256×64 at 56×56,
#: loops 84 ms, products 53 ms). One folded channel (k_nn's pass) always takes the products; a vector
#: constant over each channel (degrees, strengths) always takes the tables.
GEMM_MIN_CHANNEL_PAIRS = 8192


@njit(cache=config.CACHE, inline="always")
def _valid(off, s, n_in, n_out):
    """Output positions ``o`` in ``[lo, hi)`` with ``0 <= o*s + off < n_in`` (and ``0 <= o < n_out``)."""
    lo = -(off // s)  # ceil(-off / s)
    if lo < 0:
        lo = 0
    hi = (n_in - 1 - off) // s + 1
    if hi > n_out:
        hi = n_out
    if hi < lo:
        hi = lo
    return lo, hi


@njit(cache=config.CACHE, inline="always")
def _sign(w, th):
    """Sign channel and magnitude of a kernel entry: ``(0, w)`` if ``w > θ``, ``(1, −w)`` if ``w < −θ``, else ``−1``."""
    if w > th:
        return 0, w
    if w < -th:
        return 1, -w
    return -1, 0.0


FOLDS = (None, "count", "abs", "count+net")


def conv_matvec(K, geom, theta, x_row, x_col, row_out, col_out, fold=None, add=False):
    """Row and column mat-vecs of the four masked sign channels of a convolution stack.

    .. math::
        \\mathrm{row\\_out}[t,c,i] = \\sum_j B_c[t,i,j]\\, x\\_col[t,j], \\qquad
        \\mathrm{col\\_out}[t,c,j] = \\sum_i B_c[t,i,j]\\, x\\_row[t,i]

    where ``B_c`` is the (never built) unrolled block of the convolution: ``B[i, j] = K[co, ci mod C_in/g,
    ky, kx]`` for input unit ``i = (ci, oy·s_h − p_h + ky·d_h, ox·s_w − p_w + kx·d_w)`` and output unit
    ``j = (co, oy, ox)``, masked by sign and ``|K| > θ_t`` (channels ``A⁺, A⁻, W⁺, W⁻``).

    Three routes, same sums: vectors constant over each channel's positions (the ones of degrees and
    strengths) take per-kernel-offset tables, O(parameters + units), vectors with few position classes
    (k_nn's neighbour degrees) products over one position per class pattern (both in ``conv_classes``); other
    vectors take one BLAS product per direction (:func:`_conv_matvec_gemm`) when the block is large, and the
    loops below when it is small.

    Parameters
    ----------
    K : array, shape (T, C_out, C_in/groups, kh, kw), float32 or float64, C-contiguous
    geom : tuple of 15 int (see the module docstring)
    theta : array, shape (T,), float64
    x_row : array, shape (T, C_in·H·W), float64
    x_col : array, shape (T, C_out·H_out·W_out), float64
    row_out : array, shape (T, 4, C_in·H·W), float64, overwritten; (T, C_in·H·W) with a one-channel ``fold``,
        (T, 2, C_in·H·W) with ``"count+net"``
    col_out : array, shape (T, 4, C_out·H_out·W_out), float64, overwritten; shaped as ``row_out`` with a fold
    fold : {None, "count", "abs", "count+net"}
        ``None``: the four channels. ``"count"``: only their sum ``A⁺ + A⁻``, ``"abs"``: only ``W⁺ + W⁻``
        (what k_nn reads: a quarter of the products); ``"count+net"``: ``A⁺ + A⁻`` and ``W⁺ − W⁻`` (the
        undirected degree and strength).
    add : bool
        Add the sums to ``row_out`` and ``col_out`` instead of overwriting them (the pass's second block into
        or out of a layer: no temporary where the route writes the units itself).
    """
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold!r}")
    T = K.shape[0]
    if T == 0:
        return
    C_in, H, W, C_out, Ho, Wo, kh, kw = geom[:8]
    if all(per_channel_constant(x[t].reshape(c, h, w)) for t in range(T)
           for x, c, h, w in ((x_row, C_in, H, W), (x_col, C_out, Ho, Wo))):
        conv_classes.conv_matvec_tables(K, geom, theta, x_row, x_col, row_out, col_out, fold, add)
        return
    G = geom[14]
    work = T * C_out * (C_in // G) * kh * kw * Ho * Wo  # an upper bound on the edges
    parallel = work >= PARALLEL_MIN_EDGES
    if parallel and conv_classes.conv_matvec_classes(K, geom, theta, x_row, x_col, row_out, col_out, fold, add):
        return
    if add:  # the routes below overwrite their outputs
        rows, cols = np.empty(row_out.shape), np.empty(col_out.shape)
        _conv_matvec_general(K, geom, theta, x_row, x_col, rows, cols, fold, parallel)
        row_out += rows
        col_out += cols
    else:
        _conv_matvec_general(K, geom, theta, x_row, x_col, row_out, col_out, fold, parallel)


def _conv_matvec_general(K, geom, theta, x_row, x_col, row_out, col_out, fold, parallel):
    """``conv_matvec`` for any vectors: the BLAS products when ``parallel`` (a large block) and either a fold
    or enough channel pairs, else the loops over kernel entries × output positions."""
    T = K.shape[0]
    C_in, H, W, C_out, Ho, Wo = geom[:6]
    G = geom[14]
    cout_g = C_out // G
    if parallel and (fold is not None or C_in // G * cout_g >= GEMM_MIN_CHANNEL_PAIRS):
        _conv_matvec_gemm(K, geom, theta, x_row, x_col, row_out, col_out, fold)
        return
    # input units are owned by (epoch, input channel); when there are fewer of those than threads (a first
    # layer on one-channel images), each also splits its output channels into chunks with private sums
    nchunks = max(1, min(cout_g, -(-numba.get_num_threads() // (T * C_in)))) if parallel else 1
    part = np.empty((T * C_in * nchunks, 4, H * W))
    if fold is not None:  # the loops fill the four channels; fold them at the end
        row_out, row_folded = np.empty((T, 4, C_in * H * W)), row_out
        col_out, col_folded = np.empty((T, 4, C_out * Ho * Wo)), col_out
    threads = numba.get_num_threads()
    if not parallel:  # one compiled kernel; a one-thread launch is cheap
        numba.set_num_threads(1)
    try:
        _cols(K, geom, theta, x_row, col_out)
        _rows(K, geom, theta, x_col, part, nchunks)
    finally:
        numba.set_num_threads(threads)
    _sum_chunks(part, nchunks, row_out)
    if fold is not None:
        row_folded[...] = fold_four(row_out, fold)
        col_folded[...] = fold_four(col_out, fold)


def _window(off, s, n_in, n_out):
    """``(output slice, input slice)`` of one kernel offset along one axis: the outputs ``o`` with
    ``0 <= o·s + off < n_in``, and the inputs ``o·s + off`` they read (a strided slice)."""
    lo, hi = _valid.py_func(off, s, n_in, n_out)
    return slice(lo, hi), slice(lo * s + off, (hi - 1) * s + off + 1 if hi > lo else lo * s + off, s)


def _store(out, sums, chans):
    """``out[c] = sums[k]`` for the k-th asked channel ``c``, zero for the channels not asked; a folded
    ``out`` (1-D) takes the one channel, a two-channel fold its two in order."""
    if out.ndim == 1:
        out[:] = sums[0]
        return
    if out.shape[0] < 4:
        out[...] = sums
        return
    done = set()
    for k, (c, _) in enumerate(chans):
        out[c] = sums[k]
        done.add(c)
    for c in range(4):
        if c not in done:
            out[c] = 0.0


def _conv_matvec_gemm(K, geom, theta, x_row, x_col, row_out, col_out, fold):
    """``conv_matvec`` as one BLAS product per direction, batched over groups: the kernel's asked sign
    channels, stacked, as a ``(c·C_out/g × C_in/g·kh·kw)`` matrix ``B``.

    Columns: ``B`` times the image of ``x_row`` unfolded (im2col: the window of every kernel offset, zero
    outside the image, which adds nothing). Rows: ``Bᵀ`` times ``x_col``, then every offset's slice added to
    the input positions it reads (col2im). A 1×1 convolution with stride 1 and no padding needs neither.
    With ``fold="count"`` and an integer vector (k_nn's neighbour degrees) the 0/1 products run in float32
    where every partial sum is an integer below 2^24 (:func:`_product`); everything else in float64.
    Memory: the unfolded image, ``kh·kw`` times the layer's units.
    """
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G = geom
    cin_g, cout_g = C_in // G, C_out // G
    n_k = cin_g * kh * kw
    plain = kh == kw == 1 and sh == sw == 1 and ph == pw == 0
    wins = [(_window(ky * dh - ph, sh, H, Ho), _window(kx * dw - pw, sw, W, Wo))
            for ky in range(kh) for kx in range(kw)]
    for t in range(K.shape[0]):
        chans = _sign_channels(K[t].reshape(G, cout_g, n_k), theta[t], fold)
        n_c = len(chans)
        exact_col = _f32_chunk(x_row[t], n_k) if fold == "count" else None
        exact_row = _f32_chunk(x_col[t], cout_g) if fold == "count" else None
        xr = x_row[t].reshape(G, cin_g, H, W)
        if plain:
            X = xr.reshape(G, cin_g, H * W)
        else:
            X = np.zeros((G, cin_g, kh * kw, Ho, Wo), np.float32 if exact_col else np.float64)
            for q, ((oy, iy), (ox, ix)) in enumerate(wins):
                X[:, :, q, oy, ox] = xr[:, :, iy, ix]
            X = X.reshape(G, n_k, Ho * Wo)
        xc = x_col[t].reshape(G, cout_g, Ho * Wo)
        B = chans[0][1] if n_c == 1 else np.concatenate([m for _, m in chans], axis=1)  # (G, c·cout_g, n_k)
        col = _product(B, X, exact_col).reshape(G, n_c, cout_g, Ho * Wo).transpose(1, 0, 2, 3)
        if n_c == 1:
            Bt = B.transpose(0, 2, 1)  # BLAS reads the transpose in place
        else:
            Bt = np.concatenate([m.transpose(0, 2, 1) for _, m in chans], axis=1)  # (G, c·n_k, cout_g)
        Y = _product(Bt, xc, exact_row).reshape(G, n_c, n_k, Ho * Wo).transpose(1, 0, 2, 3)
        if plain:
            row = Y.reshape(n_c, C_in * H * W)
        else:
            Y = Y.reshape(n_c, G, cin_g, kh * kw, Ho, Wo)
            row = np.zeros((n_c, G, cin_g, H, W))
            for q, ((oy, iy), (ox, ix)) in enumerate(wins):
                row[:, :, :, iy, ix] += Y[:, :, :, q, oy, ox]
            row = row.reshape(n_c, C_in * H * W)
        _store(col_out[t], col.reshape(n_c, C_out * Ho * Wo), chans)
        _store(row_out[t], row, chans)


@njit(parallel=True, cache=config.CACHE)
def _cols(K, geom, theta, x_row, col_out):
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, groups = geom
    T = K.shape[0]
    cin_g = C_in // groups
    cout_g = C_out // groups
    for job in prange(T * C_out):  # every (epoch, output channel) owns its output units: no races
        t = job // C_out
        co = job - t * C_out
        g = co // cout_g
        th = theta[t]
        base_out = co * Ho * Wo
        for c in range(4):
            for j in range(base_out, base_out + Ho * Wo):
                col_out[t, c, j] = 0.0
        for cl in range(cin_g):
            base_in = (g * cin_g + cl) * H * W
            for ky in range(kh):
                offy = ky * dh - ph
                oy0, oy1 = _valid(offy, sh, H, Ho)
                for kx in range(kw):
                    ca, v = _sign(np.float64(K[t, co, cl, ky, kx]), th)
                    if ca < 0:
                        continue
                    offx = kx * dw - pw
                    ox0, ox1 = _valid(offx, sw, W, Wo)
                    for oy in range(oy0, oy1):
                        irow = base_in + (oy * sh + offy) * W + offx
                        jrow = base_out + oy * Wo
                        for ox in range(ox0, ox1):
                            xv = x_row[t, irow + ox * sw]
                            col_out[t, ca, jrow + ox] += xv
                            col_out[t, ca + 2, jrow + ox] += v * xv


@njit(parallel=True, cache=config.CACHE)
def _rows(K, geom, theta, x_col, part, nchunks):
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, groups = geom
    T = K.shape[0]
    cin_g = C_in // groups
    cout_g = C_out // groups
    for job in prange(T * C_in * nchunks):  # (epoch, input channel, chunk) owns part[job]: no races
        tc = job // nchunks
        chunk = job - tc * nchunks
        t = tc // C_in
        ci = tc - t * C_in
        g = ci // cin_g
        cl = ci - g * cin_g
        th = theta[t]
        row_out = part[job]
        row_out[:, :] = 0.0
        c0 = g * cout_g + (chunk * cout_g) // nchunks
        c1 = g * cout_g + ((chunk + 1) * cout_g) // nchunks
        for co in range(c0, c1):
            base_out = co * Ho * Wo
            for ky in range(kh):
                offy = ky * dh - ph
                oy0, oy1 = _valid(offy, sh, H, Ho)
                for kx in range(kw):
                    ca, v = _sign(np.float64(K[t, co, cl, ky, kx]), th)
                    if ca < 0:
                        continue
                    offx = kx * dw - pw
                    ox0, ox1 = _valid(offx, sw, W, Wo)
                    for oy in range(oy0, oy1):
                        irow = (oy * sh + offy) * W + offx
                        jrow = base_out + oy * Wo
                        for ox in range(ox0, ox1):
                            xv = x_col[t, jrow + ox]
                            i = irow + ox * sw
                            row_out[ca, i] += xv
                            row_out[ca + 2, i] += v * xv


@njit(cache=config.CACHE)
def _sum_chunks(part, nchunks, row_out):
    T = row_out.shape[0]
    n = part.shape[2]
    C_in = part.shape[0] // (T * nchunks)
    for tcc in range(T * C_in * 4):  # O(units × chunks): serial is cheaper than a thread launch
        tc = tcc // 4
        c = tcc - 4 * tc
        t = tc // C_in
        ci = tc - t * C_in
        for i in range(n):
            s = 0.0
            for k in range(nchunks):
                s += part[tc * nchunks + k, c, i]
            row_out[t, c, ci * n + i] = s
