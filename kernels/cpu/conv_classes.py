"""Convolution passes for vectors with few position classes, in O(parameters × classes + units).

A degree vector of a convolutional layer depends only on the channel and on which kernel offsets reach the
unit (the border rows and columns, the parities under a stride): a handful of row classes and column classes
(ResNet-50's layers have 1–5 of each). Two routes of ``conv_matvec`` (``kernels/cpu/conv.py``) use it:

* **tables** — vectors constant over each channel's positions (the ones of degrees and strengths): one read
  of the kernel gives per-(channel, offset) tables in both directions (:func:`_tables`), summed per
  (row pattern, column pattern) of the offsets that reach a position.
* **classes** — vectors with few position classes (k_nn's neighbour degrees): the kernel's sign channels
  times the unfolded image of one position per (row pattern, column pattern) instead of every position.

Both end in :func:`_gather`: every position's pattern sum written (or added) straight into the outputs, the
one pass over the units. Same geometry tuple and unit order as ``kernels/cpu/conv.py``.
"""
import functools

import numpy as np
from numba import njit

from .. import config

#: A vector with few position classes (k_nn's neighbour degrees) takes the class products when the kernel
#: multiplies at most ``2 / CLASSES_MIN_SAVING`` columns per output position (one per pattern pair the
#: outputs read and one per output class, against the im2col products' two per position, one per
#: direction; both in float32 where exact). Measured on ResNet-50's 3×3 convolutions of 512 channels at 7×7
#: (34 columns against 98): 6.4 ms against 8.8 ms; a 7×7 average pooling of 2048 channels to 1×1 (5 against
#: 2): 13 ms against 1.1 ms.
CLASSES_MIN_SAVING = 1

#: The GPU's ``conv_matvec`` has its own kernels (every route there is one pass over the units).
CPU_ONLY = "routes of the CPU conv_matvec (kernels/cpu/conv.py); the GPU conv_matvec has its own kernels"

#: ``fold`` as the code the compiled kernels take.
_FOLD_CODE = {None: 0, "count": 1, "abs": 2, "count+net": 3}
#: How many channels each fold computes.
_N_CHANNELS = {None: 4, "count": 1, "abs": 1, "count+net": 2}


def sign_channels(k, th, fold, count_dtype=np.float64):
    """``[(channel, matrix)]``: the masked sign channels (float64) of kernel entries ``k`` that ``fold``
    asks for: ``A⁺, A⁻, W⁺, W⁻`` (channels 0–3), ``A⁺ + A⁻`` (0), ``W⁺ + W⁻`` (2), or ``A⁺ + A⁻`` and
    ``W⁺ − W⁻`` (0, 1: ``"count+net"``); the 0/1 mask of ``"count"`` in ``count_dtype`` (float32 is exact,
    and half the memory)."""
    th = np.float64(th)  # a float32 kernel compares to θ in float64, as the loops do
    if fold == "count":
        return [(0, (np.abs(k) > th).astype(count_dtype))]
    k = k.astype(np.float64)
    if fold == "count+net":
        kept = np.abs(k) > th
        return [(0, kept.astype(np.float64)), (1, k * kept)]
    if fold == "abs":
        a = np.abs(k)
        return [(2, a * (a > th))]
    pos, neg = k > th, k < -th
    return [(0, pos.astype(np.float64)), (1, neg.astype(np.float64)), (2, k * pos), (3, -k * neg)]


def view(a, shape):
    """``a`` reshaped without a copy (a strided output slice may not be copied: the writes would be lost)."""
    v = a.view()
    v.shape = shape  # raises where a copy would be needed
    return v


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


# ------------------------------------------------------------------------------------------ the gather
@njit(cache=config.CACHE)
def _gather(s, iy, ix, out, add):
    n_c, n_k = s.shape[0], s.shape[1]
    H, W = iy.size, ix.size
    for c in range(n_c):
        for k in range(n_k):
            o = out[c, k]
            for y in range(H):
                r = s[c, k, iy[y]]
                base = y * W
                if add:
                    for x in range(W):
                        o[base + x] += r[ix[x]]
                else:
                    for x in range(W):
                        o[base + x] = r[ix[x]]


