"""Receptive fields of hidden units, their conversion to probability distributions, and dead units.

The receptive field (RF) of unit ``j`` of layer 1 is column ``j`` of ``W_1``; a deeper unit's RF is the linear
projection ``(W_1 W_2 … W_l)[:, j]`` (Testolin et al.: "h2 unit l = Σ_j w1_ij w2_jl", no non-linearity). Every
function here returns RFs as rows: an array ``(n_units, n_pixels)`` (``(T, n_units, n_pixels)`` for an epoch
stack), reshaped to images with ``as_images``.
"""
import numpy as np

from ..errors import InputError, check_choice
from ..model.graph import LayeredGraph

#: Modes of :func:`rf_distributions` (``split`` is handled by the EMD functions as pos + neg).
DIST_MODES = ("pos", "neg", "abs", "shift", "minmax", "pebbles")


def _blocks_of(g_or_weights):
    """Host float64 blocks (T, n_l, n_{l+1}) of a LayeredGraph or a list of 2-D/3-D arrays; and ``stacked``."""
    if hasattr(g_or_weights, "blocks") and hasattr(g_or_weights, "backend"):
        g = g_or_weights
    else:
        g = LayeredGraph.from_weights(g_or_weights)  # validation: shapes chain, no NaN/inf
    blocks = [g.block_stack(l, "receptive fields") for l in range(g.n_blocks)]
    return [np.asarray(g.backend.to_numpy(b), dtype=np.float64) for b in blocks], g.stacked


def receptive_fields(g, layer=1, epoch=None):
    """Receptive fields of the units of ``layer`` on the input layer, one row per unit.

    .. math:: \\mathrm{RF}_l = (W_1 W_2 \\cdots W_l)^{\\mathsf T}, \\qquad \\mathrm{RF}_l[j, p] =
              \\sum_{i_1, \\dots} W_1[p, i_1] W_2[i_1, i_2] \\cdots W_l[i_{l-1}, j]

    Parameters
    ----------
    g : LayeredGraph or sequence of arrays, each shape (n_{l-1}, n_l) or (T, n_{l-1}, n_l)
        Thresholds of a LayeredGraph are ignored: RFs use the raw weights.
    layer : int, 1..L
    epoch : int, optional
        One epoch of a stack; default all epochs.

    Returns
    -------
    ndarray, shape (n_layer, n_0), or (T, n_layer, n_0) for a stack and ``epoch=None``; float64

    Examples
    --------
    >>> W1 = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]); W2 = np.array([[1.0], [1.0]])
    >>> receptive_fields([W1, W2], layer=2).tolist()
    [[1.0, 2.0, 3.0]]
    """
    blocks, stacked = _blocks_of(g)
    L = len(blocks)
    if not isinstance(layer, (int, np.integer)) or not 1 <= layer <= L:
        raise InputError(f"layer must be an integer in 1..{L} (a layer above the input), got {layer!r}")
    P = blocks[0]
    for W in blocks[1:layer]:
        P = P @ W  # batched over T
    rf = np.ascontiguousarray(np.swapaxes(P, 1, 2))
    if epoch is not None:
        if not -rf.shape[0] <= epoch < rf.shape[0]:
            raise InputError(f"epoch {epoch} is out of range: the stack holds {rf.shape[0]} epochs")
        return rf[epoch]
    return rf if stacked else rf[0]


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
