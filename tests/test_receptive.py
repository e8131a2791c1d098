"""Receptive fields, RF → distribution modes, dead units, RF clustering and per-cluster statistics (spec §7, §15)."""
import numpy as np
import pytest

import deepcnt
from deepcnt.function import receptive as rfm
from deepcnt.function import rfclusters as rfc
from deepcnt.errors import InputError
from naive import random_blocks


@pytest.mark.parametrize("seed", range(6))
def test_receptive_fields_are_linear_products(seed):
    rng = np.random.default_rng(seed)
    blocks = random_blocks(rng, n_layers=3, max_width=6, dtype=np.float64)
    for layer in (1, 2, 3):
        rf = rfm.receptive_fields(blocks, layer)
        n0, nl = blocks[0].shape[0], blocks[layer - 1].shape[1]
        assert rf.shape == (nl, n0)
        for j in range(nl):  # Testolin's sums, written out
            for p in range(n0):
                if layer == 1:
                    ref = blocks[0][p, j]
                elif layer == 2:
                    ref = sum(blocks[0][p, a] * blocks[1][a, j] for a in range(blocks[0].shape[1]))
                else:
                    ref = sum(blocks[0][p, a] * blocks[1][a, b] * blocks[2][b, j]
                              for a in range(blocks[0].shape[1]) for b in range(blocks[1].shape[1]))
                assert rf[j, p] == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_receptive_fields_of_a_stack_and_a_graph():
    rng = np.random.default_rng(1)
    blocks = random_blocks(rng, n_layers=2, max_width=5, stack=3, dtype=np.float64)
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.5)  # thresholds do not change RFs
    rf = rfm.receptive_fields(g, 2)
    assert rf.shape[0] == 3
    for t in range(3):
        np.testing.assert_allclose(rf[t], (blocks[0][t] @ blocks[1][t]).T, rtol=1e-12)
        np.testing.assert_allclose(rfm.receptive_fields(g, 2, epoch=t), rf[t])
    img = rfm.as_images(np.arange(12.0).reshape(2, 6), (2, 3))
    assert img.shape == (2, 2, 3) and img[1, 1, 0] == 9.0


