"""Mutual information of binarised pixels / nodes with the class (spec §8, §15): oracle, direct counts,
scikit-learn, exhaustive threshold search, CPU vs GPU-simulator kernels, bad inputs."""
import math

import numpy as np
import pytest

from deepcnt import config
from deepcnt.function import information as inf
from deepcnt.errors import InputError
from deepcnt.kernels.cpu import information as kcpu
from deepcnt.kernels.gpu import information as kgpu


def _sk_bits(x, y):
    from sklearn.metrics import mutual_info_score

    return mutual_info_score(x, y) / math.log(2)


def _direct_mi(x, y):
    """MI in bits by a direct count over the joint table (0 log 0 = 0)."""
    S = len(x)
    I = 0.0
    for a in np.unique(x):
        for b in np.unique(y):
            n = np.sum((x == a) & (y == b))
            if n:
                I += n / S * math.log2(n * S / (np.sum(x == a) * np.sum(y == b)))
    return I


def test_oracle(oracle):
    o = oracle["mutual_information"]
    x, y = np.array(o["x_binarized"]), np.array(o["y_class"])
    assert inf.binary_information(x[:, None], y)[0] == pytest.approx(o["MI_plugin_bits"], abs=1e-9)
    bias = inf.miller_madow_bias(len(x), 3)
    assert bias == pytest.approx(o["MillerMadow_bias_bits_(|X|-1)(|Y|-1)/(2N ln2)"], abs=1e-9)
    mm = inf.binary_information(x[:, None], y, miller_madow=True)[0]
    assert mm == pytest.approx(o["MI_plugin_bits"] - bias, abs=1e-12)
    # H(Y) = I + H(Y|X) of the oracle
    p = np.bincount(y) / len(y)
    assert -(p * np.log2(p)).sum() == pytest.approx(o["H_Y_bits"], abs=1e-9)
    assert _direct_mi(x, y) == pytest.approx(0.75, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_mi_against_per_feature_loop(seed):
    rng = np.random.default_rng(seed)
    S, P, C = int(rng.integers(5, 300)), int(rng.integers(1, 40)), int(rng.integers(2, 11))
    y = rng.integers(0, C, size=S)
    Xb = (rng.random((S, P)) < rng.random(P)).astype(np.uint8)
    Xb[:, 0] = (y % 2) if P > 1 else Xb[:, 0]  # an informative one
    if P > 2:
        Xb[:, 1] = 0  # never on
    got = inf.binary_information(Xb, y)
    ref = np.array([_sk_bits(Xb[:, p], y) for p in range(P)])
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    ref2 = np.array([_direct_mi(Xb[:, p], y) for p in range(P)])
    np.testing.assert_allclose(got, ref2, rtol=1e-9, atol=1e-12)


def test_labels_of_any_kind_and_chunked_counts(monkeypatch):
    monkeypatch.setattr(config, "INFORMATION_ROW_CHUNK", 7)
    rng = np.random.default_rng(9)
    y = rng.choice(np.array(["a", "b", "z"]), size=50)
    Xb = rng.integers(0, 2, size=(50, 6)).astype(bool)
    ref = np.array([_sk_bits(Xb[:, p], y) for p in range(6)])
    np.testing.assert_allclose(inf.binary_information(Xb, y), ref, rtol=1e-9, atol=1e-12)


def _exhaustive_ip(X, y):
    S, P = X.shape
    ip, th, idd = np.zeros(P), np.zeros(P), np.zeros(P)
    vals = np.unique(X)
    for p in range(P):
        best = -1.0
        for t in vals:
            v = _sk_bits((X[:, p] > t).astype(int), y)
            if v > best + 1e-12:
                best, th[p] = v, t
        ip[p] = best
        on = X[:, p] > th[p]
        if on.any():  # ID: mean over items with the pixel on of log2 p(y|on)/p(y)
            py = {c: np.mean(y == c) for c in np.unique(y)}
            pyon = {c: np.mean(y[on] == c) for c in np.unique(y)}
            idd[p] = np.mean([math.log2(pyon[c] / py[c]) for c in y[on]])
    return ip, th, idd


@pytest.mark.parametrize("seed", range(4))
def test_optimal_threshold_ip_against_exhaustive_search(seed):
    rng = np.random.default_rng(50 + seed)
    S, P, C = 120, 9, 4
    y = rng.integers(0, C, size=S)
    X = rng.integers(0, 6, size=(S, P)) + (y[:, None] * rng.integers(0, 3, size=P)[None, :])
    X[:, 2] = 3  # constant pixel
    if seed % 2:
        X = X.astype(np.float64) / 7.0
    res = inf.pixel_information(X, y)
    ip, th, idd = _exhaustive_ip(X, y)
    np.testing.assert_allclose(res["IP"], ip, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res["threshold"], th)
    np.testing.assert_allclose(res["ID"], idd, rtol=1e-9, atol=1e-12)
    assert res["IP"][2] == 0 and res["n_on"][2] in (0, S)  # a constant pixel carries nothing
    mm = inf.pixel_information(X, y, miller_madow=True)["IP"]
    np.testing.assert_allclose(mm, ip - inf.miller_madow_bias(S, C))


def test_quantile_thresholds_stay_consistent():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=200)
    X = rng.normal(size=(200, 4)) + y[:, None]
    res = inf.pixel_information(X, y, max_levels=16)
    for p in range(4):  # the reported IP is the MI of the reported binarisation
        assert res["IP"][p] == pytest.approx(_sk_bits((X[:, p] > res["threshold"][p]).astype(int), y), abs=1e-12)
    full = inf.pixel_information(X, y)  # exhaustive over all 800 values: at least as good
    assert (full["IP"] >= res["IP"] - 1e-12).all()


