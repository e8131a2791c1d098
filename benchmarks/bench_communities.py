"""Louvain and consensus (spec §5): deepcnt vs bctpy (signed), igraph / NetworKit / scikit-network (on |w|).

Networks: unthresholded signed 784-100-100-10 (Shine et al.) and 784-500-500-2000 (Testolin et al.), weights
N(0, 0.1), float32, seed 0 (no structure: every method finds a weak, noisy optimum, so Q is compared as the
mean over the timed rounds, each round with its own seed).

* signed: ``deepcnt.louvain(g, negative="asym")`` vs ``bct.community_louvain(W, B="negative_asym")`` on the
  dense symmetric N×N matrix of the undirected view (built outside the timing, which favours bctpy). deepcnt is
  timed end to end from the weight blocks on a fresh graph each round: block sums + the level-0 graph (the
  blocks' transposes; a CSR for sparse blocks) + Louvain; and, as the per-run cost of many runs (Shine: 500
  per epoch), another run on a graph whose level-0 graph is cached.
* unsigned: ``deepcnt.louvain(g, negative="ignore")`` (Newman Q of |w|) vs igraph ``community_multilevel``,
  NetworKit ``PLM`` (no refinement; it uses every core through OpenMP) and scikit-network ``Louvain``; the
  peers' graphs are built outside the timing. Every Q is re-evaluated with ``deepcnt.modularity`` (checked
  against networkx in the tests).
* 500-run consensus on 784-100-100-10 (goal: under 30 s on 2 cores). bctpy is not run 500 times: its time
  is the measured single run × 500 (printed as an extrapolation).

Run: ``.venv/bin/python -m pytest benchmarks/bench_communities.py --benchmark-only -o addopts="" -s``.
The machine is shared: compare the ratios of one run, not absolute times across runs. On an oversubscribed
machine GNU OpenMP's default spin-waiting makes every Numba parallel region cost 10–100 ms (deepcnt's block
sums of a 784-100-100-10 graph: 0.4 ms with ``OMP_WAIT_POLICY=PASSIVE``, ~90 ms without); run with
``OMP_WAIT_POLICY=PASSIVE`` there.
"""
import itertools
import warnings

import numpy as np
import pytest

import deepcnt
from deepcnt.communities.modularity import louvain, modularity
from deepcnt.communities.consensus import consensus

SMALL = (784, 100, 100, 10)
BIG = (784, 500, 500, 2000)
_Q = {}
_T = {}


def _weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 0.1, size=(a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]


WEIGHTS = {SMALL: _weights(SMALL), BIG: _weights(BIG)}
_G = {s: deepcnt.LayeredGraph.from_weights(w) for s, w in WEIGHTS.items()}


def _name(sizes):
    return "-".join(map(str, sizes))


@pytest.fixture(scope="module", autouse=True)
def q_table():
    yield
    lines = ["", "=== communities: best time, mean Q over the timed rounds, ratio = time / deepcnt's ==="]
    for group, cases in _T.items():
        base = cases.get("deepcnt")
        lines.append(f"[{group}]")
        for name, t in cases.items():
            q = _Q.get((group, name), [])
            qs = f"Q = {np.mean(q):.4f}" if q else ""
            ratio = f"{t / base:9.1f}x" if base else ""
            lines.append(f"  {name:<34} {t * 1e3:11.1f} ms {ratio}   {qs}")
    if ("consensus " + _name(SMALL)) in _T and ("louvain signed " + _name(SMALL)) in _T:
        one = _T["louvain signed " + _name(SMALL)].get("bctpy community_louvain")
        if one:
            lines.append(f"  bctpy, 500 runs extrapolated = 500 x {one:.3f} s = {500 * one:.0f} s "
                         "(consensus_und re-clustering not included)")
    print("\n".join(lines))


def _record(group, name, benchmark):
    _T.setdefault(group, {})[name] = benchmark.stats.stats.min


def _fresh(sizes):
    return deepcnt.LayeredGraph.from_weights(WEIGHTS[sizes])


#: the benchmark group of each mode: signed (against bctpy) and Newman's Q of |w| (against the fast libraries)
_GROUP = {"asym": "louvain signed ", "ignore": "louvain |w| "}