def gather(s, iy, ix, out, add=False):
    """Every position's pattern sum into the outputs: ``out[c, k, y·W + x] (+)= s[c, k, iy[y], ix[x]]``.

    One thread: a copy at memory speed (about 1 ms per million sums), which a second thread speeds up less
    than waking it costs on a loaded machine.

    Parameters
    ----------
    s : array, shape (n_c, n_k, n_py, n_px), float64: the sum of each (channel, row pattern, column pattern)
    iy, ix : int arrays, shapes (H,) and (W,): the row and column pattern of every position
    out : array, shape (n_c, n_k, H·W), float64 (a strided view of the pass's sums), written or added to
    add : bool
    """
    _gather(np.ascontiguousarray(s), iy.astype(np.intp), ix.astype(np.intp), out, add)


# ------------------------------------------------------------------------------------------ position classes
@functools.lru_cache(maxsize=256)
def _probe(n):
    """Fixed pseudo-random weights: the keys that tell rows (columns) of an image apart."""
    return np.random.default_rng(0).random(n)


@njit(cache=config.CACHE, fastmath=config.FASTMATH)
def _keys(x, py, px, ky, kx):
    """``ky[y] = Σ_{c,w} x[c,y,w]·py[c·W + w]`` and ``kx[w] = Σ_{c,y} x[c,y,w]·px[c·H + y]``, one read of ``x``
    (reassociated: keys only group rows, and equal rows sum the same terms in the same order anyway)."""
    C, H, W = x.shape
    ky[:] = 0.0
    kx[:] = 0.0
    for c in range(C):
        for y in range(H):
            p = px[c * H + y]
            s = 0.0
            for w in range(W):
                v = x[c, y, w]
                s += v * py[c * W + w]
                kx[w] += v * p
            ky[y] += s


@njit(cache=config.CACHE)
def _matches(x, iy, ix, fy, fx):
    """Whether ``x[c, y, w] == x[c, fy[iy[y]], fx[ix[w]]]`` everywhere, checked in two steps that imply it:
    every row equals its class's representative row (contiguous rows, compared without a branch per entry),
    and within the representative rows every column equals its class's representative column. Stops at
    the first row that differs."""
    C, H, W = x.shape
    for c in range(C):
        for y in range(H):
            r = fy[iy[y]]
            if r != y:
                same = True
                for w in range(W):
                    same &= x[c, y, w] == x[c, r, w]
                if not same:
                    return False
        for r in fy:
            same = True
            for w in range(W):
                same &= x[c, r, w] == x[c, r, fx[ix[w]]]
            if not same:
                return False
    return True


def position_classes(x, max_classes):
    """Rows and columns of the images ``x`` (C, H, W) that hold the same values in every channel.

    Returns ``(iy, ix, a)`` with ``x[c, y, w] == a[c, iy[y], ix[w]]`` exactly (``a``: shape (C, ny, nx), the
    values of one representative row and column of each class), or ``None`` when there are more than
    ``max_classes`` (row class, column class) pairs. Random keys group the rows (columns) — rows with
    different keys differ — and one exact comparison checks the grouping.
    """
    C, H, W = x.shape
    ky, kx = np.empty(H), np.empty(W)
    _keys(x, _probe(C * W), _probe(C * H), ky, kx)
    _, fy, iy = np.unique(ky, return_index=True, return_inverse=True)
    _, fx, ix = np.unique(kx, return_index=True, return_inverse=True)
    iy, ix = iy.ravel(), ix.ravel()
    if fy.size * fx.size > max_classes or not _matches(x, iy, ix, fy, fx):
        return None
    return iy, ix, x[:, fy][:, :, fx]


def per_channel_constant(x):
    """Whether every channel of the images ``x`` (C, H, W) holds one value (degrees, strengths)."""
    C, H, W = x.shape
    zero = np.zeros(1, np.intp)
    return bool(_matches(x, np.zeros(H, np.intp), np.zeros(W, np.intp), zero, zero))