def test_pointwise_on_information_weights_to_id():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=60)
    Xb = rng.integers(0, 2, size=(60, 5))
    pw = inf.pointwise_on_information(Xb, y)
    n1y = np.stack([[np.sum((Xb[:, p] == 1) & (y == c)) for c in range(3)] for p in range(5)])
    w = n1y / n1y.sum(1, keepdims=True)
    idd = np.where(w > 0, w * np.where(np.isfinite(pw), pw, 0), 0).sum(1)
    out = np.empty(5)
    kcpu.on_information(n1y.astype(float), np.bincount(y).astype(float), 60.0, out)
    np.testing.assert_allclose(out, idd, rtol=1e-12)


def test_node_information_ih():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 10, size=80)
    H = 1 / (1 + np.exp(-rng.normal(size=(80, 7)) - 0.3 * y[:, None]))
    got = inf.node_information(H, y)
    ref = [_sk_bits((H[:, j] > 0.5).astype(int), y) for j in range(7)]
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    med = inf.node_information(H, y, theta="median")
    ref = [_sk_bits((H[:, j] > np.median(H[:, j])).astype(int), y) for j in range(7)]
    np.testing.assert_allclose(med, ref, rtol=1e-9, atol=1e-12)


def test_shuffle_null():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 3, size=90)
    Xb = rng.integers(0, 2, size=(90, 4))
    Xb[:, 0] = y == 1
    res = inf.shuffle_null(Xb, y, n_shuffles=30, seed=1)
    r2 = np.random.default_rng(1)
    ref = []
    for _ in range(30):
        yp = y[r2.permutation(90)]
        ref.append([_sk_bits(Xb[:, p], yp) for p in range(4)])
    np.testing.assert_allclose(res["null"], ref, rtol=1e-9, atol=1e-12)
    assert inf.binary_information(Xb, y)[0] > res["q"][0]


@pytest.mark.parametrize("seed", range(3))
def test_kernels_cpu_vs_gpu_simulator(seed):
    rng = np.random.default_rng(70 + seed)
    P, C = int(rng.integers(1, 20)), int(rng.integers(2, 6))
    ny = rng.integers(1, 30, size=C).astype(float)
    n1y = np.floor(rng.random((P, C)) * (ny + 1)).astype(float)
    n1y[0] = 0  # never on
    S = float(ny.sum())
    for name in ("binary_mi", "on_information"):
        a, b = np.full(P, np.nan), np.full(P, np.nan)
        getattr(kcpu, name)(n1y, ny, S, a)
        getattr(kgpu, name)(n1y, ny, S, b)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    # and the whole engine path on the simulator
    y = rng.integers(0, C, size=40)
    Xb = rng.integers(0, 2, size=(40, 5))
    np.testing.assert_allclose(inf.binary_information(Xb, y, device="gpu"), inf.binary_information(Xb, y),
                               rtol=1e-12)
    X = rng.integers(0, 4, size=(40, 3))
    g, c = inf.pixel_information(X, y, device="gpu"), inf.pixel_information(X, y)
    for k in c:
        np.testing.assert_allclose(g[k], c[k], rtol=1e-12)


def test_bad_inputs():
    y = np.array([0, 1, 0])
    with pytest.raises(InputError, match="labels must be a 1-D array of 3"):
        inf.binary_information(np.ones((3, 2)), np.array([0, 1]))
    with pytest.raises(InputError, match="only 0 and 1"):
        inf.binary_information(np.full((3, 2), 2), y)
    with pytest.raises(InputError, match="NaN"):
        inf.pixel_information(np.array([[np.nan], [1.0], [0.0]]), y)
    with pytest.raises(InputError, match="NaN"):
        inf.binary_information(np.ones((3, 1)), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(InputError, match="2-D"):
        inf.node_information(np.ones(3), y)
    with pytest.raises(InputError, match="theta"):
        inf.node_information(np.ones((3, 2)), y, theta="mean")
    with pytest.raises(InputError, match="one value per feature"):
        inf.binarize(np.ones((3, 2)), np.ones(3))
    with pytest.raises(InputError, match="n_shuffles"):
        inf.shuffle_null(np.ones((3, 2)), y, n_shuffles=0)
