"""Exact EMD (POT, process pool) and batched Sinkhorn twins (spec §7, §12)."""
import numpy as np
import pytest

from deepcnt.function import transport as tr
from deepcnt.errors import InputError
from deepcnt.kernels.cpu import transport as kcpu
from deepcnt.kernels.gpu import transport as kgpu


def test_emd_2x2_oracle(oracle):
    o = oracle["emd_2x2_grid_row_major"]
    M = tr.ground_metric((2, 2))
    e = np.eye(4)
    assert tr.emd_pair(e[0], e[3], M) == pytest.approx(o["corner_to_opposite_corner"], abs=1e-9)
    top, bottom = np.array([.5, .5, 0, 0]), np.array([0, 0, .5, .5])
    left = np.array([.5, 0, .5, 0])
    assert tr.emd_pair(top, bottom, M) == pytest.approx(o["top_row_to_bottom_row"], abs=1e-9)
    assert tr.emd_pair(top, left, M) == pytest.approx(o["top_row_to_left_col"], abs=1e-9)


def test_ground_metric_is_pot_euclidean():
    import ot

    xy = tr.grid_coordinates((3, 4))
    assert xy[5].tolist() == [1.0, 1.0]  # row-major
    np.testing.assert_allclose(tr.ground_metric((3, 4)), ot.dist(xy, xy, metric="euclidean"), atol=1e-12)


def _random_dists(rng, n, d, sparse=True):
    P = rng.random((n, d)) ** 3
    if sparse:
        P *= rng.random((n, d)) < 0.6
        P[:, 0] += 1e-3 * (P.sum(1) == 0)
    return P / P.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(4))
def test_exact_matrix_against_pot_on_full_support(seed):
    import ot

    rng = np.random.default_rng(seed)
    shape = [(3, 3), (2, 5), (4, 4), (1, 7)][seed]
    d = int(np.prod(shape))
    P = _random_dists(rng, 7, d)
    M = tr.ground_metric(shape)
    D = tr.emd_matrix(P, M, n_jobs=1)
    for i in range(7):
        for j in range(7):
            ref = ot.emd2(P[i].copy(), P[j].copy(), M, numItermax=10**6)
            assert D[i, j] == pytest.approx(ref, abs=1e-9)
    assert (np.diag(D) == 0).all() and (D == D.T).all()


@pytest.mark.parametrize("seed", range(3))
def test_exact_1d_against_scipy_wasserstein(seed):
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(20 + seed)
    d = 9
    P = _random_dists(rng, 5, d)
    D = tr.emd_matrix(P, tr.ground_metric((d,)), n_jobs=1)
    x = np.arange(d)
    for i in range(5):
        for j in range(5):
            assert D[i, j] == pytest.approx(wasserstein_distance(x, x, P[i], P[j]), abs=1e-9)


def test_process_pool_equals_serial():
    rng = np.random.default_rng(7)
    P = _random_dists(rng, 18, 9)  # 153 pairs > 2 chunks: the pool is used
    M = tr.ground_metric((3, 3))
    np.testing.assert_array_equal(tr.emd_matrix(P, M, n_jobs=2), tr.emd_matrix(P, M, n_jobs=1))
    pairs = np.array([[3, 1], [0, 17]])
    D = tr.emd_matrix(P, M, n_jobs=1)
    np.testing.assert_allclose(tr.emd_pairs(P, M, pairs, n_jobs=1), D[pairs[:, 0], pairs[:, 1]], rtol=1e-12)


def test_split_mode_is_pos_plus_neg():
    from deepcnt.function.receptive import rf_distributions

    rng = np.random.default_rng(2)
    rf = rng.normal(size=(4, 9))
    M = tr.ground_metric((3, 3))
    D = tr.rf_emd_matrix(rf, (3, 3), mode="split", n_jobs=1)
    ref = tr.emd_matrix(rf_distributions(rf, "pos"), M, n_jobs=1) + tr.emd_matrix(rf_distributions(rf, "neg"), M,
                                                                                     n_jobs=1)
    np.testing.assert_allclose(D, ref, rtol=1e-12)


SINKHORN_ATOL = 0.05  # absolute error in pixel units on a 3x3 grid with eps = 0.1 (O(eps log d) blur)


@pytest.mark.parametrize("seed", range(3))
def test_sinkhorn_close_to_exact(seed):
    rng = np.random.default_rng(30 + seed)
    P = _random_dists(rng, 6, 9, sparse=bool(seed % 2))
    M = tr.ground_metric((3, 3))
    exact = tr.emd_matrix(P, M, n_jobs=1)
    approx = tr.emd_matrix(P, M, method="sinkhorn", eps=0.1, tol=1e-8, max_iter=3000)
    np.testing.assert_allclose(approx, exact, atol=SINKHORN_ATOL)
    assert (approx >= exact - 1e-9).all()  # the entropic plan is feasible: never below the optimum
    cmp = tr.compare_to_exact(approx[np.triu_indices(6, 1)], exact[np.triu_indices(6, 1)])
    assert cmp["spearman"] > 0.95 and cmp["max_rel_error"] < 0.2


def test_validate_against_exact():
    rng = np.random.default_rng(13)
    P = _random_dists(rng, 7, 9)
    M = tr.ground_metric((3, 3))
    exact = tr.emd_matrix(P, M, n_jobs=1)
    rep = tr.validate_against_exact(P, M, exact * 1.1, n_pairs=10, n_jobs=1)
    assert rep["n_pairs"] == 10 and rep["max_rel_error"] == pytest.approx(0.1) and rep["spearman"] == pytest.approx(1.0)
    assert tr.validate_against_exact(P, M, exact, n_pairs=100, n_jobs=1)["n_pairs"] == 21
    with pytest.raises(InputError, match="D has shape"):
        tr.validate_against_exact(P, M, exact[:3])


