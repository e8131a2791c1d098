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
import functools

import numba
import numpy as np
from numba import njit, prange

from .. import config

#: Below this many edges a convolution block runs on one thread: a parallel launch costs more than the work
#: (and far more on a loaded machine). Candidate for ``kernels/config.py``.
PARALLEL_MIN_EDGES = 1 << 16
#: Above ``PARALLEL_MIN_EDGES``, a general vector goes through the BLAS products for all four sign channels
#: when a group joins at least this many (input, output) channel pairs, and through the loops below it
#: (measured with per-offset products: 64×64 channels at 28×28, loops 47 ms, products 88 ms; 256×64 at 56×56,
#: loops 84 ms, products 53 ms). One folded channel (k_nn's pass) always takes the products; a vector
#: constant over each channel (degrees, strengths) always takes the tables.
GEMM_MIN_CHANNEL_PAIRS = 8192
#: A vector with few position classes (k_nn's neighbour degrees) takes the class products when they touch at
#: most ``1 / CLASSES_MIN_SAVING`` of the positions the im2col products would (float64 against float32: 2).
CLASSES_MIN_SAVING = 2


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


FOLDS = (None, "count", "abs")
#: The first of the two sign channels a fold adds: ``A⁺ + A⁻`` (0, 1) or ``W⁺ + W⁻`` (2, 3).
_FOLD_CHANNEL = {"count": 0, "abs": 2}


