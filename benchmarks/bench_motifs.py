"""Exact layered motif counts (issue 7, spec §4.6) vs igraph's ESU enumeration, a dense N×N baseline and the
GEMM floor; and the permutation-null significance with 100 draws.

Cases:
* ``784-500-500-2000`` (Testolin's DBN shape), N(0, 0.1) weights, θ = 0.1 (density ≈ 0.32, E ≈ 525k edges):
  every size-4 class, unsigned (13) and signed (79); the **GEMM floor** (the Gram and path products alone, on
  prebuilt masks: what any closed-form method must pay); a **dense N×N numpy** baseline (``A@A`` and ``AᵀA`` on
  the 3784×3784 adjacency, the products a dense formulation would need); significance with 100 draws.
* ``784-100-100-10`` (Shine's MLP shape), U(−1, 1) weights, θ = 0.75 (density 0.25): deepcnt unsigned and
  signed vs igraph ``motifs_randesu(size=4)`` (enumeration; about a minute). Totals are checked equal.
* A block DAG: a 5-layer residual MLP of width 128, U(−1, 1) weights, θ = 0.75, with identity skips (0, 2),
  (2, 4) and a dense skip (0, 4): the 4-node census of a DAG (24 classes) vs igraph ``motifs_randesu(size=4)``;
  every class is checked equal to igraph's isoclass of its template.

Run: ``.venv/bin/python -m pytest benchmarks/bench_motifs.py --benchmark-only -o addopts="" -s``.
"""
import numpy as np
import pytest

import deepcnt
from deepcnt.motifs import classes as mc
from deepcnt.motifs.null import motif_significance
from deepcnt.motifs.counts import motifs

BIG, SMALL, SIG = "motifs 784-500-500-2000 θ=0.1", "motifs 784-100-100-10 θ=0.75", "significance 784-500-500-2000"
DAG4 = "4-node motifs of a block DAG, residual MLP 128x5 + skips θ=0.75"


def _big():
    rng = np.random.default_rng(0)
    sizes = [784, 500, 500, 2000]
    W = [rng.normal(0, 0.1, size=(sizes[l], sizes[l + 1])).astype(np.float32) for l in range(3)]
    return deepcnt.LayeredGraph.from_weights(W).threshold(0.1)


def _small():
    rng = np.random.default_rng(0)
    sizes = [784, 100, 100, 10]
    W = [rng.uniform(-1, 1, size=(sizes[l], sizes[l + 1])).astype(np.float32) for l in range(3)]
    return deepcnt.LayeredGraph.from_weights(W).threshold(0.75)


def _dag():
    rng = np.random.default_rng(0)
    n = 128
    blocks = {(i, i + 1): rng.uniform(-1, 1, size=(n, n)).astype(np.float32) for i in range(4)}
    blocks.update({(0, 2): "identity", (2, 4): "identity", (0, 4): rng.uniform(-1, 1, size=(n, n)).astype(np.float32)})
    return deepcnt.LayeredGraph.from_blocks([n] * 5, blocks).threshold(0.75)


@pytest.fixture(scope="module")
def dag():
    return _dag()


@pytest.fixture(scope="module")
def big():
    return _big()


@pytest.fixture(scope="module")
def small():
    return _small()


def test_big_unsigned(benchmark, record, big):
    benchmark.group = BIG
    res = benchmark.pedantic(motifs, args=(big,), rounds=5, warmup_rounds=1)
    record(BIG, "deepcnt motifs (13 classes)", benchmark)
    print(f"\n  bifan {int(res['bifan']):,}  diamond {int(res['diamond']):,}  total4 {int(res.total(4)):,}")


def test_big_signed(benchmark, record, big):
    benchmark.group = BIG
    res = benchmark.pedantic(motifs, args=(big,), kwargs={"signed": True}, rounds=3, warmup_rounds=1)
    record(BIG, "deepcnt signed motifs (79 classes)", benchmark)
    assert len(res.classes) == 79


def _masks(g):
    out = []
    for l in range(g.n_blocks):
        W = g.blocks[l][0]
        out.append((np.abs(W) > g.theta[l, 0]).astype(np.float32))
    return out


