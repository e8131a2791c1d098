"""Degree and strength: every direction and sign variant from one fused pass per block.

The in-variant of a node sums the columns of every block into its layer, its out-variant the rows of every
block out of it (a chain: column sums of block ``l-1``, row sums of block ``l``); skip blocks count like any
other.
"""
import numpy as np

from ..errors import check_choice
from ..kernels.cpu.elementwise import rint_int64, signed_sum
from ..model.graph import takes_graph
from ..model.sums import block_pass  # noqa: F401  (the family's other modules use it from here)
from ..model.sums import node_sums as _node_sums

#: The per-node channel sums of the kept edges (``deepcnt.model.sums.node_sums``), for the public API.
node_sums = takes_graph(_node_sums, skips=True)

_DIRECTIONS = ("all", "in", "out")
_DEGREE_SIGNS = ("all", "positive", "negative")
_STRENGTH_SIGNS = ("net", "positive", "negative", "abs")


def channel_sum(sums, direction, terms):
    """``Σ ± sums[:, c]`` over the channels ``terms = ((c, ±1), ...)`` of the in-sums, the out-sums or both
    (``direction`` "in", "out", "all"/"in+out"): shape (T, N), built without (T, 4, N) temporaries (on the
    CPU in one pass over the channels, adding them in the same order)."""
    parts = {"in": (sums.in_sums,), "out": (sums.out_sums,)}.get(direction, (sums.in_sums, sums.out_sums))
    planes = [(part[:, c], sgn) for part in parts for c, sgn in terms]
    if isinstance(planes[0][0], np.ndarray) and len(planes) <= 4:
        out = np.empty(planes[0][0].shape)
        signed_sum([p for p, _ in planes], [float(s) for _, s in planes], out)
        return out
    out = None
    for plane, sgn in planes:
        if out is None:
            out = plane * sgn
        elif sgn > 0:
            out += plane
        else:
            out -= plane
    return out


def folding(g):
    """Whether some block of ``g`` computes folded sums itself (convolutions, pooling, diagonals)."""
    return any(getattr(W, "folds", False) for W in g.blocks)


def _undirected(g):
    """The undirected degree ``A⁺ + A⁻`` and net strength ``W⁺ − W⁻`` of every node (in- plus out-sums),
    shape (T, 2, N), or ``None``: memoised, from node sums already there, else, on a graph whose blocks
    fold, from one two-channel pass adding every block's row and column sums into one array (a quarter of
    the four-channel pass's N-sized sums to write and read: a ResNet-50 has 10M units). ``None`` for the
    other graphs: their blocks compute the four channels anyway, and node_sums serves every variant."""
    if "undirected" not in g._cache:
        ready = "sums" in g._cache or not folding(g)
        if ready:
            g._cache["undirected"] = None
        else:
            ones = g.backend.xp.ones((g.blocks[0].shape[0], g.n_nodes))
            g._cache["undirected"] = block_pass(g, ones, ones, "count+net", merged=True).in_sums
    return g._cache["undirected"]


def degree_sums(g, direction):
    """The degrees ``A⁺ + A⁻`` of ``direction`` as float64 sums, shape (T, N), memoised on the graph (degree
    and k_nn's neighbour degrees and denominators read the same sums): callers must not write into it."""
    direction = "all" if direction == "in+out" else direction  # k_nn's name of the undirected view
    key = ("degree_sums", direction)
    if key not in g._cache:
        both = _undirected(g) if direction == "all" else None
        g._cache[key] = both[:, 0] if both is not None else channel_sum(node_sums(g), direction, ((0, 1), (1, 1)))
    return g._cache[key]


def _shape(g, a):
    return a if g.stacked else a[0]


@takes_graph(skips=True)
def degree(g, direction="all", sign="all"):
    """Degree of every node: the number of kept edges (``|w| > θ``).

    .. math:: k_i = \\sum_j A_{ij},\\quad k^{in}_i = \\sum_j A_{ji},\\quad k^{out}_i = \\sum_j A_{ij}
              \\ (\\text{directed view}),\\qquad k^{\\pm} \\text{ from } A^{\\pm} = 1[\\pm w > θ]

    Parameters
    ----------
    g : LayeredGraph
    direction : {"all", "in", "out"}
        ``all`` is the undirected degree ``k = k_in + k_out``.
    sign : {"all", "positive", "negative"}

    Returns
    -------
    array, shape (N,) or (T, N), int64
        In node order (``g.layer_slice(l)`` splits it).

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[0.5, -1.0], [2.0, 0.25]])])
    >>> deepcnt.degree(g, sign="negative").tolist()
    [1, 0, 0, 1]
    """
    check_choice("direction", direction, _DIRECTIONS)
    check_choice("sign", sign, _DEGREE_SIGNS)
    xp = g.backend.xp
    if sign == "all":  # the memoised sums stay as they are: rounded into a new integer array
        k = degree_sums(g, direction)
        if xp is not np:
            return _shape(g, xp.rint(k).astype(xp.int64))
        out = np.empty(k.shape, np.int64)
        rint_int64(k, out)
        return _shape(g, out)
    k = channel_sum(node_sums(g), direction, ((0 if sign == "positive" else 1, 1),))
    return _shape(g, xp.rint(k, out=k).astype(xp.int64))


@takes_graph(skips=True)
def strength(g, direction="all", sign="net"):
    """Strength of every node: the sum of its kept edges' weights.

    .. math:: s_i = \\sum_j W_{ij},\\quad s^{+} = \\sum W^{+},\\ s^{-} = \\sum W^{-}\\ (\\text{magnitude}),
              \\ s = s^{+} - s^{-},\\ |s| = s^{+} + s^{-}

    Parameters
    ----------
    g : LayeredGraph
    direction : {"all", "in", "out"}
    sign : {"net", "positive", "negative", "abs"}
        ``negative`` is the magnitude ``Σ max(−w, 0)`` (non-negative), as BCT's signed measures use it.

    Returns
    -------
    array, shape (N,) or (T, N), float64
        Accumulated in float64 whatever the weights' dtype ("Dtypes").

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[0.5, -1.0], [2.0, 0.25]])])
    >>> deepcnt.strength(g).tolist()
    [-0.5, 2.25, 2.5, -0.75]
    """
    check_choice("direction", direction, _DIRECTIONS)
    check_choice("sign", sign, _STRENGTH_SIGNS)
    if direction == "all" and sign == "net" and _undirected(g) is not None:
        return _shape(g, _undirected(g)[:, 1].copy())
    terms = {"net": ((2, 1), (3, -1)), "abs": ((2, 1), (3, 1)), "positive": ((2, 1),), "negative": ((3, 1),)}
    return _shape(g, channel_sum(node_sums(g), direction, terms[sign]))
