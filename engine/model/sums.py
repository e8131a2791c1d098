"""The one pass over the blocks that degree, strength and the edge count read: per-node sums of the kept
edges' four sign channels, memoised on the graph.

The in-sums of a node are the column sums of every block into its layer, its out-sums the row sums of every
block out of it (``kout_i = Σ_b rowsum(A_ab)_i``); in a chain, the in-sums of a layer-``l`` node are
column sums of block ``l-1`` and its out-sums row sums of block ``l``.
"""
from dataclasses import dataclass

from .. import config
from ..kernels.common import fold_four
from ..kernels.cpu.threads import blas_threads
from .blocks import ImplicitBlock


@dataclass(frozen=True)
class NodeSums:
    """Per-node sums of the four sign channels ``(A⁺, A⁻, W⁺, W⁻)``: arrays of shape (T, 4, N).

    ``in_sums[t, c, i]`` sums channel ``c`` over the edges into node ``i``, ``out_sums`` over the edges out.
    """

    in_sums: object
    out_sums: object


def block_pass(g, x_in, x_out, fold=None, merged=False):
    """Run the fused kernel over every block of ``g``.

    Parameters
    ----------
    g : LayeredGraph
    x_in : array, shape (T, N)
        Multiplies the source node of each edge: ``in_sums[t,c,j] = Σ_i B_c[t,i,j] x_in[t,i]``.
    x_out : array, shape (T, N)
        Multiplies the target node: ``out_sums[t,c,i] = Σ_j B_c[t,i,j] x_out[t,j]``.
    fold : {None, "count", "abs", "count+net"}
        ``None``: the four sign channels. ``"count"``: only ``A⁺ + A⁻``, ``"abs"``: only ``W⁺ + W⁻``, and
        the sums have shape (T, N): blocks that can (``folds = True``, the convolutions) compute just that
        sum, a quarter of the products of the four (k_nn's pass). ``"count+net"``: ``A⁺ + A⁻`` and
        ``W⁺ − W⁻``, shape (T, 2, N) (with ``merged``: the undirected degree and strength).
    merged : bool
        Add the in- and the out-sums of every node in one array (``in_sums is out_sums``): what k_nn's
        undirected view reads, without a second array of N sums and their addition.

    Returns
    -------
    NodeSums
        Sums of shape (T, 4, N), (T, N) with a one-channel ``fold``, (T, 2, N) with ``"count+net"``.
    """
    be = g.backend
    xp = be.xp
    T = g.blocks[0].shape[0]
    lead = {None: (T, 4), "count+net": (T, 2)}.get(fold, (T,))
    in_sums = xp.zeros(lead + (g.n_nodes,))
    out_sums = in_sums if merged else xp.zeros(lead + (g.n_nodes,))
    kernel = be.kernel("blockpass").block_matvec
    with blas_threads(config.PASS_BLAS_THREADS if be.name == "cpu" else None):
        for l, (W, (a, b)) in enumerate(zip(g.blocks, g.pairs)):
            _block_into(be, kernel, W, a, b, g, l, x_in, x_out, in_sums, out_sums, fold)
    return NodeSums(in_sums, out_sums)


def _block_into(be, kernel, W, a, b, g, l, x_in, x_out, in_sums, out_sums, fold):
    """Block ``l`` (layers ``a → b``) of the pass: its row sums added to ``out_sums`` of layer ``a``, its column
    sums to ``in_sums`` of layer ``b``."""
    xp = be.xp
    T, o = W.shape[0], g.offsets
    src, dst = slice(o[a], o[a + 1]), slice(o[b], o[b + 1])
    theta = xp.asarray(g.theta[l], dtype=xp.float64)
    x = (xp.ascontiguousarray(x_in[:, src]), xp.ascontiguousarray(x_out[:, dst]))
    if isinstance(W, ImplicitBlock) and W.folds:
        # a block that folds (convolution, pooling, diagonal) adds its sums in place: no temporary, no
        # separate addition (a ResNet-50 at 224×224 has 10M units, and a layer may have several blocks)
        W.block_matvec(theta, *x, out_sums[..., src], in_sums[..., dst], be, fold=fold, add=True)
        return
    row, col = xp.empty((T, 4, o[a + 1] - o[a])), xp.empty((T, 4, o[b + 1] - o[b]))
    if isinstance(W, ImplicitBlock):
        W.block_matvec(theta, *x, row, col, be)
    else:
        kernel(W, theta, *x, row, col)
    if fold:
        row, col = fold_four(row, fold), fold_four(col, fold)
    out_sums[..., src] += row
    in_sums[..., dst] += col


def node_sums(g):
    """Degree and strength channel sums of every node (memoised on the graph: blocks are read once)."""
    if "sums" not in g._cache:
        xp = g.backend.xp
        ones = xp.ones((g.blocks[0].shape[0], g.n_nodes))
        g._cache["sums"] = block_pass(g, ones, ones)
    return g._cache["sums"]
