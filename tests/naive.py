"""Slow, obviously correct references (stumpy's tests/naive.py idea): dense N×N numpy and networkx.

Nothing here uses deepcnt's kernels; the graphs are rebuilt from the raw weight blocks.
"""
import numpy as np


def random_blocks(rng, n_layers=None, max_width=7, stack=None, dtype=None):
    """Random weight blocks of a layered graph: varied depth, widths (1 included), density and signs."""
    L = int(rng.integers(1, 6)) if n_layers is None else n_layers
    sizes = rng.integers(1, max_width + 1, size=L + 1)
    density = rng.choice([0.2, 0.5, 0.8, 1.0])
    sign_mode = rng.choice(["mixed", "positive", "negative"])
    dtype = dtype or rng.choice([np.float32, np.float64])
    blocks = []
    for l in range(L):
        shape = (sizes[l], sizes[l + 1]) if stack is None else (stack, sizes[l], sizes[l + 1])
        w = rng.normal(0, 1, size=shape)
        if sign_mode == "positive":
            w = np.abs(w)
        elif sign_mode == "negative":
            w = -np.abs(w)
        w *= rng.random(size=shape) < density
        blocks.append(w.astype(dtype))
    return blocks


def dense_directed(blocks, theta=0.0):
    """The N×N directed adjacency of kept edges (|w| > θ), signed, from blocks of shape (n_l, n_{l+1})."""
    sizes = [blocks[0].shape[0]] + [b.shape[1] for b in blocks]
    off = np.concatenate([[0], np.cumsum(sizes)])
    N = off[-1]
    A = np.zeros((N, N))
    for l, b in enumerate(blocks):
        th = theta[l] if np.ndim(theta) else theta
        for i in range(b.shape[0]):
            for j in range(b.shape[1]):
                w = float(b[i, j])
                if abs(w) > th:
                    A[off[l] + i, off[l + 1] + j] = w
    return A


def degree_ref(A, direction="all", sign="all"):
    M = {"all": A != 0, "positive": A > 0, "negative": A < 0}[sign].astype(float)
    return {"in": M.sum(0), "out": M.sum(1), "all": M.sum(0) + M.sum(1)}[direction]


def strength_ref(A, direction="all", sign="net"):
    M = {"net": A, "positive": np.maximum(A, 0), "negative": np.maximum(-A, 0), "abs": np.abs(A)}[sign]
    return {"in": M.sum(0), "out": M.sum(1), "all": M.sum(0) + M.sum(1)}[direction]


def networkx_graph(A, directed, weight="abs"):
    """networkx graph with every kept edge of A, weight attribute from the chosen transform."""
    import networkx as nx

    f = {"abs": np.abs, "positive": lambda x: np.maximum(x, 0), "negative": lambda x: np.maximum(-x, 0)}[weight]
    G = nx.DiGraph() if directed else nx.Graph()
    G.add_nodes_from(range(A.shape[0]))
    for i, j in zip(*np.nonzero(A)):
        G.add_edge(int(i), int(j), weight=float(f(A[i, j])))
    return G


def knn_ref(A, weighted=False, sign="abs", source=None, target=None):
    """networkx average_neighbor_degree, in node order."""
    import networkx as nx

    directed = source is not None or target is not None
    G = networkx_graph(A, directed, sign)
    kw = {"weight": "weight" if weighted else None}
    if directed:
        kw.update(source=source or "out", target=target or "out")
    d = nx.average_neighbor_degree(G, **kw)
    return np.array([d[i] for i in range(A.shape[0])], dtype=float)


def lamalfa_ref(blocks, biases, convention):
    """La Malfa's strength by the authors' loop formula (spec §9), per layer."""
    L = len(blocks)
    out = []
    for l in range(L + 1):
        n = blocks[0].shape[0] if l == 0 else blocks[l - 1].shape[1]
        s = np.zeros(n)
        for i in range(n):
            if l < L:
                s[i] += sum(float(blocks[l][i, j]) for j in range(blocks[l].shape[1]))
            if l > 0:
                s[i] += sum(float(blocks[l - 1][j, i]) for j in range(blocks[l - 1].shape[0]))
            if convention == "cnt_dnns_code":
                if l in (0, L):
                    s[i] += 1.0
                if l > 0 and biases is not None:
                    s[i] += biases[l - 1][i]
        out.append(s)
    return out
