"""Exact 3-node motif census of a block DAG (skip blocks): the layered classes and the feed-forward loop.

In a DAG every connected 3-node subgraph is a path ``i→j→k``, a fan-out, a fan-in or a feed-forward loop
(``i→j, j→k, i→k``): two nodes never have edges both ways. With colour masks ``B^c`` of the whole adjacency,
the non-induced counts are closed forms in degree vectors, and each feed-forward loop contains exactly one
path, one fan-out pair and one fan-in pair, so

.. math::
    \\mathrm{ffl}_{abc} = \\sum_{ik} B^c_{ik} (B^a B^b)_{ik}, \\qquad
    \\mathrm{chain3}_{ab} = \\sum_j k^{in,a}_j k^{out,b}_j - \\sum_c \\mathrm{ffl}_{abc},

and the fans are the pairs of edges out of (into) one node less the loops whose fan-out (fan-in) pair has
those colours. Block by block: ``B^a B^b`` is one GEMM per layer triple ``p < q < r`` with blocks on
``(p, q)``, ``(q, r)`` and ``(p, r)``. Every count is split by the motif's lowest layer (its source's layer).
"""
import numpy as np

from .. import config
from ..backend import to_host
from . import classes as mc


def dag_census3(g, codes, k):
    """Counts of every class of ``chain3``, ``fanout2``, ``fanin2`` and ``ffl`` on a block DAG, in batches
    of epochs whose colour masks fit ``config.MOTIF_MASK_BUDGET`` (as the chain census).

    Parameters
    ----------
    g : LayeredGraph
    codes : list of int8 arrays, shape (T, n_i, n_j)
        Colour code of every slot of every block (:func:`deepcnt.motifs.counts.edge_code_blocks`).
    k : int
        Number of colours.

    Returns
    -------
    dict
        ``{(shape, colours): int64 array (T, L)}`` (host), ``L = n_layers - 1``: the count of the motifs whose
        lowest layer is ``l``.
    """
    return census_in_batches(g, codes, k, 4, _census_batch)


