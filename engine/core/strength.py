"""Degree and strength: every direction and sign variant from one fused pass per block.

The in-variant of a node sums the columns of every block into its layer, its out-variant the rows of every
block out of it (a chain: column sums of block ``l-1``, row sums of block ``l``); skip blocks count like any
other.
"""
from ..errors import check_choice
from ..model.graph import takes_graph
from ..model.sums import block_pass  # noqa: F401  (the family's other modules use it from here)
from ..model.sums import node_sums as _node_sums

#: The per-node channel sums of the kept edges (``deepcnt.model.sums.node_sums``), for the public API.
node_sums = takes_graph(_node_sums, skips=True)

_DIRECTIONS = ("all", "in", "out")
_DEGREE_SIGNS = ("all", "positive", "negative")
_STRENGTH_SIGNS = ("net", "positive", "negative", "abs")


def _directed(sums, direction):
    if direction == "in":
        return sums.in_sums
    if direction == "out":
        return sums.out_sums
    return sums.in_sums + sums.out_sums


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
    s = _directed(node_sums(g), direction)
    k = s[:, 0] + s[:, 1] if sign == "all" else s[:, 0 if sign == "positive" else 1]
    return _shape(g, g.backend.xp.rint(k).astype(g.backend.xp.int64))


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
    s = _directed(node_sums(g), direction)
    if sign == "net":
        v = s[:, 2] - s[:, 3]
    elif sign == "abs":
        v = s[:, 2] + s[:, 3]
    else:
        v = s[:, 2 if sign == "positive" else 3]
    return _shape(g, v)
