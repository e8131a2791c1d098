"""Forward pass of MLP blocks, PCA of activity (against scikit-learn), category distances (spec §15)."""
import numpy as np
import pytest

import deepcnt
from deepcnt.function import activity as act
from deepcnt.errors import InputError


def test_forward_against_torch():
    import torch

    rng = np.random.default_rng(0)
    Ws = [rng.uniform(-1, 1, size=(6, 5)), rng.uniform(-1, 1, size=(5, 4)), rng.uniform(-1, 1, size=(4, 3))]
    bs = [rng.normal(size=5), rng.normal(size=4), rng.normal(size=3)]
    X = rng.random((7, 6))
    g = deepcnt.LayeredGraph.from_weights(Ws, biases=bs)
    H = act.forward(g, X, "sigmoid", output_activation="softmax")
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Sigmoid(), torch.nn.Linear(5, 4), torch.nn.Sigmoid(),
                              torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)).double()
    with torch.no_grad():
        for lin, W, b in zip([net[0], net[2], net[4]], Ws, bs):
            lin.weight.copy_(torch.from_numpy(W.T))  # torch Linear.weight is (out, in)
            lin.bias.copy_(torch.from_numpy(b))
        xt = torch.from_numpy(X)
        ref = [xt, net[:2](xt), net[:4](xt), net(xt)]
    for h, r in zip(H, ref):
        np.testing.assert_allclose(h, r.numpy(), rtol=1e-12, atol=1e-14)
    relu = act.forward(Ws, X, "relu", use_biases=False)
    np.testing.assert_allclose(relu[2], np.maximum(np.maximum(X @ Ws[0], 0) @ Ws[1], 0))


def test_forward_epoch_of_a_stack():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(3, 4, 2))
    g = deepcnt.LayeredGraph.from_weights([W])
    X = rng.random((5, 4))
    np.testing.assert_allclose(act.forward(g, X, "tanh", epoch=2)[1], np.tanh(X @ W[2]))
    with pytest.raises(InputError, match="epoch="):
        act.forward(g, X)


@pytest.mark.parametrize("shape", [(60, 8), (9, 20)])
def test_pca_against_sklearn(shape):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    A = rng.normal(size=shape) @ rng.normal(size=(shape[1], shape[1]))
    A[:, 3] = 1.5  # a constant feature (a border pixel)
    k = min(5, min(shape))
    res = act.pca(A, k)
    Z = StandardScaler().fit_transform(A)
    sk = PCA(k, svd_solver="full").fit(Z)
    np.testing.assert_allclose(res["explained_variance_ratio"], sk.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(res["explained_variance"], sk.explained_variance_, rtol=1e-9)
    signs = np.sign((res["components"] * sk.components_).sum(1))
    np.testing.assert_allclose(res["components"], sk.components_ * signs[:, None], atol=1e-8)
    np.testing.assert_allclose(res["scores"], sk.transform(Z) * signs[None, :], atol=1e-8)
    raw = act.pca(A, k, standardized=False)
    np.testing.assert_allclose(raw["explained_variance_ratio"], PCA(k).fit(A).explained_variance_ratio_, rtol=1e-9)


def test_category_distances_against_loops():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 3))
    y = rng.integers(0, 4, size=30)
    w, b = act.category_distances(X, y)
    mu = {c: X[y == c].mean(0) for c in range(4)}
    ref_b = np.mean([np.linalg.norm(mu[i] - mu[j]) for i in range(4) for j in range(i + 1, 4)])
    ref_w = np.mean([np.mean([np.linalg.norm(x - mu[c]) for x in X[y == c]]) for c in range(4)])
    assert b == pytest.approx(ref_b) and w == pytest.approx(ref_w)
    wp, _ = act.category_distances(X, y, within="pairwise")
    ref_wp = np.mean([np.mean([np.linalg.norm(X[i] - X[j]) for i in np.flatnonzero(y == c)
                               for j in np.flatnonzero(y == c) if i < j]) for c in range(4)])
    assert wp == pytest.approx(ref_wp)


def test_activity_pca_per_epoch_and_concatenated():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(4)
    T, S, n = 3, 40, 6
    y = rng.integers(0, 3, size=S)
    A = rng.normal(size=(T, S, n)) + np.arange(T)[:, None, None] * y[None, :, None] * rng.normal(size=n)
    res = act.activity_pca(A, y, n_components=4)
    for t in range(T):
        ref = PCA(4).fit(StandardScaler().fit_transform(A[t])).explained_variance_ratio_
        np.testing.assert_allclose(res["per_epoch_ratio"][t], ref, rtol=1e-9)
    sc = StandardScaler().fit(A.reshape(T * S, n))
    sk = PCA(4).fit(sc.transform(A.reshape(T * S, n)))
    np.testing.assert_allclose(res["concat_ratio"], sk.explained_variance_ratio_, rtol=1e-9)
    for t in range(T):
        proj = sk.transform(sc.transform(A[t])) + sk.mean_ @ sk.components_.T  # undo sklearn's global centring
        np.testing.assert_allclose(res["epoch_eigenvalues"][t], proj.var(0, ddof=1), rtol=1e-8)
        w, b = act.category_distances(proj[:, :3], y)
        assert res["within"][t] == pytest.approx(w) and res["between"][t] == pytest.approx(b)
    assert res["between"][2] > res["between"][0]  # the categories separate with the injected signal
    lazy = act.activity_pca([A[t] + 1e3 for t in range(T)], y, n_components=4)  # a sequence; a large offset
    for key in res:
        if key == "concat_components":
            np.testing.assert_allclose(np.abs(lazy[key]), np.abs(res[key]), atol=1e-7)
        else:
            np.testing.assert_allclose(lazy[key], res[key], rtol=1e-7, atol=1e-10, err_msg=key)


def test_bad_inputs():
    with pytest.raises(InputError, match="unknown activation"):
        act.forward([np.ones((2, 2))], np.ones((3, 2)), "gelu")
    with pytest.raises(InputError, match="X must have shape"):
        act.forward([np.ones((2, 2))], np.ones((3, 3)))
    with pytest.raises(InputError, match="NaN"):
        act.forward([np.ones((2, 2))], np.array([[np.nan, 1.0]]))
    with pytest.raises(InputError, match="n_components"):
        act.pca(np.random.default_rng(0).normal(size=(5, 3)), 4)
    with pytest.raises(InputError, match="NaN"):
        act.pca(np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(InputError, match="labels has shape"):
        act.category_distances(np.ones((4, 3)), [0, 1])
    with pytest.raises(InputError, match="within must be"):
        act.category_distances(np.ones((4, 3)), [0, 1, 0, 1], within="median")
    with pytest.raises(InputError, match="epochs, items, nodes"):
        act.activity_pca(np.ones((4, 3)))
    with pytest.raises(InputError, match="same items and nodes"):
        act.activity_pca([np.random.default_rng(0).normal(size=(5, 3)), np.ones((4, 3))], n_components=2, n_dims=2)
    with pytest.raises(InputError, match="non-empty sequence"):
        act.activity_pca([])
