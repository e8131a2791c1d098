"""Average nearest-neighbour degree ``k_nn`` and Barrat's weighted version, by two mat-vecs per block."""
import numpy as np

from ..errors import InputError, check_choice, renamed
from ..kernels.cpu.elementwise import ratio_or_zero
from ..model.graph import takes_graph
from .strength import block_pass, channel_sum, degree_sums, folding, node_sums

_ENDS = ("in", "out", "in+out")
_WEIGHTS = ("abs", "positive", "negative")


def _terms(weighted, sign):
    """The sign channels of the four that a degree (``weighted=False``) or a strength of ``sign`` adds."""
    if not weighted:
        return (0, 1), (1, 1)
    return {"abs": ((2, 1), (3, 1)), "positive": ((2, 1),), "negative": ((3, 1),)}[sign]


@takes_graph(skips=True)
def knn(g, weighted=False, sign="abs", source=None, target=None, *, weight=None):
    """Average nearest-neighbour degree of every node; Barrat et al. (2004) for ``weighted=True``.

    .. math:: k_{nn,i} = \\frac{1}{k_i}\\sum_j A_{ij} k_j, \\qquad
              k^{w}_{nn,i} = \\frac{1}{s_i}\\sum_j w_{ij} k_j

    The neighbour degrees ``k_j`` are unweighted, exactly as networkx ``average_neighbor_degree``. In block
    form a layer-``l`` node of a chain gets ``(A_{l+1} k_{l+1} + A_lᵀ k_{l-1}) / k_l``: two mat-vecs per block,
    O(E). On a block DAG the neighbours are those of every block into or out of the node's layer, skips
    included (an identity skip makes unit ``k`` a neighbour of unit ``k`` of the other layer).

    Parameters
    ----------
    g : LayeredGraph
    weighted : bool
    sign : {"abs", "positive", "negative"}
        Which non-negative weight Barrat's formula uses: ``|w|``, ``w⁺`` or ``w⁻`` (signed weights make
        ``s_i`` meaningless as a normaliser, so the raw signed version is not offered).
    source, target : {"in", "out", "in+out"}, optional
        ``None`` for both: the undirected view. Otherwise the directed variant as networkx names it: the
        neighbourhood is the successors (``source="out"``), predecessors (``"in"``) or both, and the
        neighbours' degree is their ``target`` degree. One given, the other defaults to ``"out"``.
    weight : deprecated spelling of ``sign``

    Returns
    -------
    array, shape (N,) or (T, N), float64
        0 where the denominator (degree or strength) is 0, as networkx.

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[1.0, 1.0], [1.0, 0.0]])])
    >>> deepcnt.knn(g).tolist()
    [1.5, 2.0, 1.5, 2.0]
    """
    if not isinstance(weighted, bool):
        raise InputError(f"weighted must be True or False, got {weighted!r}")
    sign = renamed("knn", "weight", "sign", weight, sign)
    check_choice("sign", sign, _WEIGHTS)
    if source is None and target is None:
        source = target = "in+out"
    else:
        source = source or "out"
        target = target or "out"
    check_choice("source", source, _ENDS)
    check_choice("target", target, _ENDS)
    xp = g.backend.xp
    # with blocks that fold (convolutions, pooling, diagonals), the numerator's pass computes only the sum it
    # reads: A⁺ + A⁻ (binary) or W⁺ + W⁻ (|w|), a quarter of their products. Dense and sparse blocks compute
    # the four channels at once anyway: there one pass of the four serves the binary and the weighted k_nn.
    fold = None if not folding(g) else "count" if not weighted else "abs" if sign == "abs" else None
    terms = _terms(weighted, sign)
    k_target = degree_sums(g, target)
    if fold and source == "in+out":
        # the undirected view's folded numerator as one array, each block adding its row and column sums to
        # it (no second array, no addition); fresh, so the division below writes into it (not memoised)
        num = block_pass(g, k_target, k_target, fold, merged=True).in_sums
    else:
        key = ("knn_pass", target, fold)
        if key not in g._cache:
            g._cache[key] = block_pass(g, k_target, k_target, fold)
        nb = g._cache[key]
        if fold:
            num = (nb.in_sums if source == "in" else nb.out_sums).copy()
        else:
            num = channel_sum(nb, source, terms)
    den = channel_sum(node_sums(g), source, terms) if weighted else degree_sums(g, source)
    if xp is np:  # in place (num is a fresh array)
        ratio_or_zero(num, den)
        out = num
    else:
        pos = den > 0
        out = xp.where(pos, num / xp.where(pos, den, 1.0), 0.0)
    return out if g.stacked else out[0]
