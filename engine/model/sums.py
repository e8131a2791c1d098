"""The one pass over the blocks that degree, strength and the edge count read: per-node sums of the kept
edges' four sign channels, memoised on the graph.

The in-sums of a node are the column sums of every block into its layer, its out-sums the row sums of every
block out of it (``kout_i = Σ_b rowsum(A_ab)_i``); in a chain, the in-sums of a layer-``l`` node are
column sums of block ``l-1`` and its out-sums row sums of block ``l``.
"""
from dataclasses import dataclass

from .blocks import ImplicitBlock


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
    for l, (W, (a, b)) in enumerate(zip(g.blocks, g.pairs)):
        src, dst = slice(o[a], o[a + 1]), slice(o[b], o[b + 1])
        theta = xp.asarray(g.theta[l], dtype=xp.float64)
        row = xp.empty((T, 4, o[a + 1] - o[a]))
        col = xp.empty((T, 4, o[b + 1] - o[b]))
        args = (theta, xp.ascontiguousarray(x_in[:, src]), xp.ascontiguousarray(x_out[:, dst]), row, col)
        if isinstance(W, ImplicitBlock):
            W.block_matvec(*args, be)
        else:
            kernel(W, *args)
        out_sums[:, :, src] += row  # a layer may have several blocks out of it (or into it)
        in_sums[:, :, dst] += col
    return NodeSums(in_sums, out_sums)


def node_sums(g):
    """Degree and strength channel sums of every node (memoised on the graph: blocks are read once)."""
    if "sums" not in g._cache:
        xp = g.backend.xp
        ones = xp.ones((g.blocks[0].shape[0], g.n_nodes))
        g._cache["sums"] = block_pass(g, ones, ones)
    return g._cache["sums"]
