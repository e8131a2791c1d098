"""Exact Onnela intensity of the 24 four-node classes of a block DAG (the census of :mod:`.dag4`, weighted).

The intensity of an instance of a class ``P`` with ``|P|`` edges is ``Π_e |w_e|^{1/|P|}``. With ``X = |W|^{1/|P|}``
on the kept edges, the sum over the node tuples that hold ``P`` *exactly* (an induced copy) is an
inclusion–exclusion over the vertex pairs ``F`` that are not edges of ``P``: each such pair must be empty, a
factor ``1 − A`` (``A``: the 0/1 mask of the kept edges, whichever way the layers orient the pair),

.. math:: I(P) = \\frac{1}{|\\mathrm{Aut}\\,P|} \\sum_{F} (-1)^{|F|} \\sum_{o} \\mathrm{inj}\\big(P_X \\cup F^o_A\\big),

over the orientations ``o`` of ``F`` that keep ``P ∪ F`` acyclic (an edge goes up the layers, so a cyclic
orientation has no instance). ``inj(H)`` sums over the injective maps of the template ``H`` the product of its
edges' factors: ``X`` on the edges of ``P``, the mask on the added ones. (The counts' supergraph subtraction does
not carry over: an instance of a denser class ``Q ⊃ P`` enters ``P``'s non-induced sum with the weights of ``P``'s
edges at ``P``'s exponent, which is not ``Q``'s intensity. Here every term keeps ``P``'s exponent on ``P``'s edges
and the edges a denser class adds are 0/1 factors.)

``inj`` is :func:`.dag4.quotients`' Möbius inversion over the vertex partitions, with one change: edges that a
partition merges multiply their factors, so a merged edge carries ``|W|^{p}`` with ``p`` the sum of its edges'
exponents (``1/|P|`` for an edge of ``P``, 0 for a mask: ``|W|^0`` on the kept edges *is* the mask). Each
quotient's homomorphism sum is a contraction along the layer assignments of its vertices (:func:`.dag4._contract`,
chains of GEMMs), split by the lowest layer of the image as the counts are.
"""
import functools
import itertools
from fractions import Fraction

import numpy as np

from .. import config
from ..backend import to_host
from . import classes as mc
from .dag4 import _COLOUR_LETTERS, _LETTERS, _contract, _Products, chunk_operands, layer_assignments, quotients


#: A class whose alternating sum is within this fraction of the sum of its terms' magnitudes is reported as 0:
#: a class with no instance leaves a residue of about one unit of float64 rounding (measured on random block
#: DAGs), and below this the sum cannot tell a total from rounding.
ROUNDING = 256 * np.finfo(np.float64).eps


def _acyclic(edges):
    """Whether the digraph with these edges (vertices ``0..3``) has no directed cycle."""
    left = {v for e in edges for v in e}
    while left:
        src = [v for v in left if not any(b == v and a in left for a, b in edges)]
        if not src:
            return False
        left -= set(src)
    return True


@functools.lru_cache(maxsize=None)
def closures(shape):
    """The terms of the inclusion–exclusion over the empty pairs of ``shape``: ``[(added edges, sign)]``, every
    subset ``F`` of the vertex pairs that are not edges, in every orientation that keeps the template acyclic,
    with sign ``(-1)^{|F|}``."""
    edges = mc.EDGES[shape]
    free = [(a, b) for a, b in itertools.combinations(range(4), 2) if (a, b) not in edges and (b, a) not in edges]
    out = []
    for r in range(len(free) + 1):
        for F in itertools.combinations(free, r):
            for flips in itertools.product((False, True), repeat=r):
                added = tuple((b, a) if f else (a, b) for (a, b), f in zip(F, flips))
                if _acyclic(edges + added):
                    out.append((added, (-1) ** r))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def weighted_quotients(shape, added):
    """The Möbius terms of ``inj`` of ``shape``'s template (factor ``|W|^{1/|P|}``) with the mask edges ``added``:
    ``[(μ, canonical quotient)]``, a quotient being the sorted ``((a, b, exponent), ...)`` of its edges, each
    exponent the sum of those of the template edges merged into it, relabelled to its smallest form."""
    edges = mc.EDGES[shape]
    alpha = Fraction(1, len(edges))
    out = []
    for mu, qedges, image, _ in quotients(edges + added):
        p = [Fraction(0)] * len(qedges)
        for e, q in enumerate(image):
            if e < len(edges):
                p[q] += alpha
        out.append((mu, _canonical(tuple((a, b, x) for (a, b), x in zip(qedges, p)))))
    return tuple(out)