def test_distribution_modes():
    rf = np.array([[1.0, -1.0, 3.0, 0.0], [-2.0, 2.0, 0.0, 1.0]])
    np.testing.assert_allclose(rfm.rf_distributions(rf, "pos"), [[.25, 0, .75, 0], [0, 2 / 3, 0, 1 / 3]])
    np.testing.assert_allclose(rfm.rf_distributions(rf, "neg"), [[0, 1, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_allclose(rfm.rf_distributions(rf, "abs"), [[.2, .2, .6, 0], [.4, .4, 0, .2]])
    np.testing.assert_allclose(rfm.rf_distributions(rf, "shift")[0], np.array([2, 0, 4, 1]) / 7)
    np.testing.assert_allclose(rfm.grey_levels(rf), [[.5, 0, 1, .25], [0, 1, .5, .75]])
    np.testing.assert_allclose(rfm.grey_levels(rf, 4), [[2, 0, 4, 1], [0, 4, 2, 3]])
    np.testing.assert_allclose(rfm.rf_distributions(rf, "pebbles", levels=4)[1], np.array([0, 4, 2, 3]) / 9)
    np.testing.assert_allclose(rfm.rf_distributions(rf, "minmax").sum(1), 1.0)


def test_dead_units():
    rng = np.random.default_rng(3)
    rf = rng.normal(size=(8, 5))
    rf[5] = rf[1]
    rf[7] = rf[1] + 1e-12
    rf[6] = rf[2]
    labels, groups = rfm.dead_units(rf)
    assert [g.tolist() for g in groups] == [[1, 5, 7], [2, 6]]
    assert labels.tolist() == [0, 1, 2, 3, 4, 1, 2, 1]
    assert rfm.dead_units(rng.normal(size=(4, 3)))[1] == []


def test_bad_inputs():
    with pytest.raises(InputError, match="layer must be"):
        rfm.receptive_fields([np.ones((3, 2))], layer=2)
    with pytest.raises(InputError, match="NaN"):
        rfm.receptive_fields([np.array([[np.nan, 1.0]])])
    with pytest.raises(InputError, match="image shape"):
        rfm.as_images(np.ones((2, 5)), (2, 3))
    with pytest.raises(InputError, match="no mass in mode 'pos'.*unit 1"):
        rfm.rf_distributions(np.array([[1.0, 0.0], [-1.0, -2.0]]), "pos")
    with pytest.raises(InputError, match="unknown mode"):
        rfm.rf_distributions(np.ones((1, 2)), "bogus")
    with pytest.raises(InputError, match="NaN"):
        rfm.rf_distributions(np.array([[1.0, np.nan]]))
    with pytest.raises(InputError, match="2-D"):
        rfm.dead_units(np.ones(3))
    with pytest.raises(InputError, match="epoch 5"):
        rfm.receptive_fields([np.ones((2, 2, 2))], epoch=5)


# ------------------------------------------------------------------ clustering (oracle: spec §12)
def test_rf_clustering_toy_oracle(oracle):
    from deepcnt.function import transport as tr

    toy = oracle["rf_clustering_toy"]
    P = np.array(toy["RF_rows_2x2_row_major"])
    D = tr.emd_matrix(P, tr.ground_metric((2, 2)), n_jobs=1)
    np.testing.assert_allclose(D, toy["EMD_matrix"], atol=1e-9, rtol=0)
    res = rfc.cluster_receptive_fields(D, method="linkage", n_clusters=2)
    np.testing.assert_allclose(res.Z, toy["linkage_average_optimal_ordering"], atol=1e-9, rtol=0)
    assert res.order.tolist() == toy["leaves_list"]
    assert res.labels.tolist() == toy["fcluster_maxclust_2"]
    # the same clustering through the RF path (pos mode of non-negative rows is the rows themselves)
    D2 = tr.rf_emd_matrix(P, (2, 2), mode="pos", n_jobs=1)
    np.testing.assert_allclose(D2, D, atol=1e-12)


def test_testolin_recipe_is_euclidean_rows_then_linkage():
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(5)
    X = rng.random((12, 12))
    D = X + X.T
    np.fill_diagonal(D, 0)
    res = rfc.cluster_receptive_fields(D, n_clusters=4)
    naive_d = np.array([np.linalg.norm(D[i] - D[j]) for i in range(12) for j in range(i + 1, 12)])
    np.testing.assert_allclose(res.distances, naive_d, rtol=1e-12)
    Z = linkage(pdist(D), "average", optimal_ordering=True)
    np.testing.assert_allclose(res.Z, Z)
    assert res.labels.max() <= 4
    assert (res.labels == fcluster(Z, 4, "maxclust")).all()
    assert sorted(res.order.tolist()) == list(range(12))
    res_w = rfc.cluster_receptive_fields(D, n_clusters=3, linkage_method="ward")
    assert res_w.labels.max() <= 3


def test_cluster_bad_inputs():
    with pytest.raises(InputError, match="square"):
        rfc.cluster_receptive_fields(np.ones((2, 3)))
    with pytest.raises(InputError, match="symmetric"):
        rfc.cluster_receptive_fields(np.array([[0, 1.0], [2.0, 0]]))
    with pytest.raises(InputError, match="NaN"):
        rfc.cluster_receptive_fields(np.array([[0, np.nan], [np.nan, 0]]))
    with pytest.raises(InputError, match="Euclidean"):
        rfc.cluster_receptive_fields(np.array([[0, 1.0], [1.0, 0]]), "linkage", linkage_method="ward")
    with pytest.raises(InputError, match="unknown method"):
        rfc.cluster_receptive_fields(np.array([[0, 1.0], [1.0, 0]]), "kmeans")


@pytest.mark.parametrize("seed", range(3))
def test_cluster_statistics_against_dense(seed):
    from scipy.stats import pearsonr

    from naive import dense_directed

    rng = np.random.default_rng(10 + seed)
    blocks = [rng.normal(size=(6, 30)), rng.normal(size=(30, 4))]
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.3)
    labels = rng.integers(1, 6, size=30)
    labels[:3] = 9  # a small cluster, dropped with min_size=4
    table, corr = rfc.cluster_statistics(g, 1, labels, min_size=4)
    A = dense_directed(blocks, 0.3)
    U = A + A.T
    k = (U != 0).sum(1)
    kp, kn = (U > 0).sum(1), (U < 0).sum(1)
    s = U.sum(1)
    knn = np.where(k > 0, (U != 0) @ k / np.maximum(k, 1), 0)
    sl = slice(6, 36)
    kept = [c for c in np.unique(labels) if (labels == c).sum() >= 4]
    assert table["cluster"].tolist() == kept and 9 not in kept
    for name, v in (("k", k), ("k_pos", kp), ("k_neg", kn), ("knn", knn), ("s", s)):
        v = v[sl]
        np.testing.assert_allclose(table[f"{name}_mean"], [v[labels == c].mean() for c in kept], rtol=1e-12)
        np.testing.assert_allclose(table[f"{name}_std"], [v[labels == c].std() for c in kept], rtol=1e-9,
                                   atol=1e-12)
    r, p = corr[("k", "s")]
    ref = pearsonr(table["k_mean"], table["s_mean"])
    assert r == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    with pytest.raises(InputError, match="labels has shape"):
        rfc.cluster_statistics(g, 1, labels[:5])


def test_cluster_statistics_permutation_p_and_whole_analysis():
    from deepcnt.function import stats as st
    from deepcnt.function import transport as tr

    rng = np.random.default_rng(21)
    W1 = rng.normal(size=(9, 24))
    W2 = rng.normal(size=(24, 3))
    g = deepcnt.LayeredGraph.from_weights([np.stack([W1, -W1]), np.stack([W2, W2])]).threshold(0.5)
    res = rfc.receptive_field_clusters(g, 1, (3, 3), epoch=0, n_clusters=5, min_size=2, n_jobs=1,
                                       n_permutations=99, seed=3)
    np.testing.assert_allclose(res["rf"], W1.T)
    D = tr.rf_emd_matrix(W1.T, (3, 3), mode="pebbles", n_jobs=1)
    np.testing.assert_allclose(res["emd"], D)
    ref = rfc.cluster_receptive_fields(D, n_clusters=5)
    assert (res["clustering"].labels == ref.labels).all()
    table, _ = rfc.cluster_statistics(g, 1, ref.labels, epoch=0, min_size=2)
    np.testing.assert_allclose(res["table"]["s_mean"], table["s_mean"])
    r, p = res["correlations"][("k", "s")]
    assert (r, p) == st.pearson_permutation(table["k_mean"], table["s_mean"], 99, seed=3)
    assert res["dead"] == []
    with pytest.raises(InputError, match="epoch="):
        rfc.receptive_field_clusters(g, 1, (3, 3))
