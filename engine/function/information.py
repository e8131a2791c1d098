"""Mutual information of binarised pixels and nodes with the class label, in bits.

Shine et al.: IP = MI(pixel, class) with each pixel binarised at the threshold that maximises that MI; ID = the
pointwise MI ``log2 p(class|pixel)/p(class)`` averaged over the items where the pixel is on; IH = MI(node,
class) with activity binarised at 0.5. Everything is vectorised over all features at once: the contingency
counts are one GEMM ``X_bᵀ Y_1`` (chunked over items, float32 products summed in float64: exact), the MI is
an elementwise kernel (``deepcnt.kernels.{cpu,gpu}.information``).

Activations (``S × n_l``) come from a forward pass of a stored epoch: :func:`deepcnt.function.activity.forward` for MLP
blocks, or the torch binding's forward pass.
"""
import math

import numpy as np

from .. import config
from ..backend import backend_for, to_host
from ..errors import InputError


def _labels(y, S):
    y = to_host(y)
    if y.ndim != 1 or y.shape[0] != S:
        raise InputError(f"labels must be a 1-D array of {S} items (one per row of the data), got shape {y.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise InputError("labels hold NaN or infinite values")
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.ravel().astype(np.int64)


def _features(X, name="X"):
    X = to_host(X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise InputError(f"{name} must be a 2-D array (items, features), got shape {X.shape}")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise InputError(f"{name} holds NaN or infinite values")
    if X.dtype.kind not in "biuf":
        raise InputError(f"{name} must be numeric, got dtype {X.dtype}")
    return X


def class_counts(Xb, codes, n_classes, device=None):
    """Contingency counts ``n_{p,1,y}`` of binary features and classes, ``X_bᵀ Y_1``.

    On the GPU this is one (chunked) GEMM; on the CPU a per-class column sum of the uint8 rows (measured 4× faster
    than a float32 BLAS GEMM with a 10-column one-hot: the GEMM is too skinny to use the cores, and it needs a
    float copy of ``X_b``).

    Parameters
    ----------
    Xb : array, shape (S, P), 0/1 (bool or integers)
    codes : array, shape (S,), class codes 0..C−1
    n_classes : int
    device : {None, "cpu", "gpu"}; ``None`` follows ``Xb`` (a CuPy array: the GPU)

    Returns
    -------
    n1y : array, shape (P, C), float64 (on the device's array module)
    ny : array, shape (C,), float64
    """
    be = backend_for(device, Xb)
    Xb = to_host(Xb)
    xp = be.xp
    S, P = Xb.shape
    ny = xp.asarray(np.bincount(codes, minlength=n_classes).astype(np.float64))
    if be.name == "cpu":  # the GEMM path below is the GPU's (run with numpy under the simulator)
        n1y = np.stack([Xb[codes == c].sum(0, dtype=np.int64) for c in range(n_classes)], axis=1)
        return xp.asarray(n1y, dtype=np.float64), ny
    n1y = xp.zeros((P, n_classes))
    chunk = config.INFORMATION_ROW_CHUNK
    for s in range(0, S, chunk):
        xb = xp.asarray(Xb[s:s + chunk], dtype=xp.float32)
        c = xp.asarray(codes[s:s + chunk])
        Y1 = (c[:, None] == xp.arange(n_classes)[None, :]).astype(xp.float32)
        n1y += (xb.T @ Y1).astype(xp.float64)  # partial sums <= 8192: exact in float32
    return n1y, ny


def _mi_kernel(n1y, ny, S, be, which="binary_mi"):
    out = be.xp.empty(n1y.shape[0])
    getattr(be.kernel("information"), which)(be.xp.ascontiguousarray(n1y), ny, float(S), out)
    return out


def miller_madow_bias(S, n_classes, n_x=2):
    """Miller–Madow first-order bias of the plug-in MI, in bits: ``(|X|−1)(|Y|−1)/(2 S ln 2)``."""
    return (n_x - 1) * (n_classes - 1) / (2.0 * S * math.log(2.0))


def binary_information(Xb, y, device=None, miller_madow=False):
    """MI (bits) between every binary feature (column of ``Xb``) and the label ``y``, all at once.

    .. math:: I(X_p;Y) = \\sum_{x,y} \\frac{n_{xy}}{S}\\log_2\\frac{n_{xy} S}{n_x n_y},\\qquad
              I_{MM} = I - \\frac{(|X|-1)(|Y|-1)}{2 S \\ln 2}

    Parameters
    ----------
    Xb : array, shape (S, P), 0/1
    y : array, shape (S,), class labels (any values; ``|Y|`` = the number of distinct labels)
    device : {None, "cpu", "gpu"}
        Where the counts and the MI kernel run; ``None`` follows ``Xb`` (a CuPy array: the GPU).
    miller_madow : bool, subtract the Miller–Madow bias

    Returns
    -------
    ndarray, shape (P,), float64

    Examples
    --------
    >>> x = np.array([[1, 1, 1, 0, 0, 0, 0, 1]]).T; y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    >>> binary_information(x, y).round(6).tolist()
    [0.75]
    """
    be = backend_for(device, Xb)
    Xb = _check_binary(_features(Xb, "Xb"))
    classes, codes = _labels(y, Xb.shape[0])
    n1y, ny = class_counts(Xb, codes, classes.size, be.device)
    out = to_host(_mi_kernel(n1y, ny, Xb.shape[0], be))
    if miller_madow:
        out = out - miller_madow_bias(Xb.shape[0], classes.size)
    return out


def _check_binary(Xb):
    if Xb.dtype == np.bool_:
        return Xb.view(np.uint8)
    if Xb.dtype.kind == "f":
        bad = bool(((Xb != 0) & (Xb != 1)).any())
    else:
        bad = bool(Xb.min() < 0 or Xb.max() > 1)
    if bad:
        raise InputError("Xb must hold only 0 and 1: binarise first (binarize or pixel_information)")
    return Xb



def binarize(X, theta):
    """``X > θ`` as uint8; ``θ`` a scalar or one threshold per column (shape (P,))."""
    X = _features(X)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim not in (0, 1) or (theta.ndim == 1 and theta.shape[0] != X.shape[1]):
        raise InputError(f"theta must be a scalar or have one value per feature ({X.shape[1]}), got {theta.shape}")
    if np.isnan(theta).any():
        raise InputError("theta holds NaN")
    if X.dtype.kind in "iu" and theta.ndim == 0:  # integer data: compare in its own dtype (no float copy)
        info = np.iinfo(X.dtype)
        t = math.floor(float(theta))
        if t < info.min:
            return np.ones(X.shape, np.uint8)
        if t >= info.max:
            return np.zeros(X.shape, np.uint8)
        return (X > X.dtype.type(t)).view(np.uint8)
    return (X > theta).view(np.uint8)


def _levels(X, max_levels):
    """Candidate thresholds (sorted distinct values, or quantiles when there are too many) and, for every
    entry, ``c(x) = #{v : vals[v] < x}``, so that ``x > vals[v]`` exactly when ``c(x) > v``."""
    vals = np.unique(X)
    if vals.size > max_levels:
        vals = np.unique(np.quantile(X, np.linspace(0, 1, max_levels)))
    return vals, np.searchsorted(vals, X, side="left")


def pixel_information(X, y, max_levels=256, device=None, miller_madow=False):
    """Shine et al.'s IP and ID: every pixel binarised at the threshold that maximises its MI with the class.

    .. math:: θ_p = \\arg\\max_θ I(1[X_p > θ]; Y),\\qquad I_P(p) = I(1[X_p > θ_p]; Y),\\qquad
              I_D(p) = \\frac{1}{n_{p,1}}\\sum_{i: x_{ip} > θ_p}\\log_2\\frac{p(y_i \\mid x_p{=}1)}{p(y_i)}

    The search is exhaustive over the candidate thresholds and vectorised: per-level class counts
    ``n[p, v, y]`` (one bincount), a reverse cumulative sum gives ``n_{p,1,y}(θ_v)`` for every level at once, and
    the MI kernel runs on all ``P × V`` (pixel, threshold) pairs.

    Parameters
    ----------
    X : array, shape (S, P), pixel values (e.g. uint8 grey levels)
    y : array, shape (S,), class labels
    max_levels : int
        Candidate thresholds are the distinct values of ``X`` (all 256 grey levels of MNIST); with more, this
        many quantiles.
    device : {None, "cpu", "gpu"}
        Where the MI kernel runs; ``None`` follows ``X`` (a CuPy array: the GPU).
    miller_madow : bool, subtract the Miller–Madow bias from IP

    Returns
    -------
    dict with ``IP`` (P,), ``ID`` (P,), ``threshold`` (P,) (a pixel is on when ``x > threshold``; the lowest
    maximiser), ``n_on`` (P,) (items where the pixel is on)
    """
    be = backend_for(device, X)
    X = _features(X)
    S, P = X.shape
    classes, codes = _labels(y, S)
    C = classes.size
    vals, lev = _levels(X, max_levels)
    V = vals.size
    counts = np.zeros(P * (V + 1) * C, dtype=np.int64)  # c(x) in 0..V
    base = (np.arange(P, dtype=np.int64) * (V + 1))[None, :]
    chunk = config.INFORMATION_ROW_CHUNK
    for s in range(0, S, chunk):
        idx = ((base + lev[s:s + chunk]) * C + codes[s:s + chunk, None]).ravel()
        counts += np.bincount(idx, minlength=P * (V + 1) * C)
    counts = counts.reshape(P, V + 1, C)
    # threshold vals[v] turns on the items with c(x) > v: a reverse cumulative sum gives all v at once
    above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    n1y = np.ascontiguousarray(above[:, 1:], dtype=np.float64)
    ny = np.bincount(codes, minlength=C).astype(np.float64)

    xp = be.xp
    mi = to_host(_mi_kernel(xp.asarray(n1y.reshape(P * V, C)), xp.asarray(ny), S, be)).reshape(P, V)
    best = np.argmax(mi, axis=1)  # lowest maximiser (ties: first)
    rows = np.arange(P)
    ip = mi[rows, best]
    n1_best = n1y[rows, best]
    idd = to_host(_mi_kernel(xp.asarray(n1_best), xp.asarray(ny), S, be, "on_information"))
    threshold = vals[best]
    if miller_madow:
        ip = ip - miller_madow_bias(S, C)
    return {"IP": ip, "ID": idd, "threshold": threshold, "n_on": n1_best.sum(1)}


def pointwise_on_information(Xb, y):
    """``log2 p(c | x_p = 1) / p(c)`` for every feature and class: array (P, C) (−inf where no item of class
    ``c`` has the feature on; NaN for a feature never on). Its ``n_{1c}/n_1``-weighted row sum is ID."""
    Xb = _check_binary(_features(Xb, "Xb"))
    classes, codes = _labels(y, Xb.shape[0])
    n1y, ny = class_counts(Xb, codes, classes.size)
    n1 = n1y.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log2(n1y * Xb.shape[0] / (n1 * ny[None, :]))


def node_information(H, y, theta=0.5, device=None, miller_madow=False):
    """IH: MI (bits) of every node's binarised activity with the class (Shine et al.: θ = 0.5 for sigmoid units).

    .. math:: I_H(j) = I(1[H_j > θ]; Y)

    Parameters
    ----------
    H : array, shape (S, n_l), activations of one layer (``deepcnt.function.activity.forward``)
    y : array, shape (S,)
    theta : float or array (n_l,), or ``"median"`` for the per-node median
    device : {None, "cpu", "gpu"}, as :func:`binary_information` (``None`` follows ``H``)

    Returns
    -------
    ndarray, shape (n_l,), float64
    """
    device = backend_for(device, H).device
    H = _features(H, "H")
    if isinstance(theta, str):
        if theta != "median":
            raise InputError(f"theta must be a number, an array or 'median', got {theta!r}")
        theta = np.median(H, axis=0)
    return binary_information(binarize(H, theta), y, device, miller_madow)


def shuffle_null(Xb, y, n_shuffles=100, seed=0, quantile=0.95):
    """Label-shuffle null of the binary MI: mean and upper quantile over ``n_shuffles`` permutations of ``y``.

    All shuffles share one GEMM per chunk of items: ``X_bᵀ [Y_1^{(1)} … Y_1^{(R)}]``.

    Returns
    -------
    dict with ``mean`` (P,), ``q`` (P,) (the ``quantile``), ``null`` (R, P)
    """
    Xb = _check_binary(_features(Xb, "Xb"))
    S, P = Xb.shape
    classes, codes = _labels(y, S)
    C = classes.size
    if not isinstance(n_shuffles, (int, np.integer)) or n_shuffles < 1:
        raise InputError(f"n_shuffles must be a positive integer, got {n_shuffles!r}")
    rng = np.random.default_rng(seed)
    perm_codes = np.stack([codes[rng.permutation(S)] for _ in range(n_shuffles)], axis=1)  # (S, R)
    n1y = np.zeros((P, n_shuffles * C))
    chunk = config.INFORMATION_ROW_CHUNK
    for s in range(0, S, chunk):
        xb = np.asarray(Xb[s:s + chunk], dtype=np.float32)
        pc = perm_codes[s:s + chunk]
        Y = (pc[:, :, None] == np.arange(C)[None, None, :]).astype(np.float32).reshape(pc.shape[0], -1)
        n1y += xb.T @ Y
    ny = np.bincount(codes, minlength=C).astype(np.float64)
    n1y = n1y.reshape(P, n_shuffles, C).transpose(1, 0, 2).reshape(n_shuffles * P, C)
    null = _mi_kernel(np.ascontiguousarray(n1y), ny, S, backend_for("cpu")).reshape(n_shuffles, P)
    return {"mean": null.mean(0), "q": np.quantile(null, quantile, axis=0), "null": null}
