"""Average nearest-neighbour degree ``k_nn`` and Barrat's weighted version, by two mat-vecs per block."""
from ..errors import InputError, check_choice, renamed
from ..model.graph import takes_graph
from .strength import block_pass, node_sums

_ENDS = ("in", "out", "in+out")
_WEIGHTS = ("abs", "positive", "negative")


def _degree_vec(sums, end):
    """Unweighted degree (all signs) of every node for a networkx direction name; shape (T, N)."""
    if end == "in":
        s = sums.in_sums
    elif end == "out":
        s = sums.out_sums
    else:
        s = sums.in_sums + sums.out_sums
    return s[:, 0] + s[:, 1]


def _channel(s, weighted, sign):
    if not weighted:
        return s[:, 0] + s[:, 1]
    if sign == "abs":
        return s[:, 2] + s[:, 3]
    return s[:, 2 if sign == "positive" else 3]


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
    sums = node_sums(g)
    k_target = _degree_vec(sums, target)
    key = ("knn_pass", target)
    if key not in g._cache:
        g._cache[key] = block_pass(g, k_target, k_target)
    nb = g._cache[key]
    num = 0.0
    den = 0.0
    if source in ("in", "in+out"):
        num = num + _channel(nb.in_sums, weighted, sign)
        den = den + _channel(sums.in_sums, weighted, sign)
    if source in ("out", "in+out"):
        num = num + _channel(nb.out_sums, weighted, sign)
        den = den + _channel(sums.out_sums, weighted, sign)
    safe = xp.where(den > 0, den, 1.0)
    out = xp.where(den > 0, num / safe, 0.0)
    return out if g.stacked else out[0]