@pytest.mark.parametrize("negative", ["asym", "ignore"])
@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=_name)
def test_louvain_deepcnt(benchmark, sizes, negative):
    """End to end on a fresh graph each round (block sums, level-0 graph, Louvain)."""
    group = _GROUP[negative] + _name(sizes)
    benchmark.group = group
    seeds = itertools.count()
    qs = _Q.setdefault((group, "deepcnt"), [])

    def run(g):
        qs.append(louvain(g, negative=negative, seed=next(seeds))[1])

    benchmark.pedantic(run, setup=lambda: ((_fresh(sizes),), {}), rounds=10, warmup_rounds=1)
    del qs[0]  # the warm-up round
    _record(group, "deepcnt", benchmark)


@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=_name)
def test_louvain_signed_deepcnt_repeat(benchmark, sizes):
    """Another run on a graph already analysed (block sums and level-0 graph cached): the per-run cost of many
    runs."""
    group = "louvain signed " + _name(sizes)
    benchmark.group = group
    g = _fresh(sizes)
    louvain(g)
    seeds = itertools.count(100)
    qs = _Q.setdefault((group, "deepcnt, next run on one graph"), [])

    def run():
        qs.append(louvain(g, negative="asym", seed=next(seeds))[1])

    benchmark.pedantic(run, rounds=10, warmup_rounds=0)
    _record(group, "deepcnt, next run on one graph", benchmark)


@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=_name)
def test_louvain_signed_bctpy(benchmark, sizes):
    bct = pytest.importorskip("bct")
    group = "louvain signed " + _name(sizes)
    benchmark.group = group
    W = _G[sizes].to_scipy(directed=False).toarray()
    seeds = itertools.count()
    qs = _Q.setdefault((group, "bctpy community_louvain"), [])

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci, q = bct.community_louvain(W, B="negative_asym", seed=next(seeds))
        qs.append(q)
        return ci

    ci = benchmark.pedantic(run, rounds=3 if sizes == SMALL else 1, warmup_rounds=0)
    assert modularity(_G[sizes], ci) == pytest.approx(qs[-1], abs=1e-9)
    _record(group, "bctpy community_louvain", benchmark)


def _abs_edges(sizes):
    A = _G[sizes].to_scipy(directed=True, sign="abs").tocoo()
    return A.row, A.col, A.data


def _peer(benchmark, sizes, name, partition, warmup=0):
    """Time ``partition()`` (a peer's Louvain on |w|, its graph built beforehand) and keep deepcnt's Q of
    each result."""
    group = _GROUP["ignore"] + _name(sizes)
    benchmark.group = group
    qs = _Q.setdefault((group, name), [])
    benchmark.pedantic(lambda: qs.append(modularity(_G[sizes], partition(), negative="ignore")), rounds=5,
                       warmup_rounds=warmup)
    _record(group, name, benchmark)


@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=_name)
def test_louvain_unsigned_igraph(benchmark, sizes):
    ig = pytest.importorskip("igraph")
    r, c, w = _abs_edges(sizes)
    G = ig.Graph(n=_G[sizes].n_nodes, edges=np.c_[r, c], directed=False)
    G.es["weight"] = w
    _peer(benchmark, sizes, "igraph community_multilevel", lambda: G.community_multilevel(weights="weight").membership)


@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=_name)
def test_louvain_unsigned_networkit(benchmark, sizes):
    nk = pytest.importorskip("networkit")
    r, c, w = _abs_edges(sizes)
    G = nk.Graph(_G[sizes].n_nodes, weighted=True, directed=False)
    G.addEdges((w, (r, c)))
    _peer(benchmark, sizes, "networkit PLM (all cores)",
          lambda: np.array(nk.community.PLM(G, refine=False, gamma=1.0).run().getPartition().getVector()), warmup=1)


@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=_name)
def test_louvain_unsigned_sknetwork(benchmark, sizes):
    skc = pytest.importorskip("sknetwork.clustering")
    A = _G[sizes].to_scipy(directed=False, sign="abs").tocsr()
    seeds = itertools.count()
    _peer(benchmark, sizes, "scikit-network Louvain",
          lambda: skc.Louvain(resolution=1.0, modularity="newman", shuffle_nodes=True,
                              random_state=next(seeds)).fit_predict(A))


def test_consensus_500(benchmark):
    group = "consensus " + _name(SMALL)
    benchmark.group = group
    qs = _Q.setdefault((group, "deepcnt"), [])

    def run(g):
        lab = consensus(g, runs=500, seed=0)
        qs.append(modularity(g, lab))

    benchmark.pedantic(run, setup=lambda: ((_fresh(SMALL),), {}), rounds=2, warmup_rounds=1)  # warm-up: the JIT
    _record(group, "deepcnt", benchmark)
