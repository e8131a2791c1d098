"""Onnela weighted motif intensity totals of every layered motif class (Onnela et al. 2005).

The intensity of one motif instance ``g`` with edges ``e`` is the geometric mean of its edge magnitudes,
``I(g) = (Π_e |w_e|)^{1/|g|}``. Summed over the instances of a class it is the same closed form as the count
with ``X = |W|^{1/|g|}`` in place of the mask (element-wise, then products and power sums); the induced
classes (N, branches) subtract the instances whose missing slot is an edge, as for the counts. All
products run in float64 through ``xp.matmul`` (numpy BLAS or cuBLAS; never TF32). On a block DAG the 3-node
classes are :func:`dag_intensity3` and the 4-node ones :mod:`deepcnt.motifs.dag4_intensity`.
"""
import numpy as np

from ..backend import to_host
from ..model.graph import takes_graph
from . import classes as mc
from .dag4_intensity import dag_intensity4


def _e2(p1, p2):
    return (p1 * p1 - p2) / 2


def _e3(p1, p2, p3):
    return (p1 ** 3 - 3 * p1 * p2 + 2 * p3) / 6


@takes_graph(skips=True)
def motif_intensity(g, size=4, normalize=False):
    """Total Onnela intensity of every uncoloured motif class, per block and in total.

    On a block DAG (skip blocks, identities, sparse and diagonal blocks) the classes are those of
    :func:`deepcnt.motifs`: ``size=3`` gives the four 3-node classes, feed-forward loop included
    (:func:`dag_intensity3`); ``size=4`` adds the 24 four-node classes, the 14 that need a skip included
    (:func:`deepcnt.motifs.dag4_intensity.dag_intensity4`: the instances a class holds exactly, each at its own
    exponent ``1/|g|``, by inclusion–exclusion over its empty vertex pairs).

    .. math:: I_{class} = \\sum_{g \\in class} \\Big(\\prod_{e \\in g} |w_e|\\Big)^{1/|g|}, \\qquad
              \\mathrm{bifan}_l = \\tfrac14\\big[\\lVert XX^\\top\\rVert_F^2 - \\textstyle\\sum_i r_i^2
              - \\sum_j c_j^2 + \\sum X^4\\big],\\ X = |W_l|^{1/4}

    Parameters
    ----------
    g : LayeredGraph
        Kept edges ``|w| > θ``.
    size : {3, 4}
    normalize : bool
        Divide every weight by ``max |w|`` of its epoch first (Onnela's normalisation).

    Returns
    -------
    totals : dict
        Shape → float64, shape () or (T,). On a chain the 3 (``size=3``) or 13 layered classes; on a block DAG
        the 4 or 28 classes of :data:`deepcnt.motifs.classes.SHAPES_3_DAG` (+ ``SHAPES_4_DAG``).
    per_block : dict
        Shape → float64 array (L,) or (T, L), by the motif's lowest layer (``L = n_layers - 1``).

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[1.0, 16.0]]), np.array([[1.0], [1.0]])])
    >>> round(float(motif_intensity(g)[0]["fanout2"]), 6)
    4.0
    >>> d = deepcnt.LayeredGraph.from_blocks([1, 1, 1, 1], {(0, 1): [[2.0]], (1, 2): [[4.0]], (2, 3): [[1.0]],
    ...                                                     (0, 3): [[8.0]]})
    >>> round(float(motif_intensity(d)[0]["bypass4"]), 6)  # (2 · 4 · 1 · 8)^(1/4)
    2.828427
    """
    shapes = mc.shapes_for_size(size)
    xp = g.backend.xp
    L = g.n_blocks
    T = g.blocks[0].shape[0]
    W = []
    for l in range(L):
        w, th = g.kept_stack(l, "motif intensity")
        w = xp.abs(w.astype(xp.float64))
        th = xp.asarray(th, dtype=xp.float64)[:, None, None]
        W.append(xp.where(w > th, w, 0.0))
    if normalize:
        top = xp.stack([w.reshape(T, -1).max(axis=1) for w in W]).max(axis=0)
        top = xp.where(top > 0, top, 1.0)[:, None, None]
        W = [w / top for w in W]
    if not g.is_chain:
        per = dag_intensity3(g, W)
        if size == 4:
            per.update(dag_intensity4(g, W))
        return ({s: (v.sum(1) if g.stacked else v.sum(1)[0]) for s, v in per.items()},
                {s: (v if g.stacked else v[0]) for s, v in per.items()})
    A = [(w > 0).astype(xp.float64) for w in W]

    def pw(l, k):
        return W[l] ** (1.0 / k)

    per = {s: np.zeros((T, L)) for s in shapes}

    def put(s, l, v):
        per[s][:, l] = to_host(v)

    mm = xp.matmul
    for l in range(L):
        X2, X3, X4 = pw(l, 2), pw(l, 3), pw(l, 4)
        if "fanout2" in per:
            put("fanout2", l, _e2(X2.sum(2), (X2 ** 2).sum(2)).sum(1))
            put("fanin2", l, _e2(X2.sum(1), (X2 ** 2).sum(1)).sum(1))
        if "outstar3" in per:
            put("outstar3", l, _e3(X3.sum(2), (X3 ** 2).sum(2), (X3 ** 3).sum(2)).sum(1))
            put("instar3", l, _e3(X3.sum(1), (X3 ** 2).sum(1), (X3 ** 3).sum(1)).sum(1))
            G = mm(X4, X4.transpose(0, 2, 1)) if X4.shape[1] <= X4.shape[2] else mm(X4.transpose(0, 2, 1), X4)
            S2 = X4 ** 2
            put("bifan", l, ((G ** 2).sum((1, 2)) - (S2.sum(2) ** 2).sum(1) - (S2.sum(1) ** 2).sum(1)
                             + (S2 ** 2).sum((1, 2))) / 4)
            R, C = X3.sum(2), X3.sum(1)
            ni = (X3 * (R[:, :, None] - X3) * (C[:, None, :] - X3)).sum((1, 2))
            XA = mm(X3, A[l].transpose(0, 2, 1))
            XX = mm(X3, X3.transpose(0, 2, 1))
            SX = mm(X3 ** 2, X3.transpose(0, 2, 1))
            sub = (XA * XX - SX).sum((1, 2)) - (_diag(XA, xp) * _diag(XX, xp) - _diag(SX, xp)).sum(1)
            put("N", l, ni - sub)
        if l + 1 < L:
            Y2, Y3, Y4 = pw(l + 1, 2), pw(l + 1, 3), pw(l + 1, 4)
            if "chain3" in per:
                put("chain3", l, (X2.sum(1) * Y2.sum(2)).sum(1))
            if "y_in2out1" in per:
                put("y_in2out1", l, (_e2(X3.sum(1), (X3 ** 2).sum(1)) * Y3.sum(2)).sum(1))
                put("y_in1out2", l, (X3.sum(1) * _e2(Y3.sum(2), (Y3 ** 2).sum(2))).sum(1))
                P = mm(X4, Y4)
                put("diamond", l, ((P ** 2) - mm(X4 ** 2, Y4 ** 2)).sum((1, 2)) / 2)
                R = X3.sum(2)
                ni = (X3 * (R[:, :, None] - X3) * Y3.sum(2)[:, None, :]).sum((1, 2))
                sub = (mm(X3, A[l + 1]) * mm(X3, Y3) - mm(X3 ** 2, Y3)).sum((1, 2))
                put("src_branch", l, ni - sub)
                C, C2 = X3.sum(1), Y3.sum(1)
                ni = (Y3 * C[:, :, None] * (C2[:, None, :] - Y3)).sum((1, 2))
                sub = (mm(X3, Y3) * mm(A[l], Y3) - mm(X3, Y3 ** 2)).sum((1, 2))
                put("snk_branch", l, ni - sub)
        if l + 2 < L and "chain4" in per:
            Z3 = pw(l + 2, 3)
            put("chain4", l, (mm(pw(l, 3).sum(1)[:, None, :], pw(l + 1, 3)) [:, 0] * Z3.sum(2)).sum(1))
    totals = {s: (v.sum(1) if g.stacked else v.sum(1)[0]) for s, v in per.items()}
    blocks = {s: (v if g.stacked else v[0]) for s, v in per.items()}
    return totals, blocks


