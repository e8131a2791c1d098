"""Brute-force motif census: every connected induced 3- and 4-node subgraph, classified by networkx
isomorphism with edge-colour matching against one template per coloured class. Slow and obviously correct;
nothing here uses deepcnt's counting code (only the class names, to label the templates).
"""
import functools
import itertools

import networkx as nx
import numpy as np

from deepcnt.motifs import classes as mc

# edge lists by role, slot order as documented in deepcnt.motifs.classes
_TEMPLATES = {
    "chain3": [("i", "j"), ("j", "k")],
    "fanout2": [("i", "j1"), ("i", "j2")],
    "fanin2": [("i1", "j"), ("i2", "j")],
    "outstar3": [("i", "j1"), ("i", "j2"), ("i", "j3")],
    "instar3": [("i1", "j"), ("i2", "j"), ("i3", "j")],
    "y_in2out1": [("i1", "j"), ("i2", "j"), ("j", "k")],
    "y_in1out2": [("i", "j"), ("j", "k1"), ("j", "k2")],
    "chain4": [("i", "j"), ("j", "k"), ("k", "h")],
    "bifan": [("i1", "j1"), ("i1", "j2"), ("i2", "j1"), ("i2", "j2")],
    "N": [("i1", "j1"), ("i1", "j2"), ("i2", "j2")],
    "diamond": [("i", "j1"), ("j1", "k"), ("i", "j2"), ("j2", "k")],
    "src_branch": [("i", "j1"), ("i", "j2"), ("j2", "k")],
    "snk_branch": [("i", "j2"), ("j1", "k"), ("j2", "k")],
    "ffl": [("i", "j"), ("j", "k"), ("i", "k")],
    # 4-node shapes of block DAGs: a path with a shortcut, a feed-forward loop with a pendant edge at its
    # source / middle / sink (in or out), the transitive tournament v0<v1<v2<v3 and it without one edge
    "bypass4": [("i", "j"), ("j", "k"), ("k", "h"), ("i", "h")],
    "ffl_src_in": [("i", "j"), ("j", "k"), ("i", "k"), ("x", "i")],
    "ffl_src_out": [("i", "j"), ("j", "k"), ("i", "k"), ("i", "x")],
    "ffl_mid_in": [("i", "j"), ("j", "k"), ("i", "k"), ("x", "j")],
    "ffl_mid_out": [("i", "j"), ("j", "k"), ("i", "k"), ("j", "x")],
    "ffl_snk_in": [("i", "j"), ("j", "k"), ("i", "k"), ("x", "k")],
    "ffl_snk_out": [("i", "j"), ("j", "k"), ("i", "k"), ("k", "x")],
}
_TT4 = [(f"v{a}", f"v{b}") for a, b in itertools.combinations(range(4), 2)]
_TEMPLATES["tt4"] = _TT4
for _e in _TT4:
    _TEMPLATES[f"tt4_no{_e[0][1]}{_e[1][1]}"] = [x for x in _TT4 if x != _e]


def template(shape, cols):
    """The coloured DiGraph of a class (colours per slot in the documented order)."""
    G = nx.DiGraph()
    for (u, v), c in zip(_TEMPLATES[shape], cols):
        G.add_edge(u, v, color=int(c))
    return G


def _signature(G):
    return tuple(sorted((G.in_degree(v), G.out_degree(v),
                         tuple(sorted(d["color"] for _, _, d in G.in_edges(v, data=True))),
                         tuple(sorted(d["color"] for _, _, d in G.out_edges(v, data=True)))) for v in G))


@functools.lru_cache(maxsize=None)
def all_templates(k, signed=False):
    """{signature: [(name, template)]} for every class of every shape with k colours (built once: read only)."""
    symbols = mc.symbols_for(k, signed, colored=k > 1 and not signed)
    out = {}
    for shape in mc.SHAPES:
        for cols in mc.classes(shape, k):
            T = template(shape, cols)
            out.setdefault(_signature(T), []).append((mc.class_name(shape, cols, symbols), T))
    return out


def coloured_digraph(codes):
    """DiGraph of a layered graph given its per-block colour codes (2-D arrays, 0 = no edge)."""
    sizes = [codes[0].shape[0]] + [c.shape[1] for c in codes]
    off = np.concatenate([[0], np.cumsum(sizes)])
    G = nx.DiGraph()
    G.add_nodes_from(range(int(off[-1])))
    for l, c in enumerate(codes):
        for i, j in zip(*np.nonzero(c)):
            G.add_edge(int(off[l] + i), int(off[l + 1] + j), color=int(c[i, j]))
    return G


