"""Onnela motif intensity totals against brute-force enumeration and the oracle, on chains and block DAGs (random
block DAGs with skips, sparse blocks, identities and diagonals, signed weights, thresholds, epoch stacks)."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

import deepcnt
from deepcnt import DiagonalBlock, LayeredGraph, SparseBlock
from deepcnt.motifs import classes as mc
from deepcnt.motifs.intensity import motif_intensity
from naive import random_blocks
from naive_motifs import brute_intensity
from test_dag import explicit
from test_dag_metrics import _dag


@pytest.mark.parametrize("seed", range(5))
def test_intensity_equals_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    blocks = random_blocks(rng, n_layers=int(rng.integers(1, 5)), max_width=4, dtype=np.float64)
    theta = float(rng.choice([0.0, 0.3]))
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(theta)
    tot, per = motif_intensity(g)
    ref = brute_intensity(blocks, theta)
    assert "other" not in ref
    for shape, v in tot.items():
        assert v == pytest.approx(ref.get(shape, 0.0), rel=1e-9, abs=1e-9), shape
        assert per[shape].sum() == pytest.approx(v, rel=1e-12, abs=1e-12)


def test_intensity_oracle_and_normalisation(oracle, oracle_graph):
    exp = oracle["motif_intensity_onnela_unnormalised"]
    tot, per = motif_intensity(oracle_graph)
    assert tot["chain3"] == pytest.approx(exp["chain3_total"], abs=1e-9)
    assert per["bifan"][0] == pytest.approx(exp["bifan_block1"], abs=1e-9)
    norm, _ = motif_intensity(oracle_graph, normalize=True)
    assert norm["chain3"] == pytest.approx(exp["chain3_total"] / 2.0, abs=1e-9)  # max |w| = 2


def test_intensity_epoch_stack_and_gpu_simulator():
    rng = np.random.default_rng(9)
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, n_layers=3, max_width=4, stack=2)).threshold(0.2)
    tot, _ = motif_intensity(g)
    for t in range(2):
        one, _ = motif_intensity(g.epoch(t))
        for s in tot:
            assert tot[s][t] == pytest.approx(one[s], rel=1e-12, abs=1e-12)
    gpu, _ = motif_intensity(g.to("gpu"))
    for s in tot:
        np.testing.assert_allclose(gpu[s], tot[s], rtol=1e-12, atol=1e-12)


def test_bad_size():
    g = deepcnt.LayeredGraph.from_weights([np.ones((2, 2))])
    with pytest.raises(deepcnt.InputError, match="size"):
        motif_intensity(g, size=5)


def _brute_dag(A, size, layer_of=None, lowest=0):
    """Brute-force intensities of the N×N weights ``A`` (nodes of layers >= ``lowest``); every connected 3- or
    4-node subgraph of a DAG is one of the 28 classes."""
    if lowest:
        keep = layer_of >= lowest
        A = A[np.ix_(keep, keep)]
    want = brute_intensity(None, sizes=(3, 4)[:size - 2], matrix=A)
    assert "other" not in want
    return want


@pytest.mark.parametrize("seed", range(8))
def test_dag_intensity_against_brute_force(seed, monkeypatch):
    g, mats = _dag(1900 + seed, T=[None, 3][seed % 2], max_nodes=[26, 16][seed > 1])
    if seed == 5:  # epochs one at a time and the tt4 tables in chunks of one node
        monkeypatch.setattr(deepcnt.config, "MOTIF_MASK_BUDGET", 1)
    size = 3 if seed < 2 else 4
    shapes = mc.SHAPES_3_DAG + mc.SHAPES_4_DAG if size == 4 else mc.SHAPES_3_DAG
    for normalize in (False, True):
        tot, per = motif_intensity(g, size=size, normalize=normalize)
        assert tuple(tot) == tuple(per) == shapes
        for t, A in enumerate(mats):
            want = _brute_dag(A / np.abs(A).max() if normalize and A.any() else A, size)
            for s in shapes:
                assert np.atleast_1d(tot[s])[t] == pytest.approx(want.get(s, 0.0), rel=1e-9, abs=1e-9), s
                assert np.atleast_2d(per[s])[t].sum() == pytest.approx(np.atleast_1d(tot[s])[t], rel=1e-12, abs=1e-12)
    per = motif_intensity(g, size=size)[1]
    layer_of = g.layer_of()
    above = [_brute_dag(mats[0], size, layer_of, p) for p in range(g.n_layers)]  # instances within layers >= p
    for s in shapes:  # per_block by the lowest layer
        want = [above[p].get(s, 0.0) - above[p + 1].get(s, 0.0) for p in range(g.n_layers - 1)]
        np.testing.assert_allclose(np.atleast_2d(per[s])[0], want, rtol=1e-9, atol=1e-9, err_msg=s)
    if seed in (1, 3):  # the GPU (simulator) twin
        a, b = motif_intensity(g, size=size), motif_intensity(g.to("gpu"), size=size)
        for s in a[0]:
            np.testing.assert_allclose(a[1][s], b[1][s], rtol=1e-12, atol=1e-12)


def test_dag_intensity_of_every_class():
    # five layers, every pair joined (an identity, a diagonal, a sparse block), two epochs: all 28 classes occur
    rng = np.random.default_rng(1)
    sizes = [3, 2, 3, 3, 2]
    ref = {(i, j): rng.normal(size=(2, sizes[i], sizes[j])) * (rng.random((2, sizes[i], sizes[j])) < 0.6)
           for i, j in itertools.combinations(range(5), 2)}
    blocks = dict(ref)
    blocks[(0, 2)], ref[(0, 2)] = "identity", np.broadcast_to(np.eye(3), (2, 3, 3))
    d = rng.normal(size=(2, 3))
    blocks[(2, 3)], ref[(2, 3)] = DiagonalBlock(d), np.stack([np.diag(x) for x in d])
    blocks[(0, 3)] = SparseBlock([sp.csr_matrix(ref[(0, 3)][t]) for t in range(2)])
    g = LayeredGraph.from_blocks(sizes, blocks).threshold(0.2)
    tot, _ = motif_intensity(g)
    seen = set()
    for t in range(2):
        want = _brute_dag(explicit(sizes, ref, g.pairs, g.theta[:, t], t), 4)
        seen |= {s for s, v in want.items() if v > 0}
        for s in tot:
            assert tot[s][t] == pytest.approx(want.get(s, 0.0), rel=1e-9, abs=1e-9), s
    assert seen == set(tot) == set(mc.SHAPES_3_DAG + mc.SHAPES_4_DAG)


def test_dag_intensity_by_hand():
    # one node a layer, every pair joined: the one 4-node set is a transitive tournament, each 3-node set a loop
    w = {(0, 1): 2.0, (0, 2): -3.0, (0, 3): 0.5, (1, 2): 4.0, (1, 3): 1.5, (2, 3): -6.0}
    g = LayeredGraph.from_blocks([1, 1, 1, 1], {p: np.array([[v]]) for p, v in w.items()})
    tot, per = motif_intensity(g)
    a = {p: abs(v) for p, v in w.items()}
    assert tot["tt4"] == pytest.approx(np.prod(list(a.values())) ** (1 / 6), rel=1e-12)
    loops = [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
    assert tot["ffl"] == pytest.approx(sum((a[(i, j)] * a[(j, k)] * a[(i, k)]) ** (1 / 3) for i, j, k in loops))
    np.testing.assert_allclose(per["ffl"], [sum((a[(i, j)] * a[(j, k)] * a[(i, k)]) ** (1 / 3)
                                                for i, j, k in loops if i == p) for p in range(3)], rtol=1e-12)
    assert all(tot[s] == pytest.approx(0.0, abs=1e-12) for s in tot if s not in ("tt4", "ffl"))
    # without the skip 0 -> 3 the set is tt4_no03: its five edges at the exponent 1/5, tt4 and the rest vanish
    del w[(0, 3)]
    g = LayeredGraph.from_blocks([1, 1, 1, 1], {p: np.array([[v]]) for p, v in w.items()})
    tot, per = motif_intensity(g)
    assert tot["tt4_no03"] == pytest.approx(np.prod([abs(v) for v in w.values()]) ** (1 / 5), rel=1e-12)
    np.testing.assert_allclose(per["tt4_no03"], [tot["tt4_no03"], 0, 0], atol=1e-12)
    assert tot["ffl"] == pytest.approx((2 * 4 * 3) ** (1 / 3) + (4 * 6 * 1.5) ** (1 / 3), rel=1e-12)
    assert tot["chain3"] == pytest.approx((2 * 1.5) ** 0.5 + (3 * 6) ** 0.5, rel=1e-12)  # 0->1->3 and 0->2->3
    assert all(tot[s] == pytest.approx(0.0, abs=1e-12) for s in tot if s not in ("tt4_no03", "ffl", "chain3"))


@pytest.mark.parametrize("seed", range(3))
def test_dag_intensity_on_a_chain_equals_the_chain_path(seed):
    # an empty skip block makes the graph a block DAG with the chain's edges: the DAG path gives the chain's values
    rng = np.random.default_rng(1950 + seed)
    sizes = [int(x) for x in rng.integers(1, 5, size=int(rng.integers(3, 6)))]
    W = {(l, l + 1): rng.normal(size=(2, sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)}
    chain = LayeredGraph.from_blocks(sizes, W).threshold(0.3)
    dag = LayeredGraph.from_blocks(sizes, {**W, (0, 2): np.zeros((2, sizes[0], sizes[2]))}).threshold(0.3)
    assert chain.is_chain and not dag.is_chain
    for normalize in (False, True):
        (a, pa), (b, pb) = motif_intensity(chain, normalize=normalize), motif_intensity(dag, normalize=normalize)
        assert tuple(a) == mc.SHAPES_3 + mc.SHAPES_4 and set(b) == set(mc.SHAPES_3_DAG + mc.SHAPES_4_DAG)
        for s in b:
            want = pa[s] if s in pa else np.zeros_like(pa["chain3"])
            np.testing.assert_allclose(pb[s], want, rtol=1e-12, atol=1e-12, err_msg=s)
