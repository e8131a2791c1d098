"""Core metrics on 784-500-500-2000 (N(0, 0.1) weights, θ = 0.1): deepcnt vs the numpy floor, scipy.sparse,
igraph and networkx computing the same metrics from the same weight matrices (peer graph construction
included, since a user must build their graph), and a stack of 50 epochs.

"The same metrics": degree (all/in/out × all/+/−), strength (all/in/out × net/+/−/abs), binary k_nn and
Barrat k_nn on |w| (undirected view). Run: ``make bench`` or
``.venv/bin/python -m pytest benchmarks/bench_core.py --benchmark-only -o addopts="" -s``.
"""
import numpy as np
import pytest

import deepcnt

SIZES = (784, 500, 500, 2000)
THETA = 0.1
T_STACK = 50


def _weights(seed=0, T=None):
    rng = np.random.default_rng(seed)
    shape = (lambda a, b: (a, b)) if T is None else (lambda a, b: (T, a, b))
    return [rng.normal(0.0, 0.1, size=shape(a, b)).astype(np.float32) for a, b in zip(SIZES[:-1], SIZES[1:])]


W1 = _weights()


def numpy_floor(weights):
    """One W.sum(0) and one W.sum(1) per block: the least any strength computation must do."""
    return [(w.sum(axis=-2), w.sum(axis=-1)) for w in weights]


def deepcnt_all(g):
    """Every degree and strength variant plus binary and weighted k_nn."""
    out = {}
    for d in ("all", "in", "out"):
        for s in ("all", "positive", "negative"):
            out["k", d, s] = deepcnt.degree(g, d, s)
        for s in ("net", "positive", "negative", "abs"):
            out["s", d, s] = deepcnt.strength(g, d, s)
    out["knn"] = deepcnt.knn(g)
    out["knn_w"] = deepcnt.knn(g, weighted=True)
    return out


def fresh_graph(weights):
    """A graph whose memoised sums are empty (the arrays are already validated)."""
    return deepcnt.LayeredGraph.from_weights(weights).threshold(THETA)


