"""Weight and strength distributions per layer and epoch, KL divergence between groups of networks, and the
edge change between epochs (Testolin's weight/strength distributions, La Malfa's accuracy
groups, Shine's |ΔW| per input node).

Histograms of an epoch stack are one ``bincount`` over ``(epoch, bin)`` codes, not a loop over epochs; KDEs
are Gaussian sums evaluated in chunks (``scipy.stats.gaussian_kde`` with Scott's or Silverman's rule).

The weight statistics (:func:`weight_histograms`, :func:`weight_moments`) are over the **learnt weights** of
every block, on chains and block DAGs alike (:meth:`LayeredGraph.learnt_weights`): every entry of a dense
block, the stored entries of a sparse block, the diagonal of a diagonal block (a folded norm scale); an
identity skip has no weights of its own and does not count. Convolution and pooling blocks are refused.
"""
import numpy as np

from ..errors import InputError
from ..model.blocks import ImplicitBlock
from ..model.diagonal import DiagonalBlock
from ..model.graph import takes_graph
from .strength import strength

#: La Malfa et al.: networks grouped by accuracy in bins of this width.
ACCURACY_BIN = 0.025


def _host(g, a):
    return np.asarray(g.backend.to_numpy(a), dtype=np.float64)


def stacked_histogram(x, edges):
    """Histogram of every row of ``x`` on shared ``edges``: counts (T, B), int64 (right edge inclusive, as
    ``np.histogram``; values outside are dropped)."""
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(x.shape[0], -1)
    B = len(edges) - 1
    code = np.searchsorted(edges, x2, side="right") - 1
    code[x2 == edges[-1]] = B - 1
    ok = (code >= 0) & (code < B)
    t = np.broadcast_to(np.arange(x2.shape[0])[:, None], x2.shape)
    return np.bincount((t[ok] * B + code[ok]), minlength=x2.shape[0] * B).reshape(x2.shape[0], B)


def _edges(x, bins, range_):
    if range_ is None:
        lo, hi = float(np.min(x)), float(np.max(x))
    else:
        lo, hi = map(float, range_)
    if not np.isfinite([lo, hi]).all() or hi < lo:
        raise InputError(f"histogram range must be finite with lo <= hi, got {(lo, hi)}")
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InputError(f"bins must be a positive integer, got {bins!r}")
    return np.linspace(lo, hi, bins + 1)


@takes_graph(skips=True)
def weight_histograms(g, bins=50, value_range=None, kept_only=False):
    """Histogram of the learnt weights of every block and epoch (Testolin Fig. 4, per layer pair).

    A dense block counts every entry, a sparse block its stored entries, a diagonal block its diagonal; an
    identity block (a skip, no learnt weights) gets ``None`` (module doc).

    Parameters
    ----------
    g : LayeredGraph (a chain or a block DAG)
    bins : int
    value_range : (lo, hi), optional; default each block's min and max over all epochs (so epochs share edges)
    kept_only : bool, only the kept edges ``|w| > θ`` of a thresholded graph

    Returns
    -------
    counts : list, one per block in the order of ``g.pairs``: ndarray (T, bins), int64, or None (identity)
    edges : list, one per block: ndarray (bins+1,), or None (identity)

    Raises
    ------
    InputError
        A convolution or pooling block; a bad ``bins`` or ``value_range``.
    """
    counts, edges = [], []
    for l in range(g.n_blocks):
        lw = g.learnt_weights(l, "weight_histograms")
        if lw is None:
            counts.append(None)
            edges.append(None)
            continue
        w = _host(g, lw[0])
        if lw[1] is not None:
            w = np.where(_host(g, lw[1]) > 0, w, np.nan)  # NaN codes fall outside the edges
        real = w[~np.isnan(w)]
        e = _edges(real if real.size else np.zeros(1), bins, value_range)
        if kept_only:
            w = np.where(np.abs(w) > g.theta[l][:, None], w, np.nan)
        counts.append(stacked_histogram(w, e))
        edges.append(e)
    return counts, edges