def _canonical(typed):
    n = 1 + max(max(a, b) for a, b, _ in typed)
    return min(tuple(sorted((s[a], s[b], x) for a, b, x in typed)) for s in itertools.permutations(range(n)))


class _WeightedHom:
    """Homomorphism sums of weighted templates into one batch of epochs, memoised by template."""

    def __init__(self, g, W, xp):
        self.g, self.W, self.xp = g, dict(zip(g.pairs, W)), xp
        self.T = W[0].shape[0]
        self.powers, self.memo = {}, {}
        self.products = _Products()

    def factor(self, pair, p):
        """``|W|^p`` on the kept edges of a block, 0 elsewhere (p = 0: the mask): (T, 1, n_i, n_j)."""
        if (pair, p) not in self.powers:
            w = self.W[pair]
            x = (w > 0).astype(self.xp.float64) if p == 0 else w ** float(p)
            self.powers[(pair, p)] = x[:, None]
        return self.powers[(pair, p)]

    def __call__(self, typed):
        """The sum over every map of the template's vertices to nodes of the product of its edges' factors:
        float64 (T, n_layers) (host), split by the lowest layer of the image."""
        if typed in self.memo:
            return self.memo[typed]
        g, T = self.g, self.T
        edges = tuple((a, b) for a, b, _ in typed)
        n = 1 + max(max(e) for e in edges)
        out = np.zeros((T, g.n_layers))
        spec = (",".join("t" + _COLOUR_LETTERS[q] + _LETTERS[a] + _LETTERS[b] for q, (a, b) in enumerate(edges))
                + "->t" + _COLOUR_LETTERS[:len(edges)])
        for assign in layer_assignments(n, edges, g.pairs, g.n_layers):
            pairs = [(assign[a], assign[b]) for a, b in edges]
            ops = [self.factor(pair, x) for pair, (_, _, x) in zip(pairs, typed)]
            names = [(pair, x) for pair, (_, _, x) in zip(pairs, typed)]
            for _, part, nm in chunk_operands(ops, names, edges, assign, g.sizes, 1):
                val = _contract(spec, part, self.xp, nm, self.products)
                out[:, min(assign)] += np.asarray(to_host(val)).reshape(T)
        self.memo[typed] = out
        return out


def dag_intensity4(g, W):
    """Onnela intensity of every 4-node class of a block DAG (:data:`deepcnt.motifs.classes.SHAPES_4_DAG`), by
    the motif's lowest layer.

    .. math:: I(P) = \\sum_{S:\\ G[S] \\cong P} \\prod_{e \\in G[S]} |w_e|^{1/|P|}
              = \\frac{1}{|\\mathrm{Aut}\\,P|} \\sum_{F} (-1)^{|F|} \\sum_{o} \\mathrm{inj}\\big(P_X \\cup F^o_A\\big)

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
    T = W[0].shape[0]
    slots = sum(int(w.shape[1]) * int(w.shape[2]) for w in W)
    # the kept powers of every block (about a dozen exponents) within the budget
    batch = max(1, int(config.MOTIF_MASK_BUDGET // max(1, 8 * 16 * slots)))
    per = {s: np.zeros((T, g.n_layers - 1)) for s in mc.SHAPES_4_DAG}
    for t0 in range(0, T, batch):
        hom = _WeightedHom(g, [w[t0:t0 + batch] for w in W], xp)
        for s in mc.SHAPES_4_DAG:
            tot = mag = 0.0
            for added, sign in closures(s):
                for mu, typed in weighted_quotients(s, added):
                    h = hom(typed)
                    tot, mag = tot + sign * mu * h, mag + abs(mu) * h
            tot = np.where(np.abs(tot) <= ROUNDING * mag, 0.0, tot)  # no instance: zero, not a rounding residue
            per[s][t0:t0 + batch] = tot[:, :-1] / len(mc.SHAPES[s].group)  # the lowest layer is never the last
    return per