def dag_intensity3(g, W):
    """Intensity of ``chain3``, ``fanout2``, ``fanin2`` and ``ffl`` on a block DAG, by the motif's lowest layer.

    With ``X_k = |W|^{1/k}`` and the masks ``A`` of every block: the non-induced sums are the counts' degree
    forms with ``X_2`` in place of the mask; a feed-forward loop over layers ``p < q < r`` has intensity
    ``Σ X3_pr ∘ (X3_pq X3_qr)``, and the path, fan-out pair and fan-in pair it holds (not induced) are
    ``Σ A_pr ∘ (X2_pq X2_qr)``, ``Σ X2_pr ∘ (X2_pq A_qr)`` and ``Σ X2_pr ∘ (A_pq X2_qr)``.

    Parameters
    ----------
    g : LayeredGraph
    W : list of arrays (T, n_i, n_j), float64
        ``|w|`` of the kept edges of every block (0 elsewhere), in the order of ``g.pairs``.

    Returns
    -------
    dict {shape: ndarray (T, n_layers - 1)}
    """
    xp = g.backend.xp
    T, L = W[0].shape[0], g.n_layers - 1
    per = {s: np.zeros((T, L)) for s in mc.SHAPES_3_DAG}

    def add(s, p, v):
        per[s][:, p] += to_host(v)

    blk = dict(zip(g.pairs, W))
    out1 = [xp.zeros((T, n)) for n in g.sizes]  # Σ X2 over every out-edge of a node, and Σ X2²
    out2 = [xp.zeros((T, n)) for n in g.sizes]
    for (i, _), w in blk.items():
        X2 = xp.sqrt(w)
        out1[i] += X2.sum(2)
        out2[i] += w.sum(2)
    for (p, q), w in blk.items():
        add("chain3", p, (xp.sqrt(w).sum(1) * out1[q]).sum(1))
    for p in range(L):
        add("fanout2", p, _e2(out1[p], out2[p]).sum(1))
    for m in range(g.n_layers):  # fan-ins into layer m by the lower of their sources' layers
        srcs = sorted((p for p, j in blk if j == m), reverse=True)
        s1 = s2 = prev = 0
        for p in srcs:
            s1 = s1 + xp.sqrt(blk[(p, m)]).sum(1)
            s2 = s2 + blk[(p, m)].sum(1)
            cur = _e2(s1, s2).sum(1)
            add("fanin2", p, cur - prev)
            prev = cur
    mm = xp.matmul
    for (p, q), w1 in blk.items():
        for (q2, r), w2 in blk.items():
            if q2 != q or (p, r) not in blk:
                continue
            w3 = blk[(p, r)]
            A1, A2, A3 = ((x > 0).astype(xp.float64) for x in (w1, w2, w3))
            add("ffl", p, (w3 ** (1 / 3) * mm(w1 ** (1 / 3), w2 ** (1 / 3))).sum((1, 2)))
            add("chain3", p, -(A3 * mm(xp.sqrt(w1), xp.sqrt(w2))).sum((1, 2)))
            add("fanout2", p, -(xp.sqrt(w3) * mm(xp.sqrt(w1), A2)).sum((1, 2)))
            add("fanin2", p, -(xp.sqrt(w3) * mm(A1, xp.sqrt(w2))).sum((1, 2)))
    return per


def _diag(M, xp):
    return xp.diagonal(M, axis1=1, axis2=2)
