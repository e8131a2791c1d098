"""Export a LayeredGraph to networkx and igraph (imported when called: neither is a dependency)."""
import numpy as np


def _edges(g, epoch):
    """Each kept edge once, from its row to its column (an undirected view is built from these)."""
    m = g.to_scipy(directed=True, epoch=epoch).tocoo()
    return m.row, m.col, m.data


def to_networkx(g, directed=True, epoch=None):
    """networkx ``DiGraph`` (or ``Graph``) of the kept edges; edge ``weight`` signed, node ``layer``."""
    import networkx as nx

    r, c, v = _edges(g, epoch)
    G = nx.DiGraph() if directed else nx.Graph()
    layer = g.layer_of()
    G.add_nodes_from((i, {"layer": int(layer[i])}) for i in range(g.n_nodes))
    G.add_weighted_edges_from(zip(r.tolist(), c.tolist(), v.tolist()))
    return G


def to_igraph(g, directed=True, epoch=None):
    """igraph ``Graph`` of the kept edges; edge attribute ``weight`` signed, vertex attribute ``layer``."""
    import igraph as ig

    r, c, v = _edges(g, epoch)
    G = ig.Graph(n=g.n_nodes, edges=np.column_stack([r, c]).tolist(), directed=directed)
    G.es["weight"] = v.tolist()
    G.vs["layer"] = g.layer_of().tolist()
    return G
