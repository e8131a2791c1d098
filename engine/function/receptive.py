"""Receptive fields of hidden units, their conversion to probability distributions, and dead units.

The receptive field (RF) of unit ``j`` of layer 1 is column ``j`` of ``W_1``; a deeper unit's RF is the linear
projection ``(W_1 W_2 … W_l)[:, j]`` (Testolin et al.: "h2 unit l = Σ_j w1_ij w2_jl", no non-linearity). On a
block DAG it sums over every path from the input, skips included. Every function here returns RFs as rows: an
array ``(n_units, n_pixels)`` (``(T, n_units, n_pixels)`` for an epoch stack), reshaped to images with
``as_images``.
"""
import numpy as np

from ..errors import InputError, check_choice
from ..model.blocks import ImplicitBlock
from ..model.graph import LayeredGraph

#: Modes of :func:`rf_distributions` (``split`` is handled by the EMD functions as pos + neg).
DIST_MODES = ("pos", "neg", "abs", "shift", "minmax", "pebbles")


def _graph_of(g_or_weights):
    """A LayeredGraph, or one built from a list of 2-D/3-D arrays (validation: shapes chain, no NaN/inf)."""
    if isinstance(g_or_weights, LayeredGraph):
        return g_or_weights
    return LayeredGraph.from_weights(g_or_weights)


def _projections(g, layer, epochs):
    """``P_j`` (n_0, n_j) of every layer ``j <= layer`` and epoch in ``epochs``: ``P_0 = I``,
    ``P_j = Σ_{blocks (i, j)} P_i B_ij`` in layer (topological) order; host float64, shape (len(epochs), n_0, n_j).
    """
    n0 = g.sizes[0]
    P = {0: np.broadcast_to(np.eye(n0), (len(epochs), n0, n0))}
    for j in range(1, layer + 1):
        acc = np.zeros((len(epochs), n0, g.sizes[j]))
        for l, (i, jj) in enumerate(g.pairs):
            if jj != j:
                continue
            b = g.blocks[l]
            if not isinstance(b, ImplicitBlock):  # dense: one batched GEMM (none out of the input, P_0 = I)
                W = np.asarray(g.backend.to_numpy(b), dtype=np.float64)[list(epochs)]
                acc += W if i == 0 else P[i] @ W
                continue
            for k, t in enumerate(epochs):
                B = g.operator(l, t, "receptive fields")  # CSR of a sparse, identity or diagonal block
                acc[k] += B.toarray() if i == 0 else np.asarray(P[i][k] @ B)
        P[j] = acc
    return P[layer]


def receptive_fields(g, layer=1, epoch=None):
    """Receptive fields of the units of ``layer`` on the input layer, one row per unit.

    The RF sums the products of the weights along **every path** from the input layer 0 to the unit, skips
    included (the linear projection, no non-linearity):

    .. math:: P_0 = I,\\qquad P_j = \\sum_{\\text{blocks } (i, j)} P_i B_{ij}\\ (\\text{layers in order}),
              \\qquad \\mathrm{RF}_j = P_j^{\\mathsf T}

    On a chain this is ``(W_1 W_2 ⋯ W_l)ᵀ``, ``RF_l[j, p] = Σ W_1[p, i_1] W_2[i_1, i_2] ⋯ W_l[i_{l-1}, j]``. On
    the N×N adjacency ``A`` it is the block of ``(I − A)^{-1}`` from layer 0 to layer ``l``, transposed. A sparse
    block enters as the matrix of its stored entries, an identity skip as ``I``, a diagonal block as
    ``diag(d)``; a layer no path from the input reaches has zero fields.

    Parameters
    ----------
    g : LayeredGraph (a chain or a block DAG) or sequence of arrays, each shape (n_{l-1}, n_l) or (T, n_{l-1}, n_l)
        Thresholds of a LayeredGraph are ignored: RFs use the raw weights.
    layer : int, 1..L
    epoch : int, optional
        One epoch of a stack; default all epochs.

    Returns
    -------
    ndarray, shape (n_layer, n_0), or (T, n_layer, n_0) for a stack and ``epoch=None``; float64

    Raises
    ------
    InputError
        A bad layer or epoch; a convolution or pooling block on a path to ``layer`` (it has no explicit
        weight matrix here).

    Examples
    --------
    >>> W1 = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]); W2 = np.array([[1.0], [1.0]])
    >>> receptive_fields([W1, W2], layer=2).tolist()
    [[1.0, 2.0, 3.0]]

    A residual unit adds the identity path: ``RF = (W_1 W_2 + I)ᵀ``.

    >>> g = LayeredGraph.from_blocks([2, 1, 2], {(0, 1): np.ones((2, 1)), (1, 2): np.ones((1, 2)),
    ...                                          (0, 2): "identity"})
    >>> receptive_fields(g, layer=2).tolist()
    [[2.0, 1.0], [1.0, 2.0]]
    """
    g = _graph_of(g)
    L = g.n_layers - 1
    if not isinstance(layer, (int, np.integer)) or not 1 <= layer <= L:
        raise InputError(f"layer must be an integer in 1..{L} (a layer above the input), got {layer!r}")
    T = g.blocks[0].shape[0]
    if epoch is not None:
        if not isinstance(epoch, (int, np.integer)) or not -T <= epoch < T:
            raise InputError(f"epoch {epoch} is out of range: the stack holds {T} epochs")
        return np.ascontiguousarray(_projections(g, int(layer), [epoch % T])[0].T)
    rf = np.ascontiguousarray(np.swapaxes(_projections(g, int(layer), range(T)), 1, 2))
    return rf if g.stacked else rf[0]


