"""Weight/strength histograms and KDEs per layer and epoch, symmetric KL between accuracy groups, edge change."""
import numpy as np
import pytest
from scipy import stats as sps

import deepcnt
from deepcnt.core import distributions as dist
from deepcnt.errors import InputError
from naive import dense_directed, random_blocks


@pytest.mark.parametrize("seed", range(4))
def test_weight_histograms_against_numpy(seed):
    rng = np.random.default_rng(seed)
    blocks = random_blocks(rng, max_width=6, stack=3, dtype=np.float64)
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.4)
    counts, edges = dist.weight_histograms(g, bins=7)
    kept, _ = dist.weight_histograms(g, bins=7, kept_only=True)
    for l, W in enumerate(blocks):
        for t in range(3):
            ref, e = np.histogram(W[t], bins=7, range=(W.min(), W.max()) if W.min() < W.max() else None)
            if W.min() < W.max():
                np.testing.assert_array_equal(counts[l][t], ref)
                np.testing.assert_allclose(edges[l], e)
                w = W[t][np.abs(W[t]) > 0.4]
                np.testing.assert_array_equal(kept[l][t], np.histogram(w, bins=e)[0])
            assert counts[l][t].sum() == W[t].size


@pytest.mark.parametrize("seed", range(3))
def test_strength_histograms_against_dense(seed):
    rng = np.random.default_rng(10 + seed)
    blocks = random_blocks(rng, max_width=6, stack=2, dtype=np.float64)
    g = deepcnt.LayeredGraph.from_weights(blocks)
    counts, edges = dist.strength_histograms(g, bins=5)
    st = deepcnt.strength(g)
    for t in range(2):
        A = dense_directed([b[t] for b in blocks])
        s = st[t]  # the histogram of deepcnt.strength (edges are its min/max: no rounding at the ends) ...
        np.testing.assert_allclose(s, (A + A.T).sum(1), rtol=1e-9, atol=1e-12)  # ... which is the dense sum
        for l in range(g.n_layers):
            np.testing.assert_array_equal(counts[l][t], np.histogram(s[g.layer_slice(l)], bins=edges[l])[0])


@pytest.mark.parametrize("bw", ["scott", "silverman", 0.3])
def test_kde_against_scipy(bw):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 200)) * np.array([[1.0], [2.0], [0.5]])
    grid = np.linspace(-5, 5, 41)
    got = dist.kde(x, grid, bandwidth=bw, chunk=64)
    for t in range(3):
        np.testing.assert_allclose(got[t], sps.gaussian_kde(x[t], bw_method=bw)(grid), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dist.kde(x[0], grid, bw), got[0])


def test_symmetric_kl_against_scipy_entropy():
    rng = np.random.default_rng(2)
    p, q = rng.random((4, 9)), rng.random((4, 9))
    got = dist.symmetric_kl(p, q, eps=0)
    ref = [sps.entropy(p[i], q[i]) + sps.entropy(q[i], p[i]) for i in range(4)]
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    p[0, 3] = 0  # an empty bin: finite with smoothing, matches scipy on the smoothed histograms
    e = 1e-6
    ref0 = sps.entropy(p[0] + e, q[0] + e) + sps.entropy(q[0] + e, p[0] + e)
    assert dist.symmetric_kl(p[0], q[0], eps=e) == pytest.approx(ref0, rel=1e-12)
    assert dist.symmetric_kl(p[0], p[0]) == 0


def test_accuracy_groups_and_group_kl():
    acc = np.array([0.975, 0.99, 0.951, 0.9749, 0.5])
    assert dist.accuracy_groups(acc).tolist() == [39, 39, 38, 38, 20]
    rng = np.random.default_rng(3)
    v = rng.normal(size=(5, 300)) + np.array([[0.0], [0.0], [1.0], [1.0], [3.0]])
    groups, D, counts = dist.group_kl(v, acc, bins=20)
    np.testing.assert_allclose(groups, [0.5, 0.95, 0.975])
    e = np.linspace(v.min(), v.max(), 21)
    h = {k: np.histogram(v[idx].ravel(), bins=e)[0] for k, idx in ((0, [4]), (1, [2, 3]), (2, [0, 1]))}
    for i in range(3):
        np.testing.assert_array_equal(counts[i], h[i])
        for j in range(3):
            assert D[i, j] == pytest.approx(dist.symmetric_kl(h[i], h[j]), rel=1e-12)
    assert D[1, 2] < D[0, 2]