@takes_graph(skips=True)
def strength_histograms(g, bins=50, value_range=None, direction="all", sign="net"):
    """Histogram of node strengths (``deepcnt.strength``) of every layer and epoch (Testolin Fig. 5).

    Returns
    -------
    counts : list of ndarray, one per layer (L+1), shape (T, bins); edges : list of ndarray (bins+1,)
    """
    s = _host(g, strength(g, direction, sign))
    s = s if g.stacked else s[None]
    counts, edges = [], []
    for l in range(g.n_layers):
        x = s[:, g.layer_slice(l)]
        e = _edges(x, bins, value_range)
        counts.append(stacked_histogram(x, e))
        edges.append(e)
    return counts, edges


def kde(samples, grid, bandwidth="scott", chunk=4096):
    """Gaussian kernel density of every row of ``samples`` on ``grid`` (``scipy.stats.gaussian_kde``, 1-D).

    .. math:: \\hat f(x) = \\frac{1}{n h\\sqrt{2π}}\\sum_i e^{-(x-x_i)^2/2h^2},\\qquad
              h = c\\,\\hat σ,\\ c = n^{-1/5}\\ (\\text{Scott}),\\ (3n/4)^{-1/5}\\ (\\text{Silverman})

    Parameters
    ----------
    samples : array, shape (n,) or (T, n)
    grid : array, shape (G,)
    bandwidth : "scott", "silverman" or a float factor ``c``

    Returns
    -------
    ndarray, shape (G,) or (T, G)
    """
    x = np.asarray(samples, dtype=np.float64)
    one = x.ndim == 1
    x = np.atleast_2d(x)
    if x.ndim != 2 or x.shape[1] < 2:
        raise InputError(f"samples must be (n,) or (T, n) with n >= 2, got shape {np.shape(samples)}")
    if not np.isfinite(x).all():
        raise InputError("samples hold NaN or infinite values")
    grid = np.asarray(grid, dtype=np.float64).ravel()
    n = x.shape[1]
    if bandwidth == "scott":
        c = n ** (-0.2)
    elif bandwidth == "silverman":
        c = (n * 0.75) ** (-0.2)
    elif isinstance(bandwidth, (int, float)) and bandwidth > 0:
        c = float(bandwidth)
    else:
        raise InputError(f"bandwidth must be 'scott', 'silverman' or a positive number, got {bandwidth!r}")
    h = c * x.std(axis=1, ddof=1)
    if (h == 0).any():
        raise InputError("a row of samples is constant: its KDE is undefined")
    out = np.zeros((x.shape[0], grid.size))
    for s in range(0, n, chunk):
        d = (grid[None, :, None] - x[:, None, s:s + chunk]) / h[:, None, None]
        out += np.exp(-0.5 * d * d).sum(-1)
    out /= n * h[:, None] * np.sqrt(2 * np.pi)
    return out[0] if one else out