def conv_matvec(K, geom, theta, x_row, x_col, row_out, col_out, fold=None):
    """Row and column mat-vecs of the four masked sign channels of a convolution stack.

    .. math::
        \\mathrm{row\\_out}[t,c,i] = \\sum_j B_c[t,i,j]\\, x\\_col[t,j], \\qquad
        \\mathrm{col\\_out}[t,c,j] = \\sum_i B_c[t,i,j]\\, x\\_row[t,i]

    where ``B_c`` is the (never built) unrolled block of the convolution: ``B[i, j] = K[co, ci mod C_in/g,
    ky, kx]`` for input unit ``i = (ci, oy·s_h − p_h + ky·d_h, ox·s_w − p_w + kx·d_w)`` and output unit
    ``j = (co, oy, ox)``, masked by sign and ``|K| > θ_t`` (channels ``A⁺, A⁻, W⁺, W⁻``).

    Three routes, same sums: vectors constant over each channel's positions (the ones of degrees and
    strengths) take per-kernel-offset tables, O(parameters + units) (:func:`_conv_matvec_tables`); other
    vectors take one BLAS product per direction (:func:`_conv_matvec_gemm`) when the block is large, and the
    loops below when it is small.

    Parameters
    ----------
    K : array, shape (T, C_out, C_in/groups, kh, kw), float32 or float64, C-contiguous
    geom : tuple of 15 int (see the module docstring)
    theta : array, shape (T,), float64
    x_row : array, shape (T, C_in·H·W), float64
    x_col : array, shape (T, C_out·H_out·W_out), float64
    row_out : array, shape (T, 4, C_in·H·W), float64, overwritten; (T, C_in·H·W) with a ``fold``
    col_out : array, shape (T, 4, C_out·H_out·W_out), float64, overwritten; (T, C_out·H_out·W_out) with a
        ``fold``
    fold : {None, "count", "abs"}
        ``None``: the four channels. ``"count"``: only their sum ``A⁺ + A⁻``, ``"abs"``: only ``W⁺ + W⁻``
        (what k_nn reads: a quarter of the products).
    """
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold!r}")
    T = K.shape[0]
    if T == 0:
        return
    if _per_channel_constant_all(x_row, x_col, geom):
        _conv_matvec_tables(K, geom, theta, x_row, x_col, row_out, col_out, fold)
        return
    C_in, H, W, C_out, Ho, Wo, kh, kw = geom[:8]
    G = geom[14]
    cout_g = C_out // G
    work = T * C_out * (C_in // G) * kh * kw * Ho * Wo  # an upper bound on the edges
    parallel = work >= PARALLEL_MIN_EDGES
    if parallel and _conv_matvec_classes(K, geom, theta, x_row, x_col, row_out, col_out, fold):
        return
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
        c = _FOLD_CHANNEL[fold]
        np.add(row_out[:, c], row_out[:, c + 1], out=row_folded)
        np.add(col_out[:, c], col_out[:, c + 1], out=col_folded)


def _window(off, s, n_in, n_out):
    """``(output slice, input slice)`` of one kernel offset along one axis: the outputs ``o`` with
    ``0 <= o·s + off < n_in``, and the inputs ``o·s + off`` they read (a strided slice)."""
    lo, hi = _valid.py_func(off, s, n_in, n_out)
    return slice(lo, hi), slice(lo * s + off, (hi - 1) * s + off + 1 if hi > lo else lo * s + off, s)


def _per_channel_constant(x):
    """``x[..., 0, 0]`` (shape (G, channels)) when ``x`` (G, channels, h, w) is constant over each channel's
    positions, else ``None``."""
    a = x[:, :, 0, 0]
    return a if (x == a[:, :, None, None]).all() else None


def _per_channel_constant_all(x_row, x_col, geom):
    """True when both vectors are constant over each channel's positions at every epoch (degrees, strengths)."""
    C_in, H, W, C_out, Ho, Wo = geom[:6]
    return all(_per_channel_constant(x.reshape(x.shape[0], c, h, w)) is not None
               for x, c, h, w in ((x_row, C_in, H, W), (x_col, C_out, Ho, Wo)))


def _sign_channels(k, th, fold):
    """``[(channel, matrix)]``: the masked sign channels (float64) of kernel entries ``k`` that ``fold``
    asks for: ``A⁺, A⁻, W⁺, W⁻`` (channels 0–3), ``A⁺ + A⁻`` (0) or ``W⁺ + W⁻`` (2)."""
    th = np.float64(th)  # a float32 kernel compares to θ in float64, as the loops do
    if fold == "count":
        return [(0, (np.abs(k) > th).astype(np.float64))]
    k = k.astype(np.float64)
    if fold == "abs":
        a = np.abs(k)
        return [(2, a * (a > th))]
    pos, neg = k > th, k < -th
    return [(0, pos.astype(np.float64)), (1, neg.astype(np.float64)), (2, k * pos), (3, -k * neg)]


def _offset_masks(off0, step, s, n_in, n_out, k, transposed):
    """Which kernel offsets along one axis touch each position: ``(classes, index)`` with ``classes`` the
    distinct rows of the 0/1 matrix ``M[position, offset]`` and ``index`` the class of every position.

    Output position ``o`` reads offset ``q`` when its input ``o·s + off0 + q·step`` is inside ``[0, n_in)``;
    input position ``i`` (``transposed``) is read through offset ``q`` when ``i − off0 − q·step`` is a
    multiple of ``s`` whose quotient is an output position.
    """
    q = np.arange(k)[None, :]
    if transposed:
        d = np.arange(n_in)[:, None] - off0 - q * step
        M = (d >= 0) & (d % s == 0) & (d // s < n_out)
    else:
        i = np.arange(n_out)[:, None] * s + off0 + q * step
        M = (i >= 0) & (i < n_in)
    classes, index = np.unique(M, axis=0, return_inverse=True)
    return classes.astype(np.float64), index.ravel()


def _conv_matvec_tables(K, geom, theta, x_row, x_col, row_out, col_out, fold):
    """``conv_matvec`` for vectors constant over each channel's positions, in O(parameters + units).

    With ``x_row[ci, ·] = a[ci]``, the column sum of output ``(co, oy, ox)`` is ``Σ_{ky,kx} T[co, ky, kx]``
    over the offsets whose input lies inside the image, ``T[co, ky, kx] = Σ_ci B[co, ci, ky, kx] a[ci]``;
    along each axis the offsets that do form one of a few patterns (all of them inside, fewer at the borders),
    so the sums are computed once per (channel, row pattern, column pattern) and gathered to the positions.
    The row sums of input ``(ci, y, x)`` are the same with the transposed table and the offsets through
    which some output reads ``(y, x)`` (with a stride, not an interval).
    """
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G = geom
    cin_g, cout_g = C_in // G, C_out // G
    cls_oy, idx_oy = _offset_masks(-ph, dh, sh, H, Ho, kh, False)
    cls_ox, idx_ox = _offset_masks(-pw, dw, sw, W, Wo, kw, False)
    cls_iy, idx_iy = _offset_masks(-ph, dh, sh, H, Ho, kh, True)
    cls_ix, idx_ix = _offset_masks(-pw, dw, sw, W, Wo, kw, True)
    n_c = 4 if fold is None else 1
    for t in range(K.shape[0]):
        a_in = np.ascontiguousarray(x_row[t].reshape(G, cin_g, H * W)[:, :, 0])
        a_out = np.ascontiguousarray(x_col[t].reshape(G, cout_g, Ho * Wo)[:, :, 0])
        t_in = np.empty((n_c, G, cout_g, kh, kw))
        t_out = np.empty((n_c, G, cin_g, kh, kw))
        k = K[t].reshape(G, cout_g, cin_g, kh * kw)
        th = np.float64(theta[t])
        _table(k, th, a_in, _FOLD_CODE[fold], t_in.reshape(n_c, G, cout_g, kh * kw))
        _table(np.ascontiguousarray(k.transpose(0, 2, 1, 3)), th, a_out, _FOLD_CODE[fold],
               t_out.reshape(n_c, G, cin_g, kh * kw))
        s_in = np.einsum("cgoyx,ay,bx->cgoab", t_in, cls_oy, cls_ox)  # (c, G, cout_g, row pattern, col pattern)
        s_out = np.einsum("cgiyx,ay,bx->cgiab", t_out, cls_iy, cls_ix)
        # gather every position's pattern straight into the outputs (the channels come in order 0..3)
        np.take(s_in.reshape(n_c, C_out, -1), (idx_oy[:, None] * cls_ox.shape[0] + idx_ox).ravel(),
                axis=2, out=_view(col_out[t], (n_c, C_out, Ho * Wo)), mode="clip")
        np.take(s_out.reshape(n_c, C_in, -1), (idx_iy[:, None] * cls_ix.shape[0] + idx_ix).ravel(),
                axis=2, out=_view(row_out[t], (n_c, C_in, H * W)), mode="clip")


#: ``fold`` as the code the compiled kernels take.
_FOLD_CODE = {None: 0, "count": 1, "abs": 2}


@njit(cache=config.CACHE)
def _table(K, th, a, fold_code, out):
    """Per-(channel, offset) table of one epoch's kernel ``K`` (G, m, n, q) against a per-channel vector
    ``a`` (G, n): ``out[c, g, o, q] = Σ_i B_c(K[g, o, i, q]) a[g, i]`` for the four sign channels
    (``fold_code`` 0) or the one folded channel (1: ``A⁺ + A⁻``, 2: ``W⁺ + W⁻``); ``out`` is overwritten.
    One thread: about 1 ns per entry, a ResNet-50's 25M in 50 ms, less than waking a thread pool costs
    on a loaded machine."""
    G, m, n, nq = K.shape
    for job in range(G * m):
        g = job // m
        o = job - g * m
        acc = np.zeros((4, nq))
        for i in range(n):
            x = a[g, i]
            for q in range(nq):  # branch-free: the signs of trained weights are a coin toss
                w = np.float64(K[g, o, i, q])
                if fold_code == 0:
                    p = np.float64(w > th) * x
                    ng = np.float64(w < -th) * x
                    acc[0, q] += p
                    acc[1, q] += ng
                    acc[2, q] += w * p
                    acc[3, q] -= w * ng
                else:
                    kept = np.float64(abs(w) > th) * x
                    acc[0, q] += kept if fold_code == 1 else abs(w) * kept
        for c in range(out.shape[0]):
            for q in range(nq):
                out[c, g, o, q] = acc[c, q]


def _view(a, shape):
    """``a`` reshaped without a copy (a strided output slice may not be copied: the writes would be lost)."""
    v = a.view()
    v.shape = shape  # raises where a copy would be needed
    return v


def _store(out, sums, chans):
    """``out[c] = sums[k]`` for the k-th asked channel ``c``, zero for the channels not asked; a folded
    ``out`` (1-D) takes the one channel."""
    if out.ndim == 1:
        out[:] = sums[0]
        return
    done = set()
    for k, (c, _) in enumerate(chans):
        out[c] = sums[k]
        done.add(c)
    for c in range(4):
        if c not in done:
            out[c] = 0.0


#: Integers below this are exact in float32, and so is every partial sum of a product that stays below it.
_F32_EXACT = float(1 << 24)


def _f32_chunk(x, inner):
    """How many terms of a product of a 0/1 matrix with ``x`` (``inner`` terms per sum) float32 sums exactly:
    ``None`` when ``x`` is not integer-valued or the product would take more than 4 pieces (float64 then)."""
    if x.size == 0:
        return None
    top = float(np.abs(x).max())
    if top >= _F32_EXACT or not np.array_equal(x, np.rint(x)):
        return None
    chunk = inner if top == 0 else int(_F32_EXACT // top) - 1
    if chunk < 1 or -(-inner // chunk) > 4:
        return None
    return min(chunk, inner)


def _product(A, X, exact_chunk=None):
    """``A @ X`` batched over groups (A: (G, m, n), X: (G, n, p)); with an ``exact_chunk`` (A a 0/1 matrix,
    X integer-valued, see :func:`_f32_chunk`) summed in float32 over pieces of ``exact_chunk`` terms, each
    exact, and the pieces added in float64: the same integers at the speed of single precision. Returns
    float64, or float32 from a product of one piece (exact integers)."""
    if not exact_chunk:
        return np.matmul(A, X)
    A, X = A.astype(np.float32, copy=False), X.astype(np.float32, copy=False)
    n = A.shape[2]
    if exact_chunk >= n:
        return np.matmul(A, X)
    out = np.zeros((A.shape[0], A.shape[1], X.shape[2]))
    for lo in range(0, n, exact_chunk):
        out += np.matmul(A[:, :, lo:lo + exact_chunk], X[:, lo:lo + exact_chunk])
    return out


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


@functools.lru_cache(maxsize=256)
def _probe(shape):
    """Fixed pseudo-random weights of ``shape``: the keys that tell rows (columns) of an image apart."""
    return np.random.default_rng(0).random(shape)


def _position_classes(x):
    """Rows and columns of the images ``x`` (C, H, W) that hold the same values in every channel.

    Returns ``(iy, ix, a)`` with ``x[c, y, w] == a[c, iy[y], ix[w]]`` exactly (``a``: shape (C, ny, nx), the
    values of one representative row and column of each class), or ``None`` when the classes are not few
    (``ny·nx > H·W / (2·CLASSES_MIN_SAVING)``). Degree vectors have a handful: a unit's degree depends on its channel and on which
    kernel offsets reach it (the border rows and columns, the parity under a stride).
    """
    C, H, W = x.shape
    picked = []
    for spec, other in (("chw,cw->h", (C, W)), ("chw,ch->w", (C, H))):
        # rows with different keys differ; rows with one key are checked below (the keys only group them)
        _, first, inv = np.unique(np.einsum(spec, x, _probe(other)), return_index=True, return_inverse=True)
        picked.append((first, inv.ravel()))
    (fy, iy), (fx, ix) = picked
    if 2 * CLASSES_MIN_SAVING * fy.size * fx.size > H * W:
        return None
    a = x[:, fy][:, :, fx]
    if not np.array_equal(a[:, iy][:, :, ix], x):
        return None
    return iy, ix, a


def _read_patterns(cls, off0, step, s, n_in, n_out, k, none, transposed):
    """Which class every position reads through each kernel offset along one axis: ``(patterns, index)``,
    ``patterns`` (n_patterns, k) the distinct rows of the code matrix and ``index`` the pattern of every
    position; code ``none`` where the offset reads nothing (outside the image, or not on the stride).

    Output position ``o`` reads input ``o·s + off0 + q·step`` (``cls`` over input positions); input position
    ``i`` (``transposed``) is read by output ``(i − off0 − q·step) / s`` (``cls`` over output positions).
    """
    q = np.arange(k)[None, :]
    if transposed:
        d = np.arange(n_in)[:, None] - off0 - q * step
        ok = (d >= 0) & (d % s == 0) & (d // s < n_out)
        codes = np.where(ok, cls[np.clip(d // s, 0, n_out - 1)], none)
    else:
        i = np.arange(n_out)[:, None] * s + off0 + q * step
        ok = (i >= 0) & (i < n_in)
        codes = np.where(ok, cls[np.clip(i, 0, n_in - 1)], none)
    patterns, index = np.unique(codes, axis=0, return_inverse=True)
    return patterns, index.ravel()


def _conv_matvec_classes(K, geom, theta, x_row, x_col, row_out, col_out, fold):
    """``conv_matvec`` for vectors with few position classes (:func:`_position_classes`: k_nn's neighbour
    degrees), in O(parameters × classes + units); returns False (nothing written) for other vectors.

    The generalisation of the per-offset tables: an output position's column sum depends only on its
    channel and on the classes of the inputs its kernel offsets read (a row pattern and a column pattern),
    so one product of the kernel's sign channels with the unfolded image of one position per pattern pair
    (instead of every position: im2col) gives every sum, gathered to the positions. The row sums: the
    transposed kernel times one vector per output class, then per input pattern pair the sum over the
    offsets of the value of the class each reads. Same products as :func:`_conv_matvec_gemm`, in float64
    (0/1 channels times integers: exact).
    """
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G = geom
    cin_g, cout_g = C_in // G, C_out // G
    n_k = cin_g * kh * kw
    plans = []
    for t in range(K.shape[0]):
        cin, cout = (_position_classes(x[t].reshape(*shape)) for x, shape in
                     ((x_row, (C_in, H, W)), (x_col, (C_out, Ho, Wo))))
        if cin is None or cout is None:
            return False
        (iy, ix, a), (jy, jx, b) = cin, cout
        col_pat = (_read_patterns(iy, -ph, dh, sh, H, Ho, kh, a.shape[1], False),
                   _read_patterns(ix, -pw, dw, sw, W, Wo, kw, a.shape[2], False))
        row_pat = (_read_patterns(jy, -ph, dh, sh, H, Ho, kh, b.shape[1], True),
                   _read_patterns(jx, -pw, dw, sw, W, Wo, kw, b.shape[2], True))
        n_col = col_pat[0][0].shape[0] * col_pat[1][0].shape[0]
        n_row = row_pat[0][0].shape[0] * row_pat[1][0].shape[0]
        n_b = (b.shape[1] + 1) * (b.shape[2] + 1)
        if CLASSES_MIN_SAVING * (n_col + n_b + n_row) > Ho * Wo:  # not enough cheaper than the products over every position
            return False
        plans.append((a, b, col_pat, row_pat))
    for t, (a, b, ((py, oy), (px, ox)), ((qy, iy), (qx, ix))) in enumerate(plans):
        chans = _sign_channels(K[t].reshape(G, cout_g, n_k), theta[t], fold)
        n_c = len(chans)
        B = chans[0][1] if n_c == 1 else np.concatenate([m for _, m in chans], axis=1)  # (G, c·cout_g, n_k)
        # columns: the unfolded image of one position per (row pattern, column pattern), class "none" reads 0
        a_pad = np.zeros((C_in, a.shape[1] + 1, a.shape[2] + 1))
        a_pad[:, :-1, :-1] = a
        X = a_pad[:, py.T[:, None, :, None], px.T[None, :, None, :]]  # (C_in, kh, kw, n_py, n_px)
        col = np.matmul(B, X.reshape(G, n_k, -1)).reshape(G, n_c, cout_g, -1).transpose(1, 0, 2, 3)
        col = np.take(col.reshape(n_c, C_out, -1), (oy[:, None] * px.shape[0] + ox).ravel(), axis=2)
        # rows: the transposed kernel times one vector per output class (the class "none" is zero) ...
        b_pad = np.zeros((C_out, b.shape[1] + 1, b.shape[2] + 1))
        b_pad[:, :-1, :-1] = b
        if n_c == 1:
            Bt = B.transpose(0, 2, 1)
        else:
            Bt = np.concatenate([m.transpose(0, 2, 1) for _, m in chans], axis=1)  # (G, c·n_k, cout_g)
        Y = np.matmul(Bt, b_pad.reshape(G, cout_g, -1)).reshape(G, n_c, cin_g, kh, kw, *b_pad.shape[1:])
        Y = Y.transpose(1, 0, 2, 3, 4, 5, 6).reshape(n_c, C_in, kh, kw, *b_pad.shape[1:])
        # ... summed per input (row pattern, column pattern) over the offsets of the class each one reads
        ky, kx = np.arange(kh)[:, None, None, None], np.arange(kw)[None, :, None, None]
        R = Y[:, :, ky, kx, qy.T[:, None, :, None], qx.T[None, :, None, :]].sum(axis=(2, 3))
        row = np.take(R.reshape(n_c, C_in, -1), (iy[:, None] * qx.shape[0] + ix).ravel(), axis=2)
        _store(col_out[t], col.reshape(n_c, C_out * Ho * Wo), chans)
        _store(row_out[t], row.reshape(n_c, C_in * H * W), chans)
    return True


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
