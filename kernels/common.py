"""Per-element formulas of the kernels, each written once: shared by CPU (Numba) and GPU (numba.cuda) twins,
or by several kernels of one side.

These are plain Python functions, never called from Python: a kernel module compiles the ones it uses where
it uses them, ``njit(inline="always")`` in ``kernels/cpu`` and ``cuda.jit(device=True, inline="always")`` in
``kernels/gpu``, so both twins inline the same formula (the CUDA simulator runs the Python itself). A formula
here takes scalars or arrays and returns scalars or a tuple; it calls nothing but ``math`` and builtins (a call
to another function of this module would be a call to a Python object, which neither compiler accepts), and
its caller does the dtype casts (``np.float64(w)`` / ``float64(w)``).

Numba's on-disk cache (``config.CACHE``) keys a cached kernel on its own source file only, so a change here
does not invalidate the kernels that inline it: after editing this module, delete the ``*.nbi``/``*.nbc``
files under ``kernels/cpu/__pycache__`` (or touch the calling modules).
"""
import math

#: The folds a block pass may ask for instead of the four sign channels ``(A⁺, A⁻, W⁺, W⁻)``: each folded
#: channel adds ``(channel, ±1)`` terms of the four. ``"count"`` and ``"abs"`` give one channel (outputs of
#: shape (T, n): k_nn's numerators), ``"count+net"`` two (shape (T, 2, n): the degree ``A⁺ + A⁻`` and the
#: net strength ``W⁺ − W⁻``, what the undirected degree and strength read).
FOLD_TERMS = {"count": (((0, 1), (1, 1)),), "abs": (((2, 1), (3, 1)),),
              "count+net": (((0, 1), (1, 1)), ((2, 1), (3, -1)))}


def fold_four(four, fold):
    """The channels ``fold`` asks for, from the four (an array helper, not a kernel formula): ``four`` has
    shape (T, 4, n); returns (T, n) for a one-channel fold, (T, 2, n) for ``"count+net"``."""
    chans = []
    for terms in FOLD_TERMS[fold]:
        (a, _), (b, sb) = terms
        chans.append(four[:, a] + four[:, b] if sb > 0 else four[:, a] - four[:, b])
    if len(chans) == 1:
        return chans[0]
    out = four[:, :len(chans)].copy()
    for c, v in enumerate(chans):
        out[:, c] = v
    return out


def add_sign_channels(w, th, x, a_pos, a_neg, w_pos, w_neg):
    """Add a weight's contributions, times ``x``, to the four sign-channel sums (A⁺, A⁻, W⁺, W⁻).

    .. math:: (a^+, a^-, w^+, w^-) \\mathrel{+}= x\\,(1[w>θ],\\ 1[w<-θ],\\ w\\,1[w>θ],\\ -w\\,1[w<-θ])

    Returns the four updated sums; ``x = 1`` counts the kept edges and sums their weights.
    """
    if w > th:
        a_pos += x
        w_pos += w * x
    elif w < -th:
        a_neg += x
        w_neg -= w * x
    return a_pos, a_neg, w_pos, w_neg


def add_sign_channels_at(acc, k, w, th, x):
    """:func:`add_sign_channels` into column ``k`` of an accumulator ``acc`` (4, n), in place: only the two
    sums a kept weight changes are read and written (a four-way tuple update of array elements ran 26× slower
    in the CPU's CSR pass)."""
    if w > th:
        acc[0, k] += x
        acc[2, k] += w * x
    elif w < -th:
        acc[1, k] += x
        acc[3, k] -= w * x


def store_sign_channels(out, t, k, a_pos, a_neg, w_pos, w_neg):
    """Write the four sign-channel sums of unit ``k`` at epoch ``t``: ``out[t, :, k] = (A⁺, A⁻, W⁺, W⁻)``."""
    out[t, 0, k] = a_pos
    out[t, 1, k] = a_neg
    out[t, 2, k] = w_pos
    out[t, 3, k] = w_neg


def unravel3(e, n1, n2):
    """``(a, b, c)`` of the flat C-order index ``e = (a·n1 + b)·n2 + c`` of an array of shape (·, n1, n2)."""
    a = e // (n1 * n2)
    r = e - a * n1 * n2
    b = r // n2
    return a, b, r - b * n2


