"""The motif classes that need only degree vectors: chain3, fan-out/in, stars, Ys and chain4.

These eight of the 13 layered shapes are closed forms in the (signed) in/out degree vectors of each layer plus,
for chain4, one masked mat-vec per block, so they run on any block the fused pass runs on — dense blocks and
implicit convolution blocks alike, without ever building edges. The Gram/path shapes (bi-fan, N,
diamond, branches) need explicit edges: :func:`deepcnt.motifs.counts.motifs` on dense graphs, or the channel view.

.. math::
    \\mathrm{chain3}_p = \\sum_{j\\in p+1} k^{in,a}_j k^{out,b}_j,\\quad
    \\mathrm{fanout2}_l = \\sum_{i \\in l} \\prod_c \\binom{k^{out,c}_i}{m_c},\\quad
    \\mathrm{chain4}_p = \\sum_{j \\in p+1} k^{in,a}_j \\,(A^b_{p+1} k^{out,c}_{p+2})_j

Counts of a coloured class (signed: colour 1 = ``+``, 2 = ``−``) use the masks and degree vectors of its
colours; names follow :mod:`deepcnt.motifs.classes`.
"""
from ..core.strength import block_pass, node_sums
from ..errors import InputError
from ..model.graph import takes_graph
from . import classes as mc
from .counts import MotifCounts

DEGREE_SHAPES = ("chain3", "fanout2", "fanin2", "outstar3", "instar3", "y_in2out1", "y_in1out2", "chain4")


def _binoms(k, cols, xp):
    """``Π_c C(k^c, m_c)`` over the colour multiset ``cols``; ``k[c]`` int64 arrays."""
    out = None
    for c in sorted(set(cols)):
        m = cols.count(c)
        x = k[c]
        term = x if m == 1 else (x * (x - 1) // 2 if m == 2 else x * (x - 1) * (x - 2) // 6)
        out = term if out is None else out * term
    return out


@takes_graph(instead="With skips the chain and fan counts hold feed-forward loops, which need explicit edges: "
             "count the 3-node classes (loops included) with motifs(g, size=3)")
def degree_motifs(g, size=4, signed=False, per_block=True):
    """Exact counts of the degree-vector motif classes of a layered graph (dense or implicit blocks).

    Chains only: with skip blocks a 3-node subgraph can be a feed-forward loop ``i→j→k, i→k`` that every
    degree-vector formula also counts (``Σ_j kin_j·kout_j`` holds the chains and the loops alike:
    ``chain3 = Σ kin·kout − FFL``), and the loops need explicit edges, which implicit blocks (the point of this
    function) do not give. On a block DAG count the classes with :func:`deepcnt.motifs.counts.motifs`.

    Parameters
    ----------
    g : LayeredGraph
        Edges are the kept weights ``|w| > θ``.
    size : {3, 4}
        3: chain3, fanout2, fanin2; 4: also outstar3, instar3, y_in2out1, y_in1out2, chain4.
    signed : bool
        Split every class by edge sign, as ``deepcnt.motifs.counts.motifs(signed=True)`` names them.
    per_block : bool

    Returns
    -------
    MotifCounts
        Same layout as :func:`deepcnt.motifs.counts.motifs` (``counts``, ``per_block`` by lowest layer), restricted
        to the shapes above. Equal to ``motifs(g)`` on those classes.

    Raises
    ------
    InputError
        A bad size; a graph that is not a chain (skip blocks), naming this function and what to use.
    """
    if size not in (3, 4):
        raise InputError(f"motif size must be 3 or 4, got {size!r}")
    xp = g.backend.xp
    s = node_sums(g)
    T, L = g.blocks[0].shape[0], g.n_blocks
    o = g.offsets

    def deg(a):
        return xp.rint(a).astype(xp.int64)

    if signed:
        kin = {1: deg(s.in_sums[:, 0]), 2: deg(s.in_sums[:, 1])}
        kout = {1: deg(s.out_sums[:, 0]), 2: deg(s.out_sums[:, 1])}
    else:
        kin = {1: deg(s.in_sums[:, 0] + s.in_sums[:, 1])}
        kout = {1: deg(s.out_sums[:, 0] + s.out_sums[:, 1])}
    k = 2 if signed else 1
    symbols = mc.symbols_for(k, signed)
    shapes = [sh for sh in DEGREE_SHAPES if size == 4 or mc.SHAPES[sh].size == 3]
    paths = {}  # colour of the last edge c -> block pass with x_out = kout^c (for chain4)

    def layer_sum(v, layer):
        return v[:, o[layer]:o[layer + 1]].sum(axis=1)

    names, shape_of, counts, pb = [], {}, {}, {}
    for shape in shapes:
        span = mc.SHAPES[shape].span
        for cols in mc.classes(shape, k):
            out = xp.zeros((T, L), dtype=xp.int64)
            for p in range(L - span + 1):
                if shape in ("fanout2", "outstar3"):
                    v = layer_sum(_binoms(kout, cols, xp), p)
                elif shape in ("fanin2", "instar3"):
                    v = layer_sum(_binoms(kin, cols, xp), p + 1)
                elif shape == "chain3":
                    v = layer_sum(kin[cols[0]] * kout[cols[1]], p + 1)
                elif shape == "y_in2out1":
                    v = layer_sum(_binoms(kin, cols[:2], xp) * kout[cols[2]], p + 1)
                elif shape == "y_in1out2":
                    v = layer_sum(kin[cols[0]] * _binoms(kout, cols[1:], xp), p + 1)
                else:  # chain4: i→j (a), j→k (b), k→h (c)
                    a, b, c = cols
                    if c not in paths:
                        x = kout[c].astype(xp.float64)
                        paths[c] = block_pass(g, x, x).out_sums
                    ch = paths[c][:, b - 1] if signed else paths[c][:, 0] + paths[c][:, 1]
                    v = layer_sum(kin[a] * deg(ch), p + 1)
                out[:, p] = v
            name = mc.class_name(shape, cols, symbols)
            names.append(name)
            shape_of[name] = shape
            tot = out.sum(axis=1)
            counts[name] = tot if g.stacked else tot[0]
            if per_block:
                pb[name] = out if g.stacked else out[0]
    return MotifCounts(tuple(names), shape_of, counts, pb, symbols)
