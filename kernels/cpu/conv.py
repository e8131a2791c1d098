"""The fused masked sign-channel mat-vecs of a 2-D convolution seen as a bipartite graph.

A convolution from input units ``(c_in, y, x)`` to output units ``(c_out, oy, ox)`` has one edge per
(output position, kernel entry) whose input position falls inside the image (zero padding adds no edge); the
weight of that edge is the kernel entry. Two distinct kernel entries never join the same pair of units, so the
graph is simple. The kernels below compute the same four channels as ``blockpass.block_matvec``
(``A⁺, A⁻, W⁺, W⁻`` with the threshold ``|w| > θ`` applied to kernel entries) by looping over kernel entries ×
output positions: O(E) work, O(parameters + units) memory, the edge list is never built.

Unit order is C-order of ``(C, H, W)`` (``c·H·W + y·W + x``), the order of ``torch.flatten``.

``geom`` is a tuple of 15 ints
``(C_in, H, W, C_out, H_out, W_out, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups)``.
"""
import numba
import numpy as np
from numba import njit, prange

from .. import config

#: Below this many edges a convolution block runs on one thread: a parallel launch costs more than the work
#: (and far more on a loaded machine). Candidate for ``kernels/config.py``.
PARALLEL_MIN_EDGES = 1 << 16
#: Above ``PARALLEL_MIN_EDGES``, a general vector goes through the BLAS products when a group joins at least
#: this many (input, output) channel pairs, and through the loops below it (measured: 64×64 channels at 28×28,
#: loops 47 ms, products 88 ms; 256×64 at 56×56, loops 84 ms, products 53 ms). A vector constant over each
#: channel always takes the products (6–11× faster than the loops at every size measured).
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


