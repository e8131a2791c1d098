"""Degree and strength: every direction and sign variant from one fused pass per block (spec §1).

The in-variant of a layer-``l`` node is a column sum of block ``l-1``, its out-variant a row sum of block ``l``
(0-based blocks); blocks that do not exist count as zero.
"""
from dataclasses import dataclass

from .errors import InputError
from .graph import ImplicitBlock, takes_graph

_DIRECTIONS = ("all", "in", "out")
_DEGREE_SIGNS = ("all", "positive", "negative")
_STRENGTH_SIGNS = ("net", "positive", "negative", "abs")


@dataclass(frozen=True)
class NodeSums:
    """Per-node sums of the four sign channels ``(A⁺, A⁻, W⁺, W⁻)``: arrays of shape (T, 4, N).

    ``in_sums[t, c, i]`` sums channel ``c`` over the edges into node ``i``, ``out_sums`` over the edges out.
    """

    in_sums: object
    out_sums: object


def block_pass(g, x_in, x_out):
    """Run the fused kernel over every block of ``g``.

    Parameters
    ----------
    g : LayeredGraph
    x_in : array, shape (T, N)
        Multiplies the source node of each edge: ``in_sums[t,c,j] = Σ_i B_c[t,i,j] x_in[t,i]``.
    x_out : array, shape (T, N)
        Multiplies the target node: ``out_sums[t,c,i] = Σ_j B_c[t,i,j] x_out[t,j]``.

    Returns
    -------
    NodeSums
    """
    be = g.backend
    xp = be.xp
    T = g.blocks[0].shape[0]
    o = g.offsets
    in_sums = xp.zeros((T, 4, g.n_nodes))
    out_sums = xp.zeros((T, 4, g.n_nodes))
    kernel = be.kernel("blockpass").block_matvec
    for l, W in enumerate(g.blocks):
        src, dst = slice(o[l], o[l + 1]), slice(o[l + 1], o[l + 2])
        theta = xp.asarray(g.theta[l], dtype=xp.float64)
        row = xp.empty((T, 4, o[l + 1] - o[l]))
        col = xp.empty((T, 4, o[l + 2] - o[l + 1]))
        args = (theta, xp.ascontiguousarray(x_in[:, src]), xp.ascontiguousarray(x_out[:, dst]), row, col)
        if isinstance(W, ImplicitBlock):
            W.block_matvec(*args, be)
        else:
            kernel(W, *args)
        out_sums[:, :, src] = row
        in_sums[:, :, dst] = col
    return NodeSums(in_sums, out_sums)


@takes_graph
def node_sums(g):
    """Degree and strength channel sums of every node (memoised on the graph: blocks are read once)."""
    if "sums" not in g._cache:
        xp = g.backend.xp
        ones = xp.ones((g.blocks[0].shape[0], g.n_nodes))
        g._cache["sums"] = block_pass(g, ones, ones)
    return g._cache["sums"]


def _check(name, value, allowed):
    if value not in allowed:
        raise InputError(f"unknown {name} {value!r}: use one of {', '.join(map(repr, allowed))}")


def _directed(sums, direction):
    if direction == "in":
        return sums.in_sums
    if direction == "out":
        return sums.out_sums
    return sums.in_sums + sums.out_sums


def _shape(g, a):
    return a if g.stacked else a[0]


@takes_graph
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
    _check("direction", direction, _DIRECTIONS)
    _check("sign", sign, _DEGREE_SIGNS)
    s = _directed(node_sums(g), direction)
    k = s[:, 0] + s[:, 1] if sign == "all" else s[:, 0 if sign == "positive" else 1]
    return _shape(g, g.backend.xp.rint(k).astype(g.backend.xp.int64))


@takes_graph
def strength(g, direction="all", sign="net"):
    """Strength of every node: the sum of its kept edges' weights (spec §1).

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
        Accumulated in float64 whatever the weights' dtype (spec §0, "Dtypes").

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[0.5, -1.0], [2.0, 0.25]])])
    >>> deepcnt.strength(g).tolist()
    [-0.5, 2.25, 2.5, -0.75]
    """
    _check("direction", direction, _DIRECTIONS)
    _check("sign", sign, _STRENGTH_SIGNS)
    s = _directed(node_sums(g), direction)
    if sign == "net":
        v = s[:, 2] - s[:, 3]
    elif sign == "abs":
        v = s[:, 2] + s[:, 3]
    else:
        v = s[:, 2 if sign == "positive" else 3]
    return _shape(g, v)