def as_images(rf, shape):
    """Reshape RF rows ``(..., n_pixels)`` to images ``(..., h, w)`` (row-major, MNIST pixel order)."""
    rf = np.asarray(rf)
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) != rf.shape[-1]:
        raise InputError(f"image shape {shape} holds {int(np.prod(shape))} pixels but the fields have {rf.shape[-1]}")
    return rf.reshape(rf.shape[:-1] + shape)


def _check_rows(rf):
    rf = np.asarray(rf, dtype=np.float64)
    if rf.ndim != 2 or rf.shape[0] < 1 or rf.shape[1] < 1:
        raise InputError(f"receptive fields must be a 2-D array (n_units, n_pixels), got shape {rf.shape}")
    if not np.isfinite(rf).all():
        raise InputError("receptive fields hold NaN or infinite values")
    return rf


def grey_levels(rf, levels=None):
    """Testolin's rendering: each field mapped from its min (black, 0) to its max (white, 1).

    .. math:: g_p = \\frac{r_p - \\min r}{\\max r - \\min r}

    With ``levels`` the grey levels are integers ``round(g·levels)`` in ``0..levels`` (the "pebbles").
    A constant field maps to all zeros.
    """
    rf = _check_rows(rf)
    lo = rf.min(axis=1, keepdims=True)
    span = rf.max(axis=1, keepdims=True) - lo
    gl = np.where(span > 0, (rf - lo) / np.where(span > 0, span, 1.0), 0.0)
    if levels is not None:
        if not isinstance(levels, (int, np.integer)) or levels < 1:
            raise InputError(f"levels must be a positive integer, got {levels!r}")
        gl = np.rint(gl * levels)
    return gl


def rf_distributions(rf, mode="pos", levels=255):
    """Turn signed fields into probability distributions over pixels (rows sum to 1).

    .. math:: p_j = \\frac{m(\\mathrm{RF}_j)}{\\sum_p m(\\mathrm{RF}_j)_p}, \\quad
              m \\in \\{\\mathrm{RF}^+,\\ \\mathrm{RF}^-,\\ |\\mathrm{RF}|,\\ \\mathrm{RF} - \\min\\mathrm{RF},\\
              \\text{grey level},\\ \\text{integer pebbles}\\}

    Parameters
    ----------
    rf : array, shape (n_units, n_pixels)
    mode : {"pos", "neg", "abs", "shift", "minmax", "pebbles"}
        ``pos`` the excitatory part (default), ``neg`` the inhibitory magnitude, ``abs`` the magnitude,
        ``shift`` ``RF − min RF``, ``minmax`` Testolin's min-to-max grey levels, ``pebbles`` the same as
        integers in ``0..levels`` (Testolin: "every pixel is represented by a certain number of pebbles").
        ``split`` (EMD of pos + EMD of neg) is a mode of :func:`deepcnt.function.transport.rf_emd_matrix`.
    levels : int
        Grey levels of ``pebbles``.

    Returns
    -------
    ndarray, shape (n_units, n_pixels), float64, rows summing to 1

    Raises
    ------
    InputError
        A field with no mass in this mode (e.g. no positive weight for ``pos``; a constant field), naming it.
    """
    rf = _check_rows(rf)
    if mode == "pos":
        m = np.maximum(rf, 0.0)
    elif mode == "neg":
        m = np.maximum(-rf, 0.0)
    elif mode == "abs":
        m = np.abs(rf)
    elif mode == "shift":
        m = rf - rf.min(axis=1, keepdims=True)
    elif mode == "minmax":
        m = grey_levels(rf)
    elif mode == "pebbles":
        m = grey_levels(rf, levels)
    else:
        check_choice("mode", mode, DIST_MODES + ("split",))
    mass = m.sum(axis=1)
    empty = np.flatnonzero(~(mass > 0))
    if empty.size:
        raise InputError(
            f"{empty.size} receptive field(s) have no mass in mode {mode!r} (the first is unit {int(empty[0])}): "
            "drop them (see dead_units) or use mode='shift' or 'abs'"
        )
    return m / mass[:, None]


def dead_units(rf, rtol=1e-6, atol=1e-12):
    """Groups of units with identical receptive fields (Testolin's "dead units" of the last layer).

    Two fields are identical when ``|a - b| <= atol + rtol·max|RF|`` pixel-wise. Fields are rounded to that
    tolerance and grouped by hashing, so the cost is O(n·n_pixels), not O(n²).

    Parameters
    ----------
    rf : array, shape (n_units, n_pixels)

    Returns
    -------
    labels : ndarray, shape (n_units,), int64
        Group id of every unit (ids in order of first appearance).
    groups : list of ndarray
        The groups with more than one member (the dead units), largest first.

    Examples
    --------
    >>> labels, groups = dead_units(np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0]]))
    >>> labels.tolist(), [g.tolist() for g in groups]
    ([0, 1, 0], [[0, 2]])
    """
    rf = _check_rows(rf)
    tol = atol + rtol * float(np.abs(rf).max())
    q = np.rint(rf / tol).astype(np.int64) if tol > 0 else rf
    _, first, labels = np.unique(q, axis=0, return_index=True, return_inverse=True)
    # renumber by first appearance
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    labels = rank[labels.ravel()].astype(np.int64)
    counts = np.bincount(labels)
    groups = [np.flatnonzero(labels == k) for k in np.flatnonzero(counts > 1)]
    groups.sort(key=lambda a: (-a.size, a[0]))
    return labels, groups