# ------------------------------------------------------------------------------------------ tables route
@functools.lru_cache(maxsize=1024)
def _offset_masks(off0, step, s, n_in, n_out, k, transposed):
    """Which kernel offsets along one axis touch each position: ``(classes, index)`` with ``classes`` the
    distinct rows of the 0/1 matrix ``M[position, offset]`` and ``index`` the class of every position.
    Memoised per geometry (read-only arrays): every degree and strength pass asks again.

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
    classes, index = classes.astype(np.float64), index.ravel()
    classes.flags.writeable = index.flags.writeable = False
    return classes, index


def conv_matvec_tables(K, geom, theta, x_row, x_col, row_out, col_out, fold, add=False):
    """``conv_matvec`` for vectors constant over each channel's positions, in O(parameters + units).

    With ``x_row[ci, ·] = a[ci]``, the column sum of output ``(co, oy, ox)`` is ``Σ_{ky,kx} T[co, ky, kx]``
    over the offsets whose input lies inside the image, ``T[co, ky, kx] = Σ_ci B[co, ci, ky, kx] a[ci]``;
    along each axis the offsets that do form one of a few patterns (all of them inside, fewer at the borders),
    so the sums are computed once per (channel, row pattern, column pattern) and gathered to the positions.
    The row sums of input ``(ci, y, x)`` are the same with the transposed table and the offsets through
    which some output reads ``(y, x)`` (with a stride, not an interval). ``add``: add to the outputs.
    """
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G = geom
    cin_g, cout_g = C_in // G, C_out // G
    cls_oy, idx_oy = _offset_masks(-ph, dh, sh, H, Ho, kh, False)
    cls_ox, idx_ox = _offset_masks(-pw, dw, sw, W, Wo, kw, False)
    cls_iy, idx_iy = _offset_masks(-ph, dh, sh, H, Ho, kh, True)
    cls_ix, idx_ix = _offset_masks(-pw, dw, sw, W, Wo, kw, True)
    n_c = _N_CHANNELS[fold]
    for t in range(K.shape[0]):
        a_in = np.ascontiguousarray(x_row[t].reshape(G, cin_g, H * W)[:, :, 0])
        a_out = np.ascontiguousarray(x_col[t].reshape(G, cout_g, Ho * Wo)[:, :, 0])
        t_in = np.empty((n_c, G, cout_g, kh, kw))
        t_out = np.empty((n_c, G, cin_g, kh, kw))
        tables = _tables_1x1 if kh * kw == 1 else _tables
        tables(K[t].reshape(G, cout_g, cin_g, kh * kw), np.float64(theta[t]), a_in, a_out, _FOLD_CODE[fold],
               t_in.reshape(n_c, G, cout_g, kh * kw), t_out.reshape(n_c, G, cin_g, kh * kw))
        s_in = _pattern_sums(t_in, cls_oy, cls_ox)  # (c, G, cout_g, row pattern, col pattern)
        s_out = _pattern_sums(t_out, cls_iy, cls_ix)
        gather(s_in.reshape(n_c, C_out, *s_in.shape[3:]), idx_oy, idx_ox,
               view(col_out[t], (n_c, C_out, Ho * Wo)), add)
        gather(s_out.reshape(n_c, C_in, *s_out.shape[3:]), idx_iy, idx_ix,
               view(row_out[t], (n_c, C_in, H * W)), add)


def _pattern_sums(t, cls_y, cls_x):
    """``s[..., a, b] = Σ_{y,x} cls_y[a, y] t[..., y, x] cls_x[b, x]``: the per-offset tables ``t`` summed
    over the offsets of each (row pattern, column pattern), as two small matrix products (an einsum of three
    operands loops over every (a, b, y, x): 17 ms against 1 ms on a 7×7 pooling of 2048 channels)."""
    if t.shape[-2:] == (1, 1):
        return t * np.outer(cls_y[:, 0], cls_x[:, 0])
    return np.matmul(np.matmul(cls_y, t), cls_x.T)


@njit(cache=config.CACHE)
def _tables(K, th, a_in, a_out, fold_code, t_in, t_out):
    """Per-(channel, offset) tables of one epoch's kernel ``K`` (G, m, n, q) in both directions, one read of
    ``K``: ``t_in[c, g, o, q] = Σ_i B_c(K[g, o, i, q]) a_in[g, i]`` and ``t_out[c, g, i, q] = Σ_o B_c(K[g, o,
    i, q]) a_out[g, o]`` for the four sign channels (``fold_code`` 0), the one folded channel (1:
    ``A⁺ + A⁻``, 2: ``W⁺ + W⁻``) or two (3: ``A⁺ + A⁻``, ``W⁺ − W⁻``); both overwritten. One thread:
    a few ns per entry (the 3×3 and 7×7 kernels of a ResNet-50, 11M entries, in about 30 ms), less than
    waking a thread pool costs on a loaded machine. 1×1 kernels take :func:`_tables_1x1`."""
    G, m, n, nq = K.shape
    t_out[:] = 0.0
    acc = np.zeros((4, nq))
    for g in range(G):
        for o in range(m):
            acc[:] = 0.0
            y = a_out[g, o]
            for i in range(n):
                x = a_in[g, i]
                for q in range(nq):  # branch-free: the signs of trained weights are a coin toss
                    w = np.float64(K[g, o, i, q])
                    if fold_code == 0:
                        p = np.float64(w > th)
                        ng = np.float64(w < -th)
                        acc[0, q] += p * x
                        acc[1, q] += ng * x
                        acc[2, q] += w * p * x
                        acc[3, q] -= w * ng * x
                        t_out[0, g, i, q] += p * y
                        t_out[1, g, i, q] += ng * y
                        t_out[2, g, i, q] += w * p * y
                        t_out[3, g, i, q] -= w * ng * y
                    else:
                        kept = np.float64(abs(w) > th)
                        if fold_code == 2:
                            kept *= abs(w)
                        acc[0, q] += kept * x
                        t_out[0, g, i, q] += kept * y
                        if fold_code == 3:  # and the net weight W⁺ − W⁻
                            acc[1, q] += w * kept * x
                            t_out[1, g, i, q] += w * kept * y
            for c in range(t_in.shape[0]):
                for q in range(nq):
                    t_in[c, g, o, q] = acc[c, q]


# ------------------------------------------------------------------------------------------ classes route
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


def conv_matvec_classes(K, geom, theta, x_row, x_col, row_out, col_out, fold, add=False):
    """``conv_matvec`` for vectors with few position classes (:func:`position_classes`: k_nn's neighbour
    degrees), in O(parameters × classes + units); returns False (nothing written) for other vectors.

    The generalisation of the per-offset tables: an output position's column sum depends only on its
    channel and on the classes of the inputs its kernel offsets read (a row pattern and a column pattern),
    so one product of the kernel's sign channels with the unfolded image of one position per pattern pair
    (instead of every position: im2col) gives every sum, gathered to the positions. The row sums: the
    transposed kernel times one vector per output class, then per input pattern pair the sum over the
    offsets of the value of the class each reads. Same products as the im2col route, k_nn's 0/1 channel
    times integer degrees in float32 where exact (:func:`_product`). ``add``: add to the outputs.
    """
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G = geom
    cin_g, cout_g = C_in // G, C_out // G
    n_k = cin_g * kh * kw
    saving = CLASSES_MIN_SAVING
    plans = []
    for t in range(K.shape[0]):
        cin, cout = (position_classes(x[t].reshape(c, h, w), h * w / (2 * saving) if saving else np.inf)
                     for x, (c, h, w) in ((x_row, (C_in, H, W)), (x_col, (C_out, Ho, Wo))))
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
        if saving * (n_col + n_b) > 2 * Ho * Wo:  # not enough cheaper than the products over every position
            return False
        plans.append((a, b, col_pat, row_pat))
    for t, (a, b, ((py, oy), (px, ox)), ((qy, iy), (qx, ix))) in enumerate(plans):
        # k_nn's count products in float32 where every partial sum is an integer below 2^24 (see _product)
        exact_col = _f32_chunk(a, n_k) if fold == "count" else None
        exact_row = _f32_chunk(b, cout_g) if fold == "count" else None
        chans = sign_channels(K[t].reshape(G, cout_g, n_k), theta[t], fold,
                              np.float32 if exact_col and exact_row else np.float64)
        n_c = len(chans)
        B = chans[0][1] if n_c == 1 else np.concatenate([m for _, m in chans], axis=1)  # (G, c·cout_g, n_k)
        # columns: the unfolded image of one position per (row pattern, column pattern), class "none" reads 0
        a_pad = np.zeros((C_in, a.shape[1] + 1, a.shape[2] + 1))
        a_pad[:, :-1, :-1] = a
        X = a_pad[:, py.T[:, None, :, None], px.T[None, :, None, :]]  # (C_in, kh, kw, n_py, n_px)
        col = _product(B, X.reshape(G, n_k, -1), exact_col).astype(np.float64, copy=False)
        col = col.reshape(G, n_c, cout_g, -1).transpose(1, 0, 2, 3)
        # gathered straight into the outputs (the channels come in order 0..3, or the one folded channel)
        gather(col.reshape(n_c, C_out, py.shape[0], px.shape[0]), oy, ox,
               view(col_out[t], (n_c, C_out, Ho * Wo)), add)
        # rows: the transposed kernel times one vector per output class (the class "none" is zero) ...
        b_pad = np.zeros((C_out, b.shape[1] + 1, b.shape[2] + 1))
        b_pad[:, :-1, :-1] = b
        if n_c == 1:
            Bt = B.transpose(0, 2, 1)
        else:
            Bt = np.concatenate([m.transpose(0, 2, 1) for _, m in chans], axis=1)  # (G, c·n_k, cout_g)
        Y = _product(Bt, b_pad.reshape(G, cout_g, -1), exact_row).astype(np.float64, copy=False)
        Y = Y.reshape(G, n_c, cin_g, kh, kw, *b_pad.shape[1:])
        Y = Y.transpose(1, 0, 2, 3, 4, 5, 6).reshape(n_c, C_in, kh, kw, *b_pad.shape[1:])
        # ... summed per input (row pattern, column pattern) over the offsets of the class each one reads
        ky, kx = np.arange(kh)[:, None, None, None], np.arange(kw)[None, :, None, None]
        R = Y[:, :, ky, kx, qy.T[:, None, :, None], qx.T[None, :, None, :]].sum(axis=(2, 3))
        gather(R, iy, ix, view(row_out[t], (n_c, C_in, H * W)), add)
    return True


@njit(cache=config.CACHE, fastmath=config.FASTMATH)
def _tables_1x1(K, th, a_in, a_out, fold_code, t_in, t_out):
    """:func:`_tables` of a 1×1 kernel (``q = 1``: the sums over ``i`` are plain dot products), written so
    that the loop vectorises: scalar accumulators (reassociated, ``config.FASTMATH``; counts stay exact
    integers) and elementwise updates of ``t_out``. About 3× faster than the general loop on ResNet-50's
    1×1 layers."""
    G, m, n, _ = K.shape
    t_out[:] = 0.0
    for g in range(G):
        for o in range(m):
            y = a_out[g, o]
            s0 = s1 = s2 = s3 = 0.0
            if fold_code == 0:
                for i in range(n):
                    w = np.float64(K[g, o, i, 0])
                    x = a_in[g, i]
                    p = 1.0 if w > th else 0.0
                    ng = 1.0 if w < -th else 0.0
                    wp = w * p
                    wn = -w * ng
                    s0 += p * x
                    s1 += ng * x
                    s2 += wp * x
                    s3 += wn * x
                    t_out[0, g, i, 0] += p * y
                    t_out[1, g, i, 0] += ng * y
                    t_out[2, g, i, 0] += wp * y
                    t_out[3, g, i, 0] += wn * y
                t_in[0, g, o, 0] = s0
                t_in[1, g, o, 0] = s1
                t_in[2, g, o, 0] = s2
                t_in[3, g, o, 0] = s3
            elif fold_code == 3:  # A⁺ + A⁻ and W⁺ − W⁻
                for i in range(n):
                    w = np.float64(K[g, o, i, 0])
                    x = a_in[g, i]
                    kept = 1.0 if abs(w) > th else 0.0
                    net = w * kept
                    s0 += kept * x
                    s1 += net * x
                    t_out[0, g, i, 0] += kept * y
                    t_out[1, g, i, 0] += net * y
                t_in[0, g, o, 0] = s0
                t_in[1, g, o, 0] = s1
            else:
                for i in range(n):
                    w = np.float64(K[g, o, i, 0])
                    b = 0.0
                    if abs(w) > th:
                        b = 1.0 if fold_code == 1 else abs(w)
                    s0 += b * a_in[g, i]
                    t_out[0, g, i, 0] += b * y
                t_in[0, g, o, 0] = s0