def colour_matrix_digraph(C):
    """DiGraph of any graph given its N×N matrix of edge colours (0 = no edge): e.g. a block DAG."""
    G = nx.DiGraph()
    G.add_nodes_from(range(C.shape[0]))
    for i, j in zip(*np.nonzero(C)):
        G.add_edge(int(i), int(j), color=int(C[i, j]))
    return G


def brute_census(codes, k, signed=False, sizes=(3, 4), graph=None):
    """{class name: count} of connected induced subgraphs; unmatched subgraphs counted under ``"other"``.

    ``graph``: a coloured DiGraph to census instead of the layered graph of ``codes``.
    """
    G = coloured_digraph(codes) if graph is None else graph
    counts = {}
    for name, _, _ in classified_subgraphs(G, sizes, k, signed):
        counts[name] = counts.get(name, 0) + 1
    return counts


def classified_subgraphs(G, sizes, k=1, signed=False):
    """Yield ``(class name, nodes, induced subgraph)`` of every connected induced subgraph of ``G`` with
    ``sizes`` nodes, by enumeration and isomorphism with the templates (edge colours matched when ``k > 1``
    or ``signed``; ``"other"`` when none matches)."""
    U = G.to_undirected()
    temps = all_templates(k, signed)
    em = nx.algorithms.isomorphism.categorical_edge_match("color", None) if (k > 1 or signed) else None
    for size in sizes:
        for nodes in itertools.combinations(G.nodes, size):
            if not nx.is_connected(U.subgraph(nodes)):
                continue
            H = G.subgraph(nodes)
            name = next((n for n, T in temps.get(_signature(H), []) if nx.is_isomorphic(H, T, edge_match=em)),
                        "other")
            yield name, nodes, H


def random_codes(rng, k, max_layers=4, max_width=4):
    """Random colour codes of a small layered graph (varied depth, widths and density)."""
    L = int(rng.integers(1, max_layers + 1))
    sizes = rng.integers(1, max_width + 1, size=L + 1)
    dens = rng.choice([0.3, 0.6, 0.9])
    return [((rng.random((sizes[l], sizes[l + 1])) < dens) * rng.integers(1, k + 1, (sizes[l], sizes[l + 1])))
            .astype(np.int8) for l in range(L)]


def brute_intensity(weights, theta=0.0, sizes=(3, 4), matrix=None):
    """{shape: Σ over instances of (Π |w_e|)^(1/|g|)} by enumeration (uncoloured classes, kept |w| > θ).

    ``matrix``: the N×N weights of any graph (e.g. a block DAG; non-zero = edge) instead of a chain's blocks.
    """
    if matrix is not None:
        G = colour_matrix_digraph((matrix != 0).astype(int))
        for i, j in zip(*np.nonzero(matrix)):
            G[int(i)][int(j)]["w"] = abs(float(matrix[i, j]))
        return _intensity_census(G, sizes)
    codes = [(np.abs(w) > theta).astype(np.int8) for w in weights]
    G = coloured_digraph(codes)
    off = np.concatenate([[0], np.cumsum([weights[0].shape[0]] + [w.shape[1] for w in weights])])
    for l, w in enumerate(weights):
        for i, j in zip(*np.nonzero(codes[l])):
            G[int(off[l] + i)][int(off[l + 1] + j)]["w"] = abs(float(w[i, j]))
    return _intensity_census(G, sizes)


def _intensity_census(G, sizes):
    out = {}
    for name, _, H in classified_subgraphs(G, sizes):
        ws = [d["w"] for _, _, d in H.edges(data=True)]
        out[name] = out.get(name, 0.0) + float(np.prod(ws)) ** (1.0 / len(ws))
    return out


def brute_participation(codes, sizes=(3, 4), matrix=None):
    """{shape: int array (N,)}: instances of each uncoloured class containing each node, by enumeration.

    ``matrix``: the N×N adjacency of any graph (e.g. a block DAG; non-zero = edge) instead of a chain's codes.
    """
    G = (coloured_digraph([(c != 0).astype(np.int8) for c in codes]) if matrix is None
         else colour_matrix_digraph((matrix != 0).astype(int)))
    out = {}
    for name, nodes, _ in classified_subgraphs(G, sizes):
        arr = out.setdefault(name, np.zeros(G.number_of_nodes(), dtype=np.int64))
        arr[list(nodes)] += 1
    return out
