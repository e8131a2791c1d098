"""La Malfa et al. (ICTAI 2021) Nodes Strength and Layers Fluctuation, from the degree and strength pass."""
from ..errors import check_choice
from ..model.graph import takes_graph
from .strength import node_sums

_CONVENTIONS = ("cnt_dnns_code", "plain")


@takes_graph(skips=True)
def nodes_strength(g, convention="cnt_dnns_code"):
    """La Malfa's signed node strength, in node order.

    .. math:: s_i = \\sum_{\\text{in}} w + \\sum_{\\text{out}} w + b_i

    Parameters
    ----------
    g : LayeredGraph
    convention : {"cnt_dnns_code", "plain"}
        ``cnt_dnns_code`` (the authors' code, EmanueleLM/CNT-DNNs): input layer ``rowsum(W_1) + 1``,
        hidden ``rowsum(W_{l+1}) + colsum(W_l) + b_l``, output ``colsum(W_L) + 1 + b_L`` (missing biases
        count as 0). ``plain``: ``in + out``, no bias, no ``+1``.

    On a block DAG (skip blocks) "in" and "out" sum over every block into and out of the node: a skip is
    edges like any other, so an identity skip adds 1 to the out-strength of unit ``k`` of its source layer and
    1 to the in-strength of unit ``k`` of its target layer (a diagonal block adds ``d_k``). The ``+1`` of the
    code convention goes to layer 0 (the input) and layer ``L`` (the last layer in the topological order,
    the output), the biases to layers ``1..L`` as given.

    Returns
    -------
    array, shape (N,) or (T, N), float64
    """
    check_choice("convention", convention, _CONVENTIONS)
    xp = g.backend.xp
    s = node_sums(g)
    net = (s.in_sums[:, 2] - s.in_sums[:, 3]) + (s.out_sums[:, 2] - s.out_sums[:, 3])
    if convention == "cnt_dnns_code":
        net = xp.array(net, copy=True)
        o = g.offsets
        if g.biases is not None:
            for l, b in enumerate(g.biases):
                net[:, o[l + 1] : o[l + 2]] += b
        net[:, o[0] : o[1]] += 1.0
        net[:, o[-2] : o[-1]] += 1.0
    return net if g.stacked else net[0]


@takes_graph(skips=True)
def layers_fluctuation(g, convention="cnt_dnns_code"):
    """La Malfa's Layers Fluctuation: the standard deviation (``ddof = 0``) of nodes strength per layer.

    .. math:: \\Phi_l = \\operatorname{std}_{i \\in l}(s_i)

    Returns
    -------
    array, shape (L+1,) or (T, L+1), float64
    """
    xp = g.backend.xp
    s = nodes_strength(g, convention)
    s = s if g.stacked else s[None]
    o = g.offsets
    phi = xp.stack([s[:, o[l] : o[l + 1]].std(axis=1) for l in range(g.n_layers)], axis=1)
    return phi if g.stacked else phi[0]