def channel_weight(w, th, channel):
    """A weight's value in one channel of the community kernels (``kernels/*/communities.py``).

    ``channel``: ``0`` A⁺, ``1`` A⁻, ``2`` W⁺, ``3`` W⁻ (magnitude), ``4`` A, ``5`` W (signed), ``6`` |W|;
    0 for a dropped weight (``|w| ≤ θ``).
    """
    if w > th:
        if channel == 0 or channel == 4:
            return 1.0
        if channel == 2 or channel == 5 or channel == 6:
            return w
        return 0.0
    if w < -th:
        if channel == 1 or channel == 4:
            return 1.0
        if channel == 3 or channel == 6:
            return -w
        if channel == 5:
            return w
        return 0.0
    return 0.0


def edge_code(w, th, signed):
    """Colour code of a slot: ``0`` no edge, ``1`` kept edge (``+`` when signed), ``2`` kept ``−``."""
    if w > th:
        return 1
    if w < -th:
        return 2 if signed else 1
    return 0


def try_swap(o, src, dst, col, e1, e2):
    """One attempted colour-preserving swap of edges ``e1``, ``e2`` in the code matrix ``o`` (null N3).

    Edges ``a→b`` and ``d→e`` of one colour become ``a→e`` and ``d→b`` when those slots are free and the four
    nodes are distinct; ``o``, ``dst`` are updated in place (``src`` and ``col`` never change).
    """
    if col[e1] != col[e2]:
        return
    a = src[e1]
    b = dst[e1]
    d = src[e2]
    e = dst[e2]
    if a == d or b == e or o[a, e] != 0 or o[d, b] != 0:
        return
    c = col[e1]
    o[a, b] = 0
    o[d, e] = 0
    o[a, e] = c
    o[d, b] = c
    dst[e1] = e
    dst[e2] = b


def binary_mi_row(n1y, ny, S, p):
    """Plug-in MI in bits of binary feature ``p`` and the class, from its counts ``n1y[p]``.

    .. math:: I = \\sum_{x\\in\\{0,1\\}}\\sum_y \\frac{n_{xy}}{S}\\log_2\\frac{n_{xy}\\,S}{n_x\\,n_y},\\qquad
              n_{0y} = n_y - n_{1y}
    """
    C = n1y.shape[1]
    n1 = 0.0
    for y in range(C):
        n1 += n1y[p, y]
    n0 = S - n1
    acc = 0.0
    for y in range(C):
        a = n1y[p, y]
        b = ny[y] - a
        if a > 0.0:
            acc += a * math.log(a * S / (n1 * ny[y]))
        if b > 0.0:
            acc += b * math.log(b * S / (n0 * ny[y]))
    return acc / (S * math.log(2.0))


def on_information_row(n1y, ny, S, p):
    """Pointwise MI of feature ``p`` averaged over the items where it is on (Shine et al.'s ID), in bits.

    .. math:: I_D = \\sum_y \\frac{n_{1y}}{n_1}\\log_2\\frac{n_{1y} S}{n_1 n_y}\\quad(0 \\text{ when } n_1 = 0)
    """
    C = n1y.shape[1]
    n1 = 0.0
    for y in range(C):
        n1 += n1y[p, y]
    acc = 0.0
    if n1 > 0.0:
        for y in range(C):
            a = n1y[p, y]
            if a > 0.0:
                acc += a * math.log(a * S / (n1 * ny[y]))
        acc /= n1 * math.log(2.0)
    return acc


def participation(kappa, t, i):
    """Guimerà–Amaral participation coefficient of node ``i`` at epoch ``t`` from ``κ[t, i, :]``.

    .. math:: P_i = 1 - \\sum_c \\Big(\\frac{\\kappa_{ic}}{\\kappa_i}\\Big)^2\\quad(0 \\text{ when } \\kappa_i = 0)
    """
    k = 0.0
    k2 = 0.0
    for c in range(kappa.shape[2]):
        v = kappa[t, i, c]
        k += v
        k2 += v * v
    return 1.0 - k2 / (k * k) if k != 0.0 else 0.0


def module_zscore(x, mean, ss, n, ddof):
    """z-score of ``x`` in a module of ``n`` nodes with mean ``mean`` and sum of squared deviations ``ss``.

    .. math:: z = \\frac{x - \\mathrm{mean}}{\\sqrt{ss / (n - \\mathrm{ddof})}}

    0 when ``n ≤ ddof`` or the spread is zero up to rounding (``σ ≤ 1e-14·(1+|mean|)``), BCT's NaN → 0.
    """
    dof = n - ddof
    sd = math.sqrt(ss / dof) if dof > 0 else 0.0
    if sd > 1e-14 * (1.0 + abs(mean)):
        return (x - mean) / sd
    return 0.0