def gemm_floor(A):
    """The block products of the uncoloured counts alone: Gram on the smaller side, then the two path products."""
    for a in A:
        (a.T @ a) if a.shape[0] >= a.shape[1] else (a @ a.T)
    for a, b in zip(A[:-1], A[1:]):
        a @ b


def test_big_gemm_floor(benchmark, record, big):
    benchmark.group = BIG
    A = _masks(big)
    benchmark.pedantic(gemm_floor, args=(A,), rounds=5, warmup_rounds=1)
    record(BIG, "GEMM floor (block products alone)", benchmark)


def dense_baseline(D):
    return D @ D, D.T @ D


def test_big_dense_nxn(benchmark, record, big):
    benchmark.group = BIG
    A = _masks(big)
    o = big.offsets
    D = np.zeros((big.n_nodes, big.n_nodes), np.float32)
    for l, a in enumerate(A):
        D[o[l]:o[l + 1], o[l + 1]:o[l + 2]] = a
    benchmark.pedantic(dense_baseline, args=(D,), rounds=2, warmup_rounds=1)
    record(BIG, "dense N×N numpy (A@A + AᵀA only)", benchmark)


def test_small_deepcnt(benchmark, record, small):
    benchmark.group = SMALL
    benchmark.pedantic(motifs, args=(small,), rounds=10, warmup_rounds=1)
    record(SMALL, "deepcnt motifs (13 classes)", benchmark)


def test_small_deepcnt_signed(benchmark, record, small):
    benchmark.group = SMALL
    benchmark.pedantic(motifs, args=(small,), kwargs={"signed": True}, rounds=5, warmup_rounds=1)
    record(SMALL, "deepcnt signed motifs (79 classes)", benchmark)


def test_small_igraph(benchmark, record, small):
    pytest.importorskip("igraph")
    benchmark.group = SMALL
    G = small.to_igraph()
    counts = benchmark.pedantic(G.motifs_randesu, kwargs={"size": 4}, rounds=1, warmup_rounds=0)
    record(SMALL, "igraph motifs_randesu(size=4)", benchmark)
    assert int(np.nansum(counts)) == int(motifs(small).total(4))


def test_big_significance(benchmark, record, big):
    benchmark.group = SIG
    motif_significance(big, draws=2)  # JIT warm-up
    res = benchmark.pedantic(motif_significance, args=(big,), kwargs={"draws": 100, "seed": 0},
                             rounds=1, warmup_rounds=0)
    record(SIG, "deepcnt permutation null, 100 draws", benchmark)
    print("\n  z: " + ", ".join(f"{n} {res.z[n]:.1f}" for n in mc.SHAPES_4))


def test_gpu_motifs(benchmark, record, big):
    if not deepcnt.gpu_available():
        pytest.skip("no CUDA device here")
    gg = big.to("gpu")
    benchmark.group = BIG

    def run():
        r = motifs(gg, signed=True)
        gg.backend.synchronize()
        return r

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    record(BIG, "deepcnt signed motifs on GPU", benchmark)


def test_dag4_deepcnt(benchmark, record, dag):
    benchmark.group = DAG4
    motifs(dag, size=4)  # JIT warm-up
    res = benchmark.pedantic(motifs, args=(dag,), kwargs={"size": 4}, rounds=5, warmup_rounds=1)
    record(DAG4, "deepcnt motifs size=4 (28 classes)", benchmark)
    print(f"\n  total4 {int(res.total(4)):,}  tt4_no12 {int(res['tt4_no12']):,}  bypass4 {int(res['bypass4']):,}")


def test_dag4_igraph(benchmark, record, dag):
    igraph = pytest.importorskip("igraph")
    benchmark.group = DAG4
    G = dag.to_igraph()
    counts = benchmark.pedantic(G.motifs_randesu, kwargs={"size": 4}, rounds=1, warmup_rounds=0)
    record(DAG4, "igraph motifs_randesu(size=4)", benchmark)
    res = motifs(dag, size=4)
    for s in mc.SHAPES_4_DAG:  # every class against igraph's isoclass of its template
        iso = igraph.Graph(n=4, edges=list(mc.EDGES[s]), directed=True).isoclass()
        assert int(counts[iso]) == int(res[s]), s
