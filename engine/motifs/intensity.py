"""Onnela weighted motif intensity totals of every layered motif class (Onnela et al. 2005).

The intensity of one motif instance ``g`` with edges ``e`` is the geometric mean of its edge magnitudes,
``I(g) = (Π_e |w_e|)^{1/|g|}``. Summed over the instances of a class it is the same closed form as the count
with ``X = |W|^{1/|g|}`` in place of the mask (element-wise, then products and power sums); the induced
classes (N, branches) subtract the instances whose missing slot is an edge, as for the counts. All
products run in float64 through ``xp.matmul`` (numpy BLAS or cuBLAS; never TF32).
"""
import numpy as np

from ..backend import to_host
from ..model.graph import takes_graph
from . import classes as mc


def _e2(p1, p2):
    return (p1 * p1 - p2) / 2


def _e3(p1, p2, p3):
    return (p1 ** 3 - 3 * p1 * p2 + 2 * p3) / 6


@takes_graph
def motif_intensity(g, size=4, normalize=False):
    """Total Onnela intensity of every uncoloured motif class, per block and in total.

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
        Shape → float64, shape () or (T,).
    per_block : dict
        Shape → float64 array (L,) or (T, L), by the motif's lowest layer.

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[1.0, 16.0]]), np.array([[1.0], [1.0]])])
    >>> round(float(motif_intensity(g)[0]["fanout2"]), 6)
    4.0
    """
    shapes = mc.shapes_for_size(size)
    xp = g.backend.xp
    L = g.n_blocks
    T = g.blocks[0].shape[0]
    W = []
    for l in range(L):
        w = xp.abs(g.block_stack(l, "motif intensity").astype(xp.float64))
        th = xp.asarray(g.theta[l], dtype=xp.float64)[:, None, None]
        W.append(xp.where(w > th, w, 0.0))
    if normalize:
        top = xp.stack([w.reshape(T, -1).max(axis=1) for w in W]).max(axis=0)
        top = xp.where(top > 0, top, 1.0)[:, None, None]
        W = [w / top for w in W]
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


def _diag(M, xp):
    return xp.diagonal(M, axis1=1, axis2=2)