def scipy_all(weights):
    import scipy.sparse as sp

    n = sum(SIZES)
    off = np.concatenate([[0], np.cumsum(SIZES)])
    rows, cols, vals = [], [], []
    for l, w in enumerate(weights):
        i, j = np.nonzero(np.abs(w) > THETA)
        rows.append(i + off[l]), cols.append(j + off[l + 1]), vals.append(w[i, j].astype(np.float64))
    r, c, v = (np.concatenate(x) for x in (rows, cols, vals))
    A = sp.csr_matrix((v, (r, c)), shape=(n, n))
    out = {}
    parts = {"net": A, "positive": A.maximum(0), "negative": (-A).maximum(0), "abs": abs(A)}
    masks = {"all": (A != 0).astype(np.float64), "positive": (A > 0).astype(np.float64),
             "negative": (A < 0).astype(np.float64)}
    for s, M in masks.items():
        kin, kout = np.asarray(M.sum(0)).ravel(), np.asarray(M.sum(1)).ravel()
        out["k", "in", s], out["k", "out", s], out["k", "all", s] = kin, kout, kin + kout
    for s, M in parts.items():
        sin, sout = np.asarray(M.sum(0)).ravel(), np.asarray(M.sum(1)).ravel()
        out["s", "in", s], out["s", "out", s], out["s", "all", s] = sin, sout, sin + sout
    U = masks["all"] + masks["all"].T
    k = out["k", "all", "all"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["knn"] = np.nan_to_num((U @ k) / k)
        Uw = parts["abs"] + parts["abs"].T
        out["knn_w"] = np.nan_to_num((Uw @ k) / out["s", "all", "abs"])
    return out


def igraph_all(weights):
    import igraph as ig

    n = sum(SIZES)
    off = np.concatenate([[0], np.cumsum(SIZES)])
    edges, vals = [], []
    for l, w in enumerate(weights):
        i, j = np.nonzero(np.abs(w) > THETA)
        edges.append(np.column_stack([i + off[l], j + off[l + 1]])), vals.append(w[i, j].astype(np.float64))
    e, v = np.concatenate(edges), np.concatenate(vals)
    G = ig.Graph(n=n, edges=e, directed=True)
    G.es["w"], G.es["wp"], G.es["wn"], G.es["wa"] = v, np.maximum(v, 0), np.maximum(-v, 0), np.abs(v)
    Gp = G.subgraph_edges(np.nonzero(v > 0)[0], delete_vertices=False)
    Gn = G.subgraph_edges(np.nonzero(v < 0)[0], delete_vertices=False)
    out = {}
    modes = {"all": "all", "in": "in", "out": "out"}
    for d, mode in modes.items():
        out["k", d, "all"], out["k", d, "positive"], out["k", d, "negative"] = (
            G.degree(mode=mode), Gp.degree(mode=mode), Gn.degree(mode=mode))
        for s, attr in (("net", "w"), ("positive", "wp"), ("negative", "wn"), ("abs", "wa")):
            out["s", d, s] = G.strength(mode=mode, weights=attr)
    U = G.as_undirected(mode="each", combine_edges=None) if hasattr(G, "as_undirected") else G.to_undirected()
    out["knn"] = U.knn()[0]
    out["knn_w"] = U.knn(weights="wa")[0]
    return out


def networkx_all(weights):
    import networkx as nx

    off = np.concatenate([[0], np.cumsum(SIZES)])
    G = nx.DiGraph()
    G.add_nodes_from(range(sum(SIZES)))
    for l, w in enumerate(weights):
        i, j = np.nonzero(np.abs(w) > THETA)
        vals = w[i, j].astype(np.float64)
        G.add_edges_from(
            (int(a), int(b), {"w": float(x), "wp": max(float(x), 0.0), "wn": max(-float(x), 0.0), "wa": abs(float(x))})
            for a, b, x in zip(i + off[l], j + off[l + 1], vals))
    out = {}
    deg = {"all": G.degree, "in": G.in_degree, "out": G.out_degree}
    for d, f in deg.items():
        out["k", d, "all"] = dict(f())
        for s, attr in (("net", "w"), ("positive", "wp"), ("negative", "wn"), ("abs", "wa")):
            out["s", d, s] = dict(f(weight=attr))
    for s, sel in (("positive", lambda x: x > 0), ("negative", lambda x: x < 0)):
        H = nx.DiGraph()
        H.add_nodes_from(G)
        H.add_edges_from((a, b) for a, b, x in G.edges(data="w") if sel(x))
        for d, f in (("all", H.degree), ("in", H.in_degree), ("out", H.out_degree)):
            out["k", d, s] = dict(f())
    U = G.to_undirected(as_view=True)
    out["knn"] = nx.average_neighbor_degree(U)
    out["knn_w"] = nx.average_neighbor_degree(U, weight="wa")
    return out


def _check_same(ours, peer):
    for key in (("k", "all", "all"), ("k", "in", "negative"), ("s", "out", "abs"), ("s", "all", "net"),
                "knn", "knn_w"):
        p = peer[key]
        p = np.array([p[i] for i in range(len(p))]) if isinstance(p, dict) else np.asarray(p)
        np.testing.assert_allclose(np.asarray(ours[key], dtype=float), p, rtol=1e-6, atol=1e-6, err_msg=str(key))


GROUP = "one epoch, 784-500-500-2000, theta=0.1, all degree/strength variants + knn, knn_w"


def test_numpy_floor(benchmark, record):
    benchmark.group = GROUP
    benchmark.pedantic(numpy_floor, args=(W1,), rounds=30, warmup_rounds=2)
    record(GROUP, "numpy floor (W.sum(0)+W.sum(1))", benchmark)


def test_deepcnt_metrics(benchmark, record):
    benchmark.group = GROUP
    ours = benchmark.pedantic(deepcnt_all, setup=lambda: ((fresh_graph(W1),), {}), rounds=30, warmup_rounds=2)
    record(GROUP, "deepcnt (metrics)", benchmark)
    _check_same(ours, scipy_all(W1))


def test_deepcnt_with_graph_construction(benchmark, record):
    benchmark.group = GROUP
    benchmark.pedantic(lambda: deepcnt_all(fresh_graph(W1)), rounds=20, warmup_rounds=1)
    record(GROUP, "deepcnt (+ from_weights validation)", benchmark)


def test_scipy_sparse(benchmark, record):
    benchmark.group = GROUP
    benchmark.pedantic(scipy_all, args=(W1,), rounds=3, warmup_rounds=1)
    record(GROUP, "scipy.sparse (incl. construction)", benchmark)


def test_igraph(benchmark, record):
    pytest.importorskip("igraph")
    benchmark.group = GROUP
    out = benchmark.pedantic(igraph_all, args=(W1,), rounds=2, warmup_rounds=0)
    record(GROUP, "igraph (incl. construction)", benchmark)
    _check_same(deepcnt_all(fresh_graph(W1)), out)


def test_networkx(benchmark, record):
    benchmark.group = GROUP
    out = benchmark.pedantic(networkx_all, args=(W1,), rounds=1, warmup_rounds=0)
    record(GROUP, "networkx (incl. construction)", benchmark)
    _check_same(deepcnt_all(fresh_graph(W1)), out)


STACK_GROUP = f"{T_STACK}-epoch stack, 784-500-500-2000, theta=0.1 (time for all {T_STACK} epochs)"


@pytest.fixture(scope="module")
def stack_weights():
    return _weights(seed=1, T=T_STACK)


def test_stack_numpy_floor(benchmark, record, stack_weights):
    benchmark.group = STACK_GROUP
    benchmark.pedantic(numpy_floor, args=(stack_weights,), rounds=5, warmup_rounds=1)
    record(STACK_GROUP, "numpy floor (W.sum(0)+W.sum(1))", benchmark)


def test_stack_deepcnt(benchmark, record, stack_weights):
    benchmark.group = STACK_GROUP
    benchmark.pedantic(deepcnt_all, setup=lambda: ((fresh_graph(stack_weights),), {}), rounds=5, warmup_rounds=1)
    record(STACK_GROUP, "deepcnt (metrics)", benchmark)


def test_stack_deepcnt_epoch_by_epoch(benchmark, record, stack_weights):
    benchmark.group = STACK_GROUP
    graphs = [[w[t] for w in stack_weights] for t in range(T_STACK)]
    benchmark.pedantic(lambda: [deepcnt_all(fresh_graph(w)) for w in graphs], rounds=3, warmup_rounds=1)
    record(STACK_GROUP, "deepcnt one epoch at a time", benchmark)