def test_sinkhorn_equals_pot_sinkhorn2():
    import ot

    rng = np.random.default_rng(4)
    P = _random_dists(rng, 3, 9, sparse=False)
    M = tr.ground_metric((3, 3))
    vals, info = tr.sinkhorn_pairs(P, M, [[0, 1], [1, 2]], eps=0.5, tol=1e-12, max_iter=10000)
    for v, (i, j) in zip(vals, [(0, 1), (1, 2)]):
        assert v == pytest.approx(ot.sinkhorn2(P[i], P[j], M, 0.5, stopThr=1e-13, numItermax=10**5), abs=1e-9)
    assert info["max_marginal_error"] < 1e-12


def test_eps_scaling_converges_to_the_same_plan():
    rng = np.random.default_rng(12)
    P = _random_dists(rng, 5, 16)
    M = tr.ground_metric((4, 4))
    pairs = tr.upper_pairs(5)
    cold, ic = tr.sinkhorn_pairs(P, M, pairs, eps=0.2, tol=1e-10, max_iter=5000)
    warm, iw = tr.sinkhorn_pairs(P, M, pairs, eps=0.2, tol=1e-10, max_iter=5000, scaling=True)
    assert ic["max_marginal_error"] < 1e-10 and iw["max_marginal_error"] < 1e-10
    np.testing.assert_allclose(warm, cold, atol=1e-8)
    sched = tr.eps_schedule(0.2, M)
    assert sched[-1] == 0.2 and len(sched) > 1 and all(a == 2 * b for a, b in zip(sched[:-2], sched[1:-1]))


def test_sinkhorn_toy_oracle_zero_mass_bins(oracle):
    toy = oracle["rf_clustering_toy"]
    P = np.array(toy["RF_rows_2x2_row_major"])
    D = tr.emd_matrix(P, tr.ground_metric((2, 2)), method="sinkhorn", eps=0.02, tol=1e-12)
    np.testing.assert_allclose(D, toy["EMD_matrix"], atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_sinkhorn_cpu_vs_gpu_simulator(seed, monkeypatch):
    from deepcnt import config

    if seed == 2:  # the parallel CPU helpers (small batches use the serial ones)
        monkeypatch.setattr(config, "SINKHORN_PARALLEL_MIN", 0)
    rng = np.random.default_rng(40 + seed)
    P = _random_dists(rng, 5, 9, sparse=bool(seed % 2))
    M = tr.ground_metric((3, 3))
    pairs = tr.upper_pairs(5)
    eps, it = 0.2, [7, 10, 55][seed]
    a, b = P[pairs[:, 0]].copy(), P[pairs[:, 1]].copy()
    K = np.exp(-M / eps)
    outs = []
    for mod in (kcpu, kgpu):
        out = np.full(len(pairs), np.nan)
        pot = np.zeros((2,) + a.shape)
        n, err = mod.sinkhorn_pairs(K, K * M, a, b, eps, it, 1e-300, out, pot)
        outs.append((out, n, err, pot))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-9)
    assert outs[0][1] == outs[1][1] == it
    assert outs[1][2] == pytest.approx(outs[0][2], rel=1e-6, abs=1e-14)
    fin = np.isfinite(outs[0][3])
    assert (fin == np.isfinite(outs[1][3])).all()  # -inf potentials exactly on the zero-mass bins
    assert (fin[0] == (a > 0)).all() and (fin[1] == (b > 0)).all()
    np.testing.assert_allclose(outs[1][3][fin], outs[0][3][fin], rtol=1e-9, atol=1e-12)
    # and through the engine's device switch
    c, _ = tr.sinkhorn_pairs(P, M, pairs, eps=eps, max_iter=it, tol=0.0, device="cpu")
    gsim, _ = tr.sinkhorn_pairs(P, M, pairs, eps=eps, max_iter=it, tol=0.0, device="gpu", chunk=3)
    np.testing.assert_allclose(gsim, c, rtol=1e-9)


def test_bad_inputs():
    M = tr.ground_metric((2, 2))
    with pytest.raises(InputError, match="sums to"):
        tr.emd_matrix(np.ones((2, 4)), M)
    with pytest.raises(InputError, match="non-negative"):
        tr.emd_matrix(np.array([[np.nan, 1, 0, 0], [1, 0, 0, 0]]), M)
    with pytest.raises(InputError, match="ground metric has shape"):
        tr.emd_matrix(np.eye(3), M)
    with pytest.raises(InputError, match="2-D"):
        tr.emd_matrix(np.ones(4) / 4, M)
    with pytest.raises(InputError, match="unknown method"):
        tr.emd_matrix(np.eye(4), M, method="lp")
    with pytest.raises(InputError, match="outside"):
        tr.emd_pairs(np.eye(4), M, [[0, 4]])
    with pytest.raises(InputError, match="underflows"):
        tr.sinkhorn_pairs(np.eye(4), M, [[0, 1]], eps=1e-4)
    with pytest.raises(InputError, match="do not match"):
        tr.rf_emd_matrix(np.ones((2, 5)), (2, 2))
    with pytest.raises(InputError, match="shape must be"):
        tr.grid_coordinates((0, 3))
    with pytest.raises(InputError, match="approx has"):
        tr.compare_to_exact([1.0], [1.0, 2.0])