def census_in_batches(g, codes, k, bytes_per_slot, census_batch):
    """``census_batch(g, codes, k)`` over batches of epochs whose masks (``bytes_per_slot · k`` bytes per slot of
    every block) fit ``config.MOTIF_MASK_BUDGET``; its ``{key: int64 array (T_batch, ...)}`` joined over ``T``."""
    T = codes[0].shape[0]
    slots = sum(int(c.shape[1]) * int(c.shape[2]) for c in codes)
    batch = max(1, int(config.MOTIF_MASK_BUDGET // max(1, bytes_per_slot * k * slots)))
    result = {}
    for t0 in range(0, T, batch):
        part = census_batch(g, [c[t0:t0 + batch] for c in codes], k)
        for key, v in part.items():
            result.setdefault(key, np.zeros((T,) + v.shape[1:], dtype=np.int64))[t0:t0 + batch] = v
    return result


def _census_batch(g, codes, k):
    """:func:`dag_census3` for one batch of epochs."""
    be = g.backend
    xp = be.xp
    kern = be.kernel("motifs")
    T = codes[0].shape[0]
    L = g.n_layers - 1
    masks = {}
    for (i, j), c in zip(g.pairs, codes):
        B = xp.empty((T, k) + tuple(c.shape[1:]), dtype=xp.float32)
        kern.color_masks(c, B)
        masks[(i, j)] = B

    def degrees(B, axis):
        return xp.rint(B.sum(axis=axis, dtype=xp.float64)).astype(xp.int64)

    kout = [xp.zeros((T, k, n), dtype=xp.int64) for n in g.sizes]  # out-degree per colour, every block
    kin_from = [dict() for _ in g.sizes]  # kin_from[m][p]: in-degree per colour from layer p, (T, k, n_m)
    for (i, j), B in masks.items():
        kout[i] += degrees(B, 3)
        kin_from[j][i] = degrees(B, 2)

    out = {}

    def add(shape, cols, p, val):
        arr = out.setdefault((shape, cols), np.zeros((T, L), dtype=np.int64))
        arr[:, p] += np.rint(to_host(val)).astype(np.int64)

    # non-induced counts (the loops are subtracted below)
    for (p, q), _ in masks.items():  # paths p -> q -> r, lowest layer p
        kin = kin_from[q][p]
        for a in range(1, k + 1):
            for b in range(1, k + 1):
                add("chain3", (a, b), p, (kin[:, a - 1] * kout[q][:, b - 1]).sum(axis=1))
    fans = mc.classes("fanout2", k)  # sorted colour pairs, the same for fan-ins
    for p in range(L):
        for cols in fans:
            add("fanout2", cols, p, mc.edge_choices(kout[p], list(cols)).sum(axis=1))
    for m, by_src in enumerate(kin_from):  # fan-in pairs into layer m, by the lower of their sources' layers
        suffix, prev = None, {cols: 0 for cols in fans}
        for p in sorted(by_src, reverse=True):
            suffix = by_src[p] if suffix is None else suffix + by_src[p]
            for cols in fans:
                cur = mc.edge_choices(suffix, list(cols)).sum(axis=1)
                add("fanin2", cols, p, cur - prev[cols])
                prev[cols] = cur
    # feed-forward loops, by colour (a, b, c) of i→j, j→k, i→k
    ffl = {}
    for (p, q), Bpq in masks.items():
        for (q2, r), Bqr in masks.items():
            if q2 != q or (p, r) not in masks:
                continue
            Bpr = masks[(p, r)].astype(xp.float64)
            for a in range(1, k + 1):
                for b in range(1, k + 1):
                    P = xp.matmul(Bpq[:, a - 1], Bqr[:, b - 1])  # exact in float32: entries <= n_q < 2^24
                    per_c = xp.einsum("tuw,tcuw->tc", P.astype(xp.float64), Bpr)
                    for c in range(1, k + 1):
                        add("ffl", (a, b, c), p, per_c[:, c - 1])
                        ffl.setdefault(p, []).append(((a, b, c), per_c[:, c - 1]))
    for cols in mc.classes("ffl", k):
        out.setdefault(("ffl", cols), np.zeros((T, L), dtype=np.int64))
    # induced counts: every loop holds one path (a, b), one fan-out pair {a, c} and one fan-in pair {c, b}
    for p, loops in ffl.items():
        for (a, b, c), v in loops:
            add("chain3", (a, b), p, -v)
            add("fanout2", tuple(sorted((a, c))), p, -v)
            add("fanin2", tuple(sorted((c, b))), p, -v)
    for s in mc.SHAPES_3:
        for cols in mc.classes(s, k):
            out.setdefault((s, cols), np.zeros((T, L), dtype=np.int64))
    return out


def _slot_prob(mb, N, cols, null):
    """Probability that distinct slots of one block have the colours ``cols`` under the null: ``mb[c]`` slots
    of colour ``c`` (``c = 0``: no edge) among ``N``. Permutation: falling factorials; Bernoulli: a product."""
    p = 1.0
    if null == "permutation":
        if N < len(cols):
            return 0.0
        for c in set(cols):
            for i in range(cols.count(c)):
                p *= mb[c] - i
        for i in range(len(cols)):
            p /= N - i
        return p
    for c in cols:
        p *= mb[c] / N
    return p


def dag_expected3(sizes, pairs, m, k, null):
    """Exact expectations of every 3-node class of a block DAG under the permutation or Bernoulli null (each
    block randomised independently), for one epoch.

    Non-induced counts are sums over slot tuples whose probability is a product over blocks
    (:func:`_slot_prob`); the induced classes follow by linearity, as in :func:`dag_census3`.

    Parameters
    ----------
    sizes : sequence of int
    pairs : sequence of (i, j), the blocks' layer pairs
    m : array, shape (n_blocks, k + 1): ``m[b, c]`` slots of colour ``c`` in block ``b`` (``c = 0``: no edge)
    k : int
    null : {"permutation", "bernoulli"}

    Returns
    -------
    dict {(shape, colours): float}
    """
    n = [int(x) for x in sizes]
    idx = {p: b for b, p in enumerate(pairs)}
    N = {p: n[p[0]] * n[p[1]] for p in pairs}

    def q(pair, *cols):
        return _slot_prob(m[idx[pair]], N[pair], list(cols), null)

    out = {(s, cols): 0.0 for s in mc.SHAPES_3_DAG for cols in mc.classes(s, k)}
    colours = range(1, k + 1)
    fans = mc.classes("fanout2", k)
    for (p, j) in pairs:
        for (j2, r) in pairs:
            if j2 != j:
                continue
            n3 = n[p] * n[j] * n[r]
            for a in colours:
                for b in colours:
                    out[("chain3", (a, b))] += n3 * q((p, j), a) * q((j, r), b)
                    if (p, r) not in idx:
                        continue
                    for c in colours:
                        f = n3 * q((p, j), a) * q((j, r), b) * q((p, r), c)
                        out[("ffl", (a, b, c))] += f
                        out[("chain3", (a, b))] -= f
                        out[("fanout2", tuple(sorted((a, c))))] -= f
                        out[("fanin2", tuple(sorted((c, b))))] -= f
    for (p, j) in pairs:  # both edges of a fan in one block
        for x, y in fans:
            w = (1 if x == y else 2) * q((p, j), x, y)
            out[("fanout2", (x, y))] += n[p] * (n[j] * (n[j] - 1) // 2) * w
            out[("fanin2", (x, y))] += (n[p] * (n[p] - 1) // 2) * n[j] * w
    for b1, (p, j) in enumerate(pairs):  # the two edges in two blocks
        for (p2, j2) in pairs[b1 + 1:]:
            for x, y in fans:
                if p2 == p:  # fan-out from layer p into layers j < j2
                    v = q((p, j), x) * q((p2, j2), y) + (x != y) * q((p, j), y) * q((p2, j2), x)
                    out[("fanout2", (x, y))] += n[p] * n[j] * n[j2] * v
                if j2 == j:  # fan-in to layer j from layers p < p2
                    v = q((p, j), x) * q((p2, j2), y) + (x != y) * q((p, j), y) * q((p2, j2), x)
                    out[("fanin2", (x, y))] += n[p] * n[p2] * n[j] * v
    return out