def conv_matvec(K, geom, theta, x_row, x_col, row_out, col_out):
    """Row and column mat-vecs of the four masked sign channels of a convolution stack.

    .. math::
        \\mathrm{row\\_out}[t,c,i] = \\sum_j B_c[t,i,j]\\, x\\_col[t,j], \\qquad
        \\mathrm{col\\_out}[t,c,j] = \\sum_i B_c[t,i,j]\\, x\\_row[t,i]

    where ``B_c`` is the (never built) unrolled block of the convolution: ``B[i, j] = K[co, ci mod C_in/g,
    ky, kx]`` for input unit ``i = (ci, oy·s_h − p_h + ky·d_h, ox·s_w − p_w + kx·d_w)`` and output unit
    ``j = (co, oy, ox)``, masked by sign and ``|K| > θ_t`` (channels ``A⁺, A⁻, W⁺, W⁻``).

    Parameters
    ----------
    K : array, shape (T, C_out, C_in/groups, kh, kw), float32 or float64, C-contiguous
    geom : tuple of 15 int (see the module docstring)
    theta : array, shape (T,), float64
    x_row : array, shape (T, C_in·H·W), float64
    x_col : array, shape (T, C_out·H_out·W_out), float64
    row_out : array, shape (T, 4, C_in·H·W), float64, overwritten
    col_out : array, shape (T, 4, C_out·H_out·W_out), float64, overwritten
    """
    T = K.shape[0]
    if T == 0:
        return
    C_in, H, W, C_out, Ho, Wo, kh, kw = geom[:8]
    cout_g = C_out // geom[14]
    work = T * C_out * (C_in // geom[14]) * kh * kw * Ho * Wo  # an upper bound on the edges
    parallel = work >= PARALLEL_MIN_EDGES
    G = geom[14]
    if parallel and (C_in // G * cout_g >= GEMM_MIN_CHANNEL_PAIRS or _per_channel_constant_all(x_row, x_col, geom)):
        _conv_matvec_gemm(K, geom, theta, x_row, x_col, row_out, col_out)
        return
    # input units are owned by (epoch, input channel); when there are fewer of those than threads (a first
    # layer on one-channel images), each also splits its output channels into chunks with private sums
    nchunks = max(1, min(cout_g, -(-numba.get_num_threads() // (T * C_in)))) if parallel else 1
    part = np.empty((T * C_in * nchunks, 4, H * W))
    threads = numba.get_num_threads()
    if not parallel:  # one compiled kernel; a one-thread launch is cheap
        numba.set_num_threads(1)
    try:
        _cols(K, geom, theta, x_row, col_out)
        _rows(K, geom, theta, x_col, part, nchunks)
    finally:
        numba.set_num_threads(threads)
    _sum_chunks(part, nchunks, row_out)


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


def _conv_matvec_gemm(K, geom, theta, x_row, x_col, row_out, col_out):
    """``conv_matvec`` as one BLAS matrix product per (epoch, kernel offset): the four sign channels of the
    kernel entries at an offset, stacked, times the window of inputs (or outputs) that offset joins.

    For offset ``(ky, kx)`` and group ``g`` the edges join input ``(ci, oy·s + ky·d − p, ox·s + kx·d − p)`` to
    output ``(co, oy, ox)`` with weight ``K[co, ci, ky, kx]``, so

    ``col[c, co, oy, ox] += Σ_ci B_c[co, ci] · x_row[ci, window]`` and
    ``row[c, ci, window] += Σ_co B_c[co, ci] · x_col[co, oy, ox]``

    are GEMMs of ``(4·C_out/g × C_in/g)`` and its transpose with ``(· × window size)`` (batched over groups).
    Same sums as the loops, in another order (float64 throughout): a ResNet-50 at 224×224 runs 10× faster.
    """
    C_in, H, W, C_out, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, G = geom
    cin_g, cout_g = C_in // G, C_out // G
    for t in range(K.shape[0]):
        th = theta[t]
        xr = x_row[t].reshape(G, cin_g, H, W)
        xc = x_col[t].reshape(G, cout_g, Ho, Wo)
        # a vector constant over each channel's positions (ones: degrees and strengths) factors out of the
        # window: the product is then a small matrix-vector product per offset, C_in (or C_out) times less work
        a_in, a_out = _per_channel_constant(xr), _per_channel_constant(xc)
        col = np.zeros((G, 4, cout_g, Ho, Wo))
        row = np.zeros((G, 4, cin_g, H, W))
        for ky in range(kh):
            oy, iy = _window(ky * dh - ph, sh, H, Ho)
            for kx in range(kw):
                ox, ix = _window(kx * dw - pw, sw, W, Wo)
                k = K[t, :, :, ky, kx].astype(np.float64).reshape(G, cout_g, cin_g)
                pos, neg = k > th, k < -th
                B = np.stack([pos, neg, k * pos, -k * neg], axis=1)  # (G, 4, cout_g, cin_g)
                if oy.stop <= oy.start or ox.stop <= ox.start or not (pos.any() or neg.any()):
                    continue
                if a_in is not None:
                    # (G, 4, cout_g, 1, 1): the same sum at every position of the window
                    col[:, :, :, oy, ox] += (B @ a_in[:, None, :, None])[..., None]
                else:
                    win_in = np.ascontiguousarray(xr[:, :, iy, ix])  # (G, cin_g, ny, nx)
                    ny, nx = win_in.shape[2:]
                    prod = np.matmul(B.reshape(G, 4 * cout_g, cin_g), win_in.reshape(G, cin_g, ny * nx))
                    col[:, :, :, oy, ox] += prod.reshape(G, 4, cout_g, ny, nx)
                Bt = B.transpose(0, 1, 3, 2)  # (G, 4, cin_g, cout_g)
                if a_out is not None:
                    row[:, :, :, iy, ix] += (Bt @ a_out[:, None, :, None])[..., None]
                else:
                    win_out = np.ascontiguousarray(xc[:, :, oy, ox])
                    ny, nx = win_out.shape[2:]
                    prod = np.matmul(Bt.reshape(G, 4 * cin_g, cout_g), win_out.reshape(G, cout_g, ny * nx))
                    row[:, :, :, iy, ix] += prod.reshape(G, 4, cin_g, ny, nx)
        col_out[t] = col.transpose(1, 0, 2, 3, 4).reshape(4, C_out * Ho * Wo)
        row_out[t] = row.transpose(1, 0, 2, 3, 4).reshape(4, C_in * H * W)


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
