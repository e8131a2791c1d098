"""Per-node motif participation: how many instances of each uncoloured class every node belongs to.

Each shape's count splits by the role a node plays; every role has a closed form in degree vectors, GEMVs and
the block products already used for the counts, e.g. chains through ``j``: ``kin_j kout_j``; bi-fans of
source ``i``: ``Σ_{i'≠i} C2((AAᵀ)_{ii'})``; diamonds with apex ``i``: ``Σ_k C2(P_{ik})``, ``P = A_l A_{l+1}``.
The induced roles of N and the branches subtract the bi-fans and diamonds that contain the node in the matching role.
Products run in float64 through ``xp.matmul``; results are exact integers below 2^53.
"""
import numpy as np

from ..backend import to_host
from ..model.graph import takes_graph
from . import classes as mc


def _c2(x):
    return x * (x - 1) / 2


def _c3(x):
    return x * (x - 1) * (x - 2) / 6


@takes_graph(skips=True)
def motif_participation(g, size=4):
    """Number of motif instances of every uncoloured class that contain each node.

    On a block DAG ``size=3`` gives the four 3-node classes, feed-forward loop included
    (:func:`dag_participation3`); ``size=4`` adds the 24 four-node classes
    (:func:`deepcnt.motifs.dag4.dag_participation4`).

    .. math:: \\sum_v \\mathrm{part}_v(\\mathrm{class}) = |\\mathrm{class}| \\cdot \\mathrm{count}(\\mathrm{class})

    Parameters
    ----------
    g : LayeredGraph
    size : {3, 4}

    Returns
    -------
    dict
        Shape → int64 array, shape (N,) or (T, N), in node order.

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.ones((1, 2)), np.ones((2, 1))])
    >>> motif_participation(g)["diamond"].tolist()
    [1, 1, 1, 1]
    """
    shapes = mc.shapes_for_size(size)
    xp = g.backend.xp
    L = g.n_blocks
    T = g.blocks[0].shape[0]
    o = g.offsets
    A = []
    for l in range(L):
        w, th = g.kept_stack(l, "motif participation")
        th = xp.asarray(th, dtype=xp.float64)[:, None, None]
        A.append((xp.abs(w) > th).astype(xp.float64))
    if not g.is_chain:
        out = dag_participation3(g, A)
        if size == 4:
            from .dag4 import dag_participation4

            out.update(dag_participation4(g, A))
    else:
        out = _chain_participation(g, A, shapes)
    res = {}
    for s, v in out.items():
        a = np.rint(to_host(v)).astype(np.int64)
        res[s] = a if g.stacked else a[0]
    return res


def dag_participation3(g, A):
    """Per-node participation in ``chain3``, ``fanout2``, ``fanin2`` and ``ffl`` on a block DAG.

    Every role's non-induced count is a degree form over all blocks; a feed-forward loop over layers
    ``p < q < r`` (masks ``M = A_pq``, ``N = A_qr``, ``S = A_pr``) has sources ``rowsum(S ∘ MN)``, sinks
    ``colsum(S ∘ MN)`` and middles ``colsum(M ∘ S Nᵀ)``, and holds one path (source, middle, sink), one fan-out
    pair (centre: its source; leaves: middle and sink) and one fan-in pair (centre: its sink; leaves: source and
    middle), which are subtracted from those roles.

    Parameters
    ----------
    g : LayeredGraph
    A : list of 0/1 float64 arrays (T, n_i, n_j), the kept edges of every block in the order of ``g.pairs``

    Returns
    -------
    dict {shape: array (T, N)} (on the graph's device)
    """
    xp = g.backend.xp
    mm = xp.matmul
    T, o = A[0].shape[0], g.offsets
    out = {s: xp.zeros((T, g.n_nodes)) for s in mc.SHAPES_3_DAG}
    blk = dict(zip(g.pairs, A))

    def mv(M, v):
        return mm(M, v[:, :, None])[:, :, 0]

    def tr(M):
        return M.transpose(0, 2, 1)

    kout = [xp.zeros((T, n)) for n in g.sizes]
    kin = [xp.zeros((T, n)) for n in g.sizes]
    for (i, j), B in blk.items():
        kout[i] += B.sum(2)
        kin[j] += B.sum(1)

    def add(s, layer, v):
        out[s][:, o[layer]:o[layer + 1]] += v

    for m in range(g.n_layers):
        add("chain3", m, kin[m] * kout[m])  # middles
        add("fanout2", m, _c2(kout[m]))  # centres
        add("fanin2", m, _c2(kin[m]))
    for (i, j), B in blk.items():
        add("chain3", i, mv(B, kout[j]))  # sources: paths i -> j -> k
        add("chain3", j, mv(tr(B), kin[i]))  # sinks: paths h -> i -> j
        add("fanout2", j, mv(tr(B), kout[i] - 1))  # leaves
        add("fanin2", i, mv(B, kin[j] - 1))
    for (p, q), M in blk.items():
        for (q2, r), N in blk.items():
            if q2 != q or (p, r) not in blk:
                continue
            S = blk[(p, r)]
            F = S * mm(M, N)
            src, snk, mid = F.sum(2), F.sum(1), (M * mm(S, tr(N))).sum(1)
            add("ffl", p, src)
            add("ffl", q, mid)
            add("ffl", r, snk)
            for s in ("chain3", "fanout2", "fanin2"):  # every loop holds one of each, all three nodes in it
                add(s, p, -src)
                add(s, q, -mid)
                add(s, r, -snk)
    return out


