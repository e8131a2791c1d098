"""Compiled elementwise loops of the CPU block pass and of the metrics that read it: the diagonal blocks'
pass (per-unit scales, identity skips), signed sums of sign channels, k_nn's quotient, degree's rounding.
One pass each over the N-sized arrays, without the boolean and float temporaries of the vectorised numpy
expressions (a ResNet-50 at 224×224 has 10M units).
"""
import numpy as np
from numba import njit

from .. import config

#: The GPU runs the vectorised CuPy expressions these loops replace on the CPU
#: (``deepcnt.model.diagonal.diagonal_matvec``, ``deepcnt.core.strength.channel_sum``, ``deepcnt.core.knn``).
CPU_ONLY = "compiled loops replacing vectorised numpy expressions; the GPU runs the CuPy expressions"


def diagonal_matvec(d, theta, x_row, x_col, row_out, col_out, fold=None, add=False):
    """The fused pass of diagonal blocks ``diag(d)`` (per-unit scales, identity skips), one read of ``d``.

    .. math:: \\mathrm{row\\_out}[t,c,k] = B_c(d_{tk})\\,x\\_col[t,k],\\qquad
              \\mathrm{col\\_out}[t,c,k] = B_c(d_{tk})\\,x\\_row[t,k]

    with ``B = (1[d > θ], 1[d < −θ], d·1[d > θ], −d·1[d < −θ])``; the same products as the vectorised
    ``deepcnt.model.diagonal.diagonal_matvec``, without its n-sized temporaries.

    Parameters
    ----------
    d : array, shape (T, n), float32 or float64
    theta : array, shape (T,), float64
    x_row, x_col : arrays, shape (T, n), float64
    row_out, col_out : arrays, shape (T, 4, n), float64 (strided views allowed); (T, n) with a one-channel
        ``fold``, (T, 2, n) with ``"count+net"``
    fold : {None, "count", "abs", "count+net"}
        Only ``A⁺ + A⁻``, ``W⁺ + W⁻``, or ``A⁺ + A⁻`` and ``W⁺ − W⁻``.
    add : bool
        Add to the outputs instead of overwriting them.
    """
    code = {None: 0, "count": 1, "abs": 2, "count+net": 3}[fold]
    if fold in ("count", "abs"):  # one channel: the same kernel on (T, 1, n) views
        row_out, col_out = row_out[:, None], col_out[:, None]
    # added to the sums, a channel that no entry reaches (an identity skip has no negative weight) is skipped
    th = np.asarray(theta, dtype=np.float64)[:, None]
    live = np.array([bool((d > th).any()), bool((d < -th).any())]) if add else np.ones(2, np.bool_)
    _diagonal(d, theta, x_row, x_col, row_out, col_out, code, add, live)


@njit(cache=config.CACHE, nogil=True, inline="always")
def _put(out, t, c, k, v, add):
    """``out[t, c, k]`` takes ``v``, or adds it (``add``)."""
    if add:
        out[t, c, k] += v
    else:
        out[t, c, k] = v


@njit(cache=config.CACHE, nogil=True)
def _diagonal(d, theta, x_row, x_col, row_out, col_out, fold_code, add, live):
    """Channel ``c`` of unit ``k`` is written when ``live`` says some entry reaches it (positive channels 0 and
    2, negative 1 and 3), or always when overwriting; fold codes as :func:`diagonal_matvec`'s."""
    T, n = d.shape
    for t in range(T):
        th = theta[t]
        for k in range(n):
            w = np.float64(d[t, k])
            xr = x_row[t, k]
            xc = x_col[t, k]
            if fold_code == 0:
                b = (1.0 if w > th else 0.0, 1.0 if w < -th else 0.0, w if w > th else 0.0, -w if w < -th else 0.0)
                for c in range(4):
                    if live[c % 2] or not add:
                        _put(row_out, t, c, k, b[c] * xc, add)
                        _put(col_out, t, c, k, b[c] * xr, add)
            elif fold_code == 3:
                kept = 1.0 if abs(w) > th else 0.0
                net = w if abs(w) > th else 0.0
                _put(row_out, t, 0, k, kept * xc, add)
                _put(row_out, t, 1, k, net * xc, add)
                _put(col_out, t, 0, k, kept * xr, add)
                _put(col_out, t, 1, k, net * xr, add)
            else:
                b1 = 0.0
                if abs(w) > th:
                    b1 = 1.0 if fold_code == 1 else abs(w)
                _put(row_out, t, 0, k, b1 * xc, add)
                _put(col_out, t, 0, k, b1 * xr, add)


def signed_sum(planes, signs, out):
    """``out = Σ_k signs[k]·planes[k]`` in one pass, the planes added in their order (the same floats as
    adding them one array at a time), without temporaries.

    Parameters
    ----------
    planes : list of 1 to 4 arrays, shape (T, N), float64 (strided views allowed)
    signs : list of ±1, one per plane
    out : array, shape (T, N), float64, overwritten
    """
    p = list(planes) + [planes[0]] * (4 - len(planes))
    _signed_sum(p[0], p[1], p[2], p[3], np.array(list(signs) + [0.0] * (4 - len(signs)), np.float64),
                len(planes), out)


@njit(cache=config.CACHE, nogil=True)
def _signed_sum(p0, p1, p2, p3, sg, n, out):
    T, N = out.shape
    for t in range(T):
        for k in range(N):
            s = sg[0] * p0[t, k]
            if n > 1:
                s += sg[1] * p1[t, k]
            if n > 2:
                s += sg[2] * p2[t, k]
            if n > 3:
                s += sg[3] * p3[t, k]
            out[t, k] = s


@njit(cache=config.CACHE, nogil=True)
def ratio_or_zero(num, den):
    """``num[t, i] = num[t, i] / den[t, i]`` where ``den > 0``, else 0, in place, one pass (k_nn's quotient;
    numpy's masked divide and the zeroing took three passes and two boolean temporaries).

    Parameters
    ----------
    num : array, shape (T, N), float64, overwritten
    den : array, shape (T, N), float64
    """
    T, N = num.shape
    for t in range(T):
        for i in range(N):
            d = den[t, i]
            num[t, i] = num[t, i] / d if d > 0 else 0.0


@njit(cache=config.CACHE, nogil=True)
def rint_int64(x, out):
    """``out = rint(x)`` as int64 in one pass (``np.rint`` with a cast to int64 buffers the cast: about 3×
    slower on 10M degrees); ties round half to even, as ``np.rint``.

    Parameters
    ----------
    x : array, shape (T, N), float64 (strided views allowed)
    out : array, shape (T, N), int64, overwritten
    """
    T, N = x.shape
    for t in range(T):
        for i in range(N):
            out[t, i] = np.int64(np.rint(x[t, i]))
