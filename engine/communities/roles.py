"""Participation coefficient, within-module degree z-score, Shine's cartography and Guimerà–Amaral roles.

Everything comes from the node-to-module sums ``κ_ic`` of one weight channel, built in one scatter pass per
block (O(E)), then O(N·C). Views: ``direction="all"`` is the undirected view (``W + Wᵀ``, BCT flag 0 on the
symmetric matrix); ``"out"`` / ``"in"`` are the rows / columns of the feed-forward matrix (what BCT computes
when given the asymmetric MLP matrix, as Shine's ``integration.m`` does).
"""
import numpy as np

from ..backend import to_host
from ..errors import InputError, check_choice, renamed
from ..model.graph import takes_graph
from .modularity import check_labels

_CHANNELS = {"positive": 2, "negative": 3, "binary": 4, "net": 5, "abs": 6}
_DIRECTIONS = ("all", "out", "in")
N_BINS = 101


def node_module_strength(g, labels, sign="positive", direction="all", *, weight=None):
    """The node-to-module sums κ of one weight channel (block form).

    .. math:: \\kappa_{ic} = \\sum_{j \\in c} w_{ij}

    Parameters
    ----------
    g : LayeredGraph
    labels : array, shape (N,) or (T, N)
    sign : {"positive", "negative", "binary", "net", "abs"}
        ``w⁺``, ``w⁻`` (magnitude), 1 per kept edge, signed ``w``, ``|w|``.
    direction : {"all", "out", "in"}
    weight : deprecated spelling of ``sign``

    Returns
    -------
    kappa : array, shape (T, N, C), float64 (on the graph's device)
    lab : ndarray, shape (T, N), int64, modules ``0..C-1`` per epoch
    """
    sign = renamed("node_module_strength", "weight", "sign", weight, sign)
    check_choice("sign", sign, tuple(_CHANNELS))
    check_choice("direction", direction, _DIRECTIONS)
    lab, n_mod = check_labels(g, labels)
    be = g.backend
    xp = be.xp
    kern = be.kernel("communities").node_module_sums
    T, N, C = lab.shape[0], g.n_nodes, int(n_mod.max())
    o = g.offsets
    labd = xp.asarray(lab)
    kappa = xp.zeros((T, N, C))
    for l, (i, j) in enumerate(g.pairs):
        W, th = g.kept_stack(l, "the node-to-module sums (participation, module z-score)")
        src, dst = slice(o[i], o[i + 1]), slice(o[j], o[j + 1])
        row = xp.empty((T, o[i + 1] - o[i], C))
        col = xp.empty((T, o[j + 1] - o[j], C))
        kern(W, xp.asarray(th, dtype=xp.float64), _CHANNELS[sign], xp.ascontiguousarray(labd[:, src]),
             xp.ascontiguousarray(labd[:, dst]), row, col)
        if direction in ("all", "out"):
            kappa[:, src] += row
        if direction in ("all", "in"):
            kappa[:, dst] += col
    return kappa, lab


@takes_graph(skips=True)
def participation(g, labels, sign="positive", direction="all"):
    """Participation coefficient of every node (Guimerà & Amaral 2005; BCT).

    .. math:: P_i = 1 - \\sum_c \\Big(\\frac{\\kappa_{ic}}{\\kappa_i}\\Big)^2

    ``sign="positive"`` is BCT ``participation_coef_sign``'s ``Ppos`` (what Shine et al. use), ``"negative"``
    its ``Pneg``, ``"binary"`` is ``participation_coef`` on the mask, ``"abs"`` on ``|W|``. ``P = 0`` for a
    node without edges of that sign.

    Parameters
    ----------
    g : LayeredGraph
    labels : array, shape (N,) or (T, N)
    sign : {"positive", "negative", "binary", "abs"}
    direction : {"all", "out", "in"}

    Returns
    -------
    array, shape (N,) or (T, N), float64

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[.5, -1], [2, .25]]), np.array([[1, -.5], [0, 1.5]])])
    >>> participation(g, [0, 0, 0, 1, 0, 1]).round(6).tolist()
    [0.0, 0.197531, 0.0, 0.244898, 0.0, 0.0]
    """
    check_choice("sign", sign, ("positive", "negative", "binary", "abs"))
    kappa, lab = node_module_strength(g, labels, sign, direction)
    xp = g.backend.xp
    out = xp.empty(lab.shape)
    g.backend.kernel("roles").participation_from_kappa(kappa, out)
    return out if g.stacked else out[0]