def _chain_participation(g, A, shapes):
    """:func:`motif_participation` of a chain: {shape: array (T, N)}."""
    xp = g.backend.xp
    L = g.n_blocks
    T = g.blocks[0].shape[0]
    o = g.offsets
    out = {s: xp.zeros((T, g.n_nodes)) for s in shapes}
    mm = xp.matmul

    def mv(M, v):  # (T,n,m) @ (T,m) -> (T,n)
        return mm(M, v[:, :, None])[:, :, 0]

    def tr(M):
        return M.transpose(0, 2, 1)

    def add(s, layer, v):
        if s in out:
            out[s][:, o[layer]:o[layer + 1]] += v

    for l in range(L):
        B = A[l]
        r, c = B.sum(2), B.sum(1)
        add("fanout2", l, _c2(r))
        add("fanout2", l + 1, mv(tr(B), r - 1))
        add("fanin2", l + 1, _c2(c))
        add("fanin2", l, mv(B, c - 1))
        if "bifan" in out:
            add("outstar3", l, _c3(r))
            add("outstar3", l + 1, mv(tr(B), _c2(r - 1)))
            add("instar3", l + 1, _c3(c))
            add("instar3", l, mv(B, _c2(c - 1)))
            G, H = mm(B, tr(B)), mm(tr(B), B)
            bs = _c2(G).sum(2) - _c2(xp.diagonal(G, axis1=1, axis2=2))  # bi-fans per source (i' ≠ i)
            bt = _c2(H).sum(2) - _c2(xp.diagonal(H, axis1=1, axis2=2))
            add("bifan", l, bs)
            add("bifan", l + 1, bt)
            # N: i1 (two out-edges) + i2 (one) at the sources, j2 (two in-edges) + j1 (one) at the targets
            n_src = (r - 1) * mv(B, c - 1) + mv(B, mv(tr(B), r - 1)) - r * (r - 1) - 4 * bs
            n_tgt = (c - 1) * mv(tr(B), r - 1) + mv(tr(B), mv(B, c - 1)) - c * (c - 1) - 4 * bt
            add("N", l, n_src)
            add("N", l + 1, n_tgt)
        if l + 1 < L:
            C = A[l + 1]
            kin, kout = c, C.sum(2)  # middle layer l+1
            add("chain3", l + 1, kin * kout)
            add("chain3", l, mv(B, kout))
            add("chain3", l + 2, mv(tr(C), kin))
            if "bifan" not in out:
                continue
            add("y_in2out1", l + 1, _c2(kin) * kout)
            add("y_in2out1", l, mv(B, (kin - 1) * kout))
            add("y_in2out1", l + 2, mv(tr(C), _c2(kin)))
            add("y_in1out2", l + 1, kin * _c2(kout))
            add("y_in1out2", l, mv(B, _c2(kout)))
            add("y_in1out2", l + 2, mv(tr(C), kin * (kout - 1)))
            P = mm(B, C)
            d_top, d_bot = _c2(P).sum(2), _c2(P).sum(1)
            d_mid = (B * mm(P, tr(C))).sum(1) - kin * kout
            add("diamond", l, d_top)
            add("diamond", l + 1, d_mid)
            add("diamond", l + 2, d_bot)
            r0, c2 = r, C.sum(1)  # out-degree of layer l (in block l), in-degree of layer l+2
            Bk = mv(B, kout)
            add("src_branch", l, (r0 - 1) * Bk - 2 * d_top)
            add("src_branch", l + 1, mv(tr(B), Bk) - kin * kout - d_mid)          # j1
            add("src_branch", l + 1, mv(tr(B), r0 - 1) * kout - d_mid)            # j2
            add("src_branch", l + 2, mv(tr(C), mv(tr(B), r0 - 1)) - 2 * d_bot)
            Ck = mv(tr(C), kin)
            add("snk_branch", l + 2, (c2 - 1) * Ck - 2 * d_bot)
            add("snk_branch", l + 1, mv(C, Ck) - kout * kin - d_mid)              # j1
            add("snk_branch", l + 1, mv(C, c2 - 1) * kin - d_mid)                 # j2
            add("snk_branch", l, mv(B, mv(C, c2 - 1)) - 2 * d_top)
        if l + 2 < L and "chain4" in out:
            C, D = A[l + 1], A[l + 2]
            u, v = c, D.sum(2)
            Cv, Cu = mv(C, v), mv(tr(C), u)
            add("chain4", l, mv(B, Cv))
            add("chain4", l + 1, u * Cv)
            add("chain4", l + 2, Cu * v)
            add("chain4", l + 3, mv(tr(D), Cu))
    return out