def symmetric_kl(p, q, eps=1e-10):
    """Symmetric Kullback–Leibler divergence of histograms (nats), along the last axis (other axes broadcast).

    .. math:: D(p, q) = \\mathrm{KL}(p\\,\\|\\,q) + \\mathrm{KL}(q\\,\\|\\,p),\\qquad
              \\mathrm{KL}(p\\|q) = \\sum_b p_b \\ln\\frac{p_b}{q_b}

    Both are normalised to sum 1 after adding ``eps`` to every bin (so empty bins do not give infinity;
    ``eps=0`` for the raw definition, as ``scipy.stats.entropy(p, q) + entropy(q, p)``).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    try:
        np.broadcast_shapes(p.shape, q.shape)
        ok = p.shape[-1:] == q.shape[-1:]
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"p and q have incompatible shapes {p.shape} and {q.shape}: same bins on the last axis")
    if not (np.isfinite(p).all() and np.isfinite(q).all()) or (p < 0).any() or (q < 0).any():
        raise InputError("histograms must be finite and non-negative")
    p = p + eps
    q = q + eps
    p = p / p.sum(-1, keepdims=True)
    q = q / q.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        kpq = np.where(p > 0, p * np.log(p / q), 0.0).sum(-1)
        kqp = np.where(q > 0, q * np.log(q / p), 0.0).sum(-1)
    return kpq + kqp


def accuracy_groups(accuracy, width=ACCURACY_BIN):
    """La Malfa's accuracy bins: group ``floor(acc / width)`` of every network (``[k·w, (k+1)·w)``)."""
    acc = np.asarray(accuracy, dtype=np.float64)
    if acc.ndim != 1 or not np.isfinite(acc).all():
        raise InputError("accuracy must be a 1-D array of finite values, one per network")
    if not width > 0:
        raise InputError(f"width must be > 0, got {width}")
    return np.floor(acc / width + 1e-9).astype(np.int64)  # 1e-9: 0.975/0.025 is 38.999… in floating point