def test_edge_change():
    rng = np.random.default_rng(4)
    W = rng.normal(size=(4, 6, 3))
    g = deepcnt.LayeredGraph.from_weights([W, rng.normal(size=(4, 3, 2))])
    c = dist.edge_change(g)
    for t in range(3):
        for i in range(6):
            assert c[t, i] == pytest.approx(sum(abs(W[t + 1, i, j] - W[t, i, j]) for j in range(3)))
    np.testing.assert_allclose(dist.edge_change(g, shape=(2, 3))[1], c[1].reshape(2, 3))
    np.testing.assert_allclose(dist.edge_change(g, end="target"), np.abs(np.diff(W, axis=0)).sum(1))


def test_bad_inputs():
    g1 = deepcnt.LayeredGraph.from_weights([np.ones((2, 2))])
    with pytest.raises(InputError, match="at least 2 epochs"):
        dist.edge_change(g1)
    gs = deepcnt.LayeredGraph.from_weights([np.ones((2, 2, 2))])
    with pytest.raises(InputError, match="block must be"):
        dist.edge_change(gs, block=3)
    with pytest.raises(InputError, match="image shape"):
        dist.edge_change(gs, shape=(3, 3))
    with pytest.raises(InputError, match="bins"):
        dist.weight_histograms(g1, bins=0)
    with pytest.raises(InputError, match="incompatible shapes"):
        dist.symmetric_kl(np.ones(3), np.ones(4))
    with pytest.raises(InputError, match="non-negative"):
        dist.symmetric_kl(np.array([1.0, -1.0]), np.ones(2))
    with pytest.raises(InputError, match="accuracy has"):
        dist.group_kl(np.ones((3, 4)), [0.9, 0.8])
    with pytest.raises(InputError, match="NaN"):
        dist.group_kl(np.full((2, 4), np.nan), [0.9, 0.8])
    with pytest.raises(InputError, match="NaN"):
        dist.kde(np.array([1.0, np.nan, 2.0]), np.zeros(3))
    with pytest.raises(InputError, match="bandwidth"):
        dist.kde(np.array([1.0, 0.0, 2.0]), np.zeros(3), bandwidth="wide")
    with pytest.raises(InputError, match="constant"):
        dist.kde(np.ones(4), np.zeros(3))
    with pytest.raises(InputError, match="finite"):
        dist.accuracy_groups(np.array([np.nan]))


@pytest.mark.parametrize("seed", range(3))
def test_weight_moments_against_scipy(seed):
    rng = np.random.default_rng(30 + seed)
    blocks = random_blocks(rng, max_width=6, stack=2)
    g = deepcnt.LayeredGraph.from_weights(blocks)
    m = deepcnt.get_metric("weight_moments").compute(g)
    for t in range(2):
        w = np.concatenate([b[t].ravel().astype(np.float64) for b in blocks])
        assert m["weight_mean"][t] == pytest.approx(w.mean(), abs=1e-12)
        assert m["weight_std"][t] == pytest.approx(w.std(), rel=1e-9, abs=1e-12)
        if w.std() > 0:
            assert m["weight_skew"][t] == pytest.approx(sps.skew(w), rel=1e-6, abs=1e-9)
            assert m["weight_kurtosis"][t] == pytest.approx(sps.kurtosis(w), rel=1e-6, abs=1e-9)
    one = dist.weight_moments(g.epoch(1))
    assert np.ndim(one["weight_mean"]) == 0 and one["weight_mean"] == pytest.approx(m["weight_mean"][1])
    flat = dist.weight_moments(deepcnt.LayeredGraph.from_weights([np.ones((2, 2))]))
    assert np.isnan(flat["weight_skew"]) and flat["weight_std"] == 0
