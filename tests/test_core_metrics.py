"""degree, strength, knn and La Malfa against dense numpy / networkx on many random layered graphs."""
import numpy as np
import pytest

import deepcnt
from naive import (dense_directed, degree_ref, knn_ref, lamalfa_ref, random_blocks, strength_ref)

SEEDS = range(60)
KNN_VARIANTS = [
    dict(), dict(weighted=True, sign="abs"), dict(weighted=True, sign="positive"),
    dict(weighted=True, sign="negative"),
    dict(source="out", target="in"), dict(source="in", target="out"), dict(source="out", target="out"),
    dict(source="in", target="in"), dict(source="in+out", target="in+out"), dict(source="in+out", target="in"),
    dict(weighted=True, source="out", target="in"), dict(weighted=True, sign="positive", source="in"),
]


def _random_graph(seed):
    rng = np.random.default_rng(seed)
    blocks = random_blocks(rng)
    theta = float(rng.choice([0.0, 0.0, 0.3, 0.8]))
    g = deepcnt.LayeredGraph.from_weights(blocks)
    if theta:
        g = g.threshold(theta)
    return g, blocks, theta


@pytest.mark.parametrize("seed", SEEDS)
def test_degree_and_strength_match_dense(seed):
    g, blocks, theta = _random_graph(seed)
    A = dense_directed(blocks, theta)
    for direction in ("all", "in", "out"):
        for sign in ("all", "positive", "negative"):
            got = deepcnt.degree(g, direction, sign)
            assert got.dtype == np.int64 and got.shape == (g.n_nodes,)
            np.testing.assert_array_equal(got, degree_ref(A, direction, sign))
        for sign in ("net", "positive", "negative", "abs"):
            got = deepcnt.strength(g, direction, sign)
            np.testing.assert_allclose(got, strength_ref(A, direction, sign), rtol=1e-12, atol=1e-12)
    assert g.n_edges == int((A != 0).sum())


@pytest.mark.parametrize("seed", SEEDS)
def test_knn_matches_networkx(seed):
    g, blocks, theta = _random_graph(seed)
    A = dense_directed(blocks, theta)
    for kw in KNN_VARIANTS:
        np.testing.assert_allclose(deepcnt.knn(g, **kw), knn_ref(A, **kw), rtol=1e-10, atol=1e-12, err_msg=str(kw))


@pytest.mark.parametrize("seed", range(20))
def test_lamalfa_matches_loop_formula(seed):
    rng = np.random.default_rng(1000 + seed)
    blocks = random_blocks(rng, dtype=np.float64)
    biases = [rng.normal(size=b.shape[1]) for b in blocks]
    g = deepcnt.LayeredGraph.from_weights(blocks, biases=biases)
    for conv in ("cnt_dnns_code", "plain"):
        ref = lamalfa_ref(blocks, biases, conv)
        np.testing.assert_allclose(deepcnt.nodes_strength(g, conv), np.concatenate(ref), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(deepcnt.layers_fluctuation(g, conv), [np.std(s) for s in ref], atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_epoch_stack_equals_per_epoch(seed):
    rng = np.random.default_rng(2000 + seed)
    T = int(rng.integers(1, 5))
    blocks = random_blocks(rng, stack=T)
    gs = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.2)
    assert gs.n_epochs == T
    for t in range(T):
        g1 = deepcnt.LayeredGraph.from_weights([b[t] for b in blocks]).threshold(0.2)
        for f, kw in [(deepcnt.degree, {}), (deepcnt.strength, {"sign": "abs"}), (deepcnt.knn, {}),
                      (deepcnt.knn, {"weighted": True}), (deepcnt.nodes_strength, {}),
                      (deepcnt.layers_fluctuation, {})]:
            np.testing.assert_allclose(f(gs, **kw)[t], f(g1, **kw), rtol=1e-12)
        np.testing.assert_array_equal(gs.n_edges[t], g1.n_edges)


def test_oracle_222(oracle, oracle_graph):
    g = oracle_graph
    st, dg, kn = oracle["strength"], oracle["degree"], oracle["knn"]
    tol = dict(rtol=0, atol=1e-9)
    np.testing.assert_allclose(deepcnt.strength(g), st["total_signed_undirected"], **tol)
    np.testing.assert_allclose(deepcnt.strength(g, sign="positive"), st["pos"], **tol)
    np.testing.assert_allclose(deepcnt.strength(g, sign="negative"), st["neg_magnitude"], **tol)
    np.testing.assert_allclose(deepcnt.strength(g, sign="abs"), st["abs"], **tol)
    np.testing.assert_allclose(deepcnt.strength(g, "out")[g.layer_slice(0)], st["out_signed_L0"], **tol)
    np.testing.assert_allclose(deepcnt.strength(g, "in")[g.layer_slice(1)], st["in_signed_L1"], **tol)
    np.testing.assert_allclose(deepcnt.strength(g, "out")[g.layer_slice(1)], st["out_signed_L1"], **tol)
    np.testing.assert_allclose(deepcnt.strength(g, "in")[g.layer_slice(2)], st["in_signed_L2"], **tol)
    np.testing.assert_array_equal(deepcnt.degree(g), dg["undirected"])
    np.testing.assert_array_equal(deepcnt.degree(g, "in"), dg["in"])
    np.testing.assert_array_equal(deepcnt.degree(g, "out"), dg["out"])
    np.testing.assert_allclose(deepcnt.knn(g), kn["binary_undirected"], **tol)
    np.testing.assert_allclose(deepcnt.knn(g, weighted=True), kn["barrat_abs_w"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(deepcnt.knn(g, source="out", target="in"), kn["directed_source_out_target_in"], **tol)
    np.testing.assert_allclose(deepcnt.knn(g, source="in", target="out"), kn["directed_source_in_target_out"], **tol)
    lm = oracle["lamalfa_CNT_DNNs_code_convention"]
    code = deepcnt.nodes_strength(g)
    for l in range(3):
        np.testing.assert_allclose(code[g.layer_slice(l)], lm[f"nodes_strength_L{l}"], **tol)
    np.testing.assert_allclose(deepcnt.layers_fluctuation(g), lm["layers_fluctuation_np_std_ddof0"], **tol)
    plain = oracle["lamalfa_plain_in_plus_out_no_bias"]
    np.testing.assert_allclose(deepcnt.nodes_strength(g, "plain"), np.concatenate(plain["nodes_strength"]), **tol)
    np.testing.assert_allclose(deepcnt.layers_fluctuation(g, "plain"), plain["layers_fluctuation"], **tol)
    assert g.n_edges == 7


def test_bad_metric_options(oracle_graph):
    g = oracle_graph
    for call in (lambda: deepcnt.degree(g, direction="up"), lambda: deepcnt.degree(g, sign="net"),
                 lambda: deepcnt.strength(g, sign="all"), lambda: deepcnt.knn(g, sign="net"),
                 lambda: deepcnt.knn(g, source="sideways"), lambda: deepcnt.nodes_strength(g, "paper")):
        with pytest.raises(deepcnt.InputError, match="unknown"):
            call()