def group_kl(values, accuracy, width=ACCURACY_BIN, bins=100, value_range=None, eps=1e-10):
    """Symmetric KL between the pooled distributions of networks grouped by accuracy (La Malfa et al.).

    Parameters
    ----------
    values : array, shape (E, n), one row per network (its weights of a layer, or its node strengths)
    accuracy : array, shape (E,)
    width : float, accuracy bin width (0.025)
    bins, value_range : histogram of the pooled values (shared edges for every group)

    Returns
    -------
    groups : ndarray, shape (G,), lower accuracy edge of each non-empty group
    D : ndarray, shape (G, G), symmetric KL (nats) between the groups' histograms
    counts : ndarray, shape (G, bins)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise InputError(f"values must be (networks, values), got shape {v.shape}")
    if not np.isfinite(v).all():
        raise InputError("values hold NaN or infinite values")
    acc = np.asarray(accuracy)
    if acc.shape != (v.shape[0],):
        raise InputError(f"accuracy has {acc.size} values for {v.shape[0]} networks")
    grp = accuracy_groups(acc, width)
    ids, inv = np.unique(grp, return_inverse=True)
    e = _edges(v, bins, value_range)
    per_net = stacked_histogram(v, e)
    counts = np.zeros((ids.size, bins), dtype=np.int64)
    np.add.at(counts, inv.ravel(), per_net)
    D = symmetric_kl(counts[:, None, :], counts[None, :, :], eps)
    return ids * width, D, counts


def _block_change(g, l, end):
    """``Σ |W_{t+1} − W_t|`` over each source (``end="source"``) or target node's slots of block ``l``,
    shape (T−1, n)."""
    b = g.blocks[l]
    T = b.shape[0]
    axis = 1 if end == "source" else 0
    if not isinstance(b, ImplicitBlock):
        W = _host(g, b)
        return np.abs(np.diff(W, axis=0)).sum(axis=axis + 1)
    if isinstance(b, DiagonalBlock):  # an identity: zeros; a diagonal: |Δd| at both ends
        return np.abs(np.diff(_host(g, b.d), axis=0))
    mats = [g.operator(l, t, "edge_change") for t in range(T)]  # sparse: slot-wise, patterns may differ
    return np.stack([np.asarray(abs(b1 - b0).sum(axis=axis)).ravel() for b0, b1 in zip(mats, mats[1:])])


@takes_graph(skips=True)
def edge_change(g, block=0, end="source", shape=None):
    """Shine et al.'s edge change: ``|ΔW|`` between consecutive epochs summed over each node's edges of one block.

    .. math:: c_t(i) = \\sum_j \\lvert W_{t+1}[i, j] - W_t[i, j] \\rvert \\quad (\\text{source nodes; block 0:
              the input pixels})

    Every slot of the block counts (all weights, whatever the threshold): a sparse block's missing entries are
    zeros, an identity block never changes (zeros), a diagonal block changes by ``|Δd|``.

    Parameters
    ----------
    g : LayeredGraph, an epoch stack with T >= 2 (a chain or a block DAG)
    block : int, 0..n_blocks−1, in the order of ``g.pairs`` (block ``l`` of a chain joins layers ``l``, ``l+1``)
    end : {"source", "target"}, sum over each source node's out-edges or each target node's in-edges
    shape : (h, w), optional, reshape the result to images (e.g. (28, 28) for the input layer)

    Returns
    -------
    ndarray, shape (T−1, n) or (T−1, h, w), float64

    Raises
    ------
    InputError
        Not a stack of at least 2 epochs; a bad ``block``, ``end`` or ``shape``; a convolution or pooling block.
    """
    if not g.stacked or g.n_epochs < 2:
        raise InputError("edge_change needs an epoch stack with at least 2 epochs (LayeredGraph.stack)")
    if not isinstance(block, (int, np.integer)) or not 0 <= block < g.n_blocks:
        raise InputError(f"block must be an integer in 0..{g.n_blocks - 1}, got {block!r}")
    if end not in ("source", "target"):
        raise InputError(f"end must be 'source' or 'target', got {end!r}")
    d = _block_change(g, int(block), end)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != d.shape[1]:
            raise InputError(f"image shape {shape} holds {int(np.prod(shape))} pixels but there are {d.shape[1]} nodes")
        d = d.reshape((d.shape[0],) + shape)
    return d


@takes_graph(skips=True)
def weight_moments(g):
    """Mean, std, skewness and excess kurtosis of all learnt weights of each epoch (Testolin: the mean shifts
    negative and the skewness grows with learning). Moments are population moments (``scipy.stats.skew`` /
    ``kurtosis`` with ``bias=True``), accumulated in float64; NaN for the shape moments when all weights are equal.

    The weights pooled are those of the module doc: every entry of the dense blocks, the stored entries of
    the sparse blocks, the diagonals of the diagonal blocks; identity skips do not count.

    Returns
    -------
    dict of arrays, shape () or (T,): ``weight_mean``, ``weight_std``, ``weight_skew``, ``weight_kurtosis``

    Raises
    ------
    InputError
        A convolution or pooling block; a graph with no learnt weight (identity blocks only).
    """
    xp = g.backend.xp
    parts = [lw for l in range(g.n_blocks) if (lw := g.learnt_weights(l, "weight_moments")) is not None]
    T = g.blocks[0].shape[0]
    n = sum((v.shape[1] if ok is None else ok.sum(1)) for v, ok in parts) + xp.zeros(T)
    if not bool((n > 0).all()):
        raise InputError("weight_moments needs learnt weights: this graph has none (identity blocks or empty "
                         "sparse blocks only)")

    def real(x, ok):  # the padded entries of a sparse block's values count nothing
        return x if ok is None else xp.where(ok, x, 0.0)

    mean = sum(real(v, ok).sum(1, dtype=xp.float64) for v, ok in parts) / n
    m2 = m3 = m4 = 0.0
    for v, ok in parts:  # one pass per block: d, d² once, then the three central moments (float64)
        d = real(v - mean[:, None], ok)
        d2 = d * d
        m2, m3, m4 = m2 + d2.sum(1), m3 + (d2 * d).sum(1), m4 + (d2 * d2).sum(1)
    m2, m3, m4 = m2 / n, m3 / n, m4 / n
    ok = m2 > 0
    safe = xp.where(ok, m2, 1.0)
    skew = xp.where(ok, m3 / safe ** 1.5, xp.nan)
    kurt = xp.where(ok, m4 / safe ** 2 - 3.0, xp.nan)
    out = {"weight_mean": mean, "weight_std": xp.sqrt(m2), "weight_skew": skew, "weight_kurtosis": kurt}
    return out if g.stacked else {k: v[0] for k, v in out.items()}