@takes_graph(skips=True)
def module_zscore(g, labels, ddof=1, sign="net", direction="all", *, weight=None):
    """Within-module degree z-score (Guimerà & Amaral 2005; BCT ``module_degree_zscore``).

    .. math:: z_i = \\frac{\\kappa_{i c_i} - \\langle \\kappa_{j c_j} \\rangle_{j \\in c_i}}{\\sigma_{c_i}}

    Parameters
    ----------
    g : LayeredGraph
    labels : array, shape (N,) or (T, N)
    ddof : {1, 0}
        1 = MATLAB BCT's ``std`` (default); 0 reproduces bctpy (``np.std``). They differ by ``sqrt((n−1)/n)``.
    sign : {"net", "positive", "negative", "binary", "abs"}
        ``net`` is the raw signed ``W``, as BCT and Shine use it.
    direction : {"all", "out", "in"}
        BCT flags 3 (``W + Wᵀ``), 1 (rows) and 2 (columns) of the feed-forward matrix.
    weight : deprecated spelling of ``sign``

    Returns
    -------
    array, shape (N,) or (T, N), float64
        0 for single-node (``n_c ≤ ddof``) and constant modules (BCT's NaN → 0).
    """
    if ddof not in (0, 1):
        raise InputError(f"ddof must be 0 (numpy/bctpy) or 1 (MATLAB BCT), got {ddof!r}")
    sign = renamed("module_zscore", "weight", "sign", weight, sign)
    kappa, lab = node_module_strength(g, labels, sign, direction)
    xp = g.backend.xp
    out = xp.empty(lab.shape)
    g.backend.kernel("roles").zscore_from_kappa(kappa, xp.asarray(lab), int(ddof), out)
    return out if g.stacked else out[0]


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def cartography(P, z):
    """Shine et al.'s cartographic profile: the joint histogram of (P, z) on 101 × 101 bins.

    x-bins ``0:0.01:1``, y-bins ``5:−0.1:−5``; a value goes to the nearest bin (MATLAB ``round``: half away
    from zero), clamped to the edge bins:

    .. math:: x = \\mathrm{clip}(\\mathrm{round}(P/0.01), 0, 100),\\qquad
              y = \\mathrm{clip}(\\mathrm{round}((5 - z)/0.1), 0, 100)

    Parameters
    ----------
    P, z : arrays, shape (N,) or (T, N)

    Returns
    -------
    ndarray, shape (101, 101) or (T, 101, 101), int64
        ``hc[y, x]`` counts (row 0 is ``z = 5``, column 0 is ``P = 0``), as ``integration.m``.
    """
    try:
        P, z = (to_host(a).astype(np.float64) for a in (P, z))
    except (TypeError, ValueError):
        raise InputError(f"cartography takes the arrays P and z (participation(g, labels) and "
                         f"module_zscore(g, labels)), got {type(P).__name__} and {type(z).__name__}") from None
    if P.shape != z.shape or P.ndim not in (1, 2):
        raise InputError(f"P and z must have one shape (N,) or (T, N), got {P.shape} and {z.shape}")
    if not (np.all(np.isfinite(P)) and np.all(np.isfinite(z))):
        raise InputError("P and z must be finite")
    x = np.clip(_round_half_away(P / 0.01), 0, N_BINS - 1).astype(np.int64)
    y = np.clip(_round_half_away((5.0 - z) / 0.1), 0, N_BINS - 1).astype(np.int64)
    P2 = x.reshape(-1, x.shape[-1])
    Y2 = y.reshape(-1, y.shape[-1])
    hc = np.stack([np.bincount(yy * N_BINS + xx, minlength=N_BINS * N_BINS).reshape(N_BINS, N_BINS)
                   for xx, yy in zip(P2, Y2)])
    return hc if P.ndim == 2 else hc[0]


#: Guimerà–Amaral thresholds (from memory: [unverified]); every one is a parameter of ``node_roles``.
#: Hubs have ``z >= HUB_Z``; ``NONHUB_P`` and ``HUB_P`` are the participation boundaries of the two rows.
HUB_Z = 2.5
NONHUB_P = (0.05, 0.62, 0.80)
HUB_P = (0.30, 0.75)
ROLE_NAMES = ("R1 ultra-peripheral", "R2 peripheral", "R3 non-hub connector", "R4 non-hub kinless",
              "R5 provincial hub", "R6 connector hub", "R7 kinless hub")


def node_roles(P, z, hub_z=HUB_Z, nonhub_p=NONHUB_P, hub_p=HUB_P):
    """Guimerà–Amaral node roles R1–R7 from (P, z); the thresholds are parameters (defaults quoted from memory).

    Hubs are ``z ≥ hub_z``. Non-hubs: R1 ``P ≤ 0.05``, R2 ``≤ 0.62``, R3 ``≤ 0.80``, R4 above.
    Hubs: R5 ``P ≤ 0.30``, R6 ``≤ 0.75``, R7 above.

    Returns
    -------
    ndarray, same shape as P, int8 in 1..7 (names in ``ROLE_NAMES``)
    """
    try:
        P, z = (to_host(a).astype(np.float64) for a in (P, z))
    except (TypeError, ValueError):
        raise InputError(f"cartography takes the arrays P and z (participation(g, labels) and "
                         f"module_zscore(g, labels)), got {type(P).__name__} and {type(z).__name__}") from None
    if P.shape != z.shape:
        raise InputError(f"P and z must have one shape, got {P.shape} and {z.shape}")
    non = 1 + np.searchsorted(np.asarray(nonhub_p), P, side="left")
    hub = 5 + np.searchsorted(np.asarray(hub_p), P, side="left")
    return np.where(z >= hub_z, hub, non).astype(np.int8)
