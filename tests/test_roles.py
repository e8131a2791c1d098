"""participation, module z-score, cartography and roles against bctpy, dense numpy and the oracle (spec §6, §12)."""
import warnings

import numpy as np
import pytest

import deepcnt
from deepcnt.communities.roles import cartography, module_zscore, node_roles, participation
from naive import random_blocks
from naive_communities import dense, participation_ref, random_partition, zscore_ref
from deepcnt.backend import to_host

bct = pytest.importorskip("bct")


def _graph(seed, max_width=7):
    rng = np.random.default_rng(seed)
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, max_width=max_width))
    if rng.random() < 0.3:
        g = g.threshold(0.3)
    return g, rng


def test_oracle(oracle, oracle_graph):
    ci = oracle["modularity_partition"]
    p = oracle["participation"]
    z = oracle["module_degree_zscore_signedW"]
    g = oracle_graph
    np.testing.assert_allclose(participation(g, ci), p["Ppos (signed, BCT participation_coef_sign)"], atol=1e-9)
    np.testing.assert_allclose(participation(g, ci, "negative"), p["Pneg"], atol=1e-9)
    np.testing.assert_allclose(participation(g, ci, "binary"), p["P_binary (participation_coef on A)"], atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci), z["MATLAB_BCT_std_ddof1"], atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci, ddof=0), z["bctpy_std_ddof0"], atol=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_participation_and_zscore_match_bctpy(seed):
    g, rng = _graph(seed)
    Wu = dense(g, directed=False)
    Wd = dense(g, directed=True)
    ci = random_partition(rng, g.n_nodes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ppos, pneg = bct.participation_coef_sign(Wu, ci)
        pbin = bct.participation_coef((Wu != 0).astype(float), ci)
        zb = bct.module_degree_zscore(Wu, ci)  # bctpy: np.std, ddof = 0
        pout = bct.participation_coef(np.abs(Wd), ci, "out")
        pin = bct.participation_coef(np.abs(Wd), ci, "in")
        zout = bct.module_degree_zscore(Wd, ci, flag=1)
        zin = bct.module_degree_zscore(Wd, ci, flag=2)
        zall = bct.module_degree_zscore(Wd, ci, flag=3)
    np.testing.assert_allclose(participation(g, ci), ppos, atol=1e-9)
    np.testing.assert_allclose(participation(g, ci, "negative"), pneg, atol=1e-9)
    np.testing.assert_allclose(participation(g, ci, "binary"), pbin, atol=1e-9)
    np.testing.assert_allclose(participation(g, ci, "abs", "out"), pout, atol=1e-9)
    np.testing.assert_allclose(participation(g, ci, "abs", "in"), pin, atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci, ddof=0), zb, atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci, ddof=0, direction="out"), zout, atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci, ddof=0, direction="in"), zin, atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci, ddof=0, direction="all"), zall, atol=1e-9)
    # MATLAB semantics (ddof = 1) and the other weights, against the dense reference
    np.testing.assert_allclose(module_zscore(g, ci), zscore_ref(Wu, ci, 1), atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci, sign="abs"), zscore_ref(np.abs(Wu), ci, 1), atol=1e-9)
    np.testing.assert_allclose(module_zscore(g, ci, sign="binary"), zscore_ref((Wu != 0) * 1.0, ci, 1),
                               atol=1e-9)
    np.testing.assert_allclose(participation(g, ci, "abs"), participation_ref(np.abs(Wu), ci), atol=1e-9)


def test_stack_per_epoch():
    rng = np.random.default_rng(3)
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, n_layers=3, max_width=5, stack=3))
    lab = rng.integers(0, 3, size=(3, g.n_nodes))
    P, Z = participation(g, lab), module_zscore(g, lab)
    assert P.shape == Z.shape == (3, g.n_nodes)
    for t in range(3):
        np.testing.assert_allclose(P[t], participation(g.epoch(t), lab[t]), atol=1e-12)
        np.testing.assert_allclose(Z[t], module_zscore(g.epoch(t), lab[t]), atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_cpu_vs_gpu_simulator(seed):
    rng = np.random.default_rng(50 + seed)
    stack = 2 if seed % 2 else None
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, max_width=5, stack=stack))
    gg = g.to("gpu")
    shape = (2, g.n_nodes) if stack else (g.n_nodes,)
    lab = rng.integers(0, 3, size=shape)
    for sign in ("positive", "negative", "binary"):
        np.testing.assert_allclose(to_host(participation(gg, lab, sign)), participation(g, lab, sign), atol=1e-12)
    for ddof in (0, 1):
        np.testing.assert_allclose(to_host(module_zscore(gg, lab, ddof)), module_zscore(g, lab, ddof), atol=1e-9)


def _matlab_bin(v, bins):
    """round(interp1(bins, 1:n, v, 'linear', 'extrap')) clamped to [1, n], 0-based (integration.m)."""
    n = len(bins)
    step = bins[1] - bins[0]
    f = 1 + (v - bins[0]) / step  # linear interpolation on uniform bins, extrapolated at both ends
    r = np.sign(f) * np.floor(np.abs(f) + 0.5)
    return np.clip(r, 1, n).astype(int) - 1


def test_cartography_bins():
    rng = np.random.default_rng(0)
    P = rng.random(500)
    z = rng.normal(0, 3, 500)
    hc = cartography(P, z)
    assert hc.shape == (101, 101) and hc.sum() == 500
    ref = np.zeros((101, 101), int)
    xb = _matlab_bin(P, np.arange(101) * 0.01)
    yb = _matlab_bin(z, 5 - np.arange(101) * 0.1)
    np.add.at(ref, (yb, xb), 1)
    np.testing.assert_array_equal(hc, ref)
    # corners and clamping: z = 5 is row 0, z below -5 the last row; P = 1 the last column
    hc = cartography(np.array([0.0, 1.0, 0.5]), np.array([5.0, -7.0, 20.0]))
    assert hc[0, 0] == 1 and hc[100, 100] == 1 and hc[0, 50] == 1
    # half-way rounds away from zero (MATLAB): P = 0.125 -> 12.5 -> bin 13
    assert cartography(np.array([0.125]), np.array([0.0]))[50, 13] == 1
    stack = cartography(np.stack([P, P]), np.stack([z, z]))
    assert stack.shape == (2, 101, 101) and (stack[0] == stack[1]).all()


def test_node_roles():
    P = np.array([0.0, 0.05, 0.3, 0.7, 0.9, 0.1, 0.5, 0.8])
    z = np.array([0.0, 1.0, -1.0, 2.0, 0.0, 2.5, 3.0, 4.0])
    assert node_roles(P, z).tolist() == [1, 1, 2, 3, 4, 5, 6, 7]


def test_bad_inputs(oracle_graph):
    g = oracle_graph
    ci = [0, 0, 0, 1, 0, 1]
    with pytest.raises(deepcnt.InputError, match="length"):
        participation(g, ci[:4])
    with pytest.raises(deepcnt.InputError, match="unknown sign"):
        participation(g, ci, sign="net")
    with pytest.raises(deepcnt.InputError, match="unknown direction"):
        participation(g, ci, direction="up")
    with pytest.raises(deepcnt.InputError, match="ddof"):
        module_zscore(g, ci, ddof=2)
    with pytest.raises(deepcnt.InputError, match="unknown sign"):
        module_zscore(g, ci, sign="w")
    with pytest.warns(DeprecationWarning, match=r"module_zscore\(sign=...\)"):  # the old spelling still works
        np.testing.assert_array_equal(module_zscore(g, ci, weight="abs"), module_zscore(g, ci, sign="abs"))
    with pytest.raises(deepcnt.InputError, match="integer"):
        module_zscore(g, ["a", "b", "c", "d", "e", "f"])
    with pytest.raises(deepcnt.InputError, match="shape"):
        cartography(np.zeros(3), np.zeros(4))
    with pytest.raises(deepcnt.InputError, match="finite"):
        cartography(np.array([np.nan]), np.zeros(1))
    with pytest.raises(deepcnt.InputError, match=r"takes the arrays P and z .* got LayeredGraph"):
        cartography(g, ci)  # a graph where its P and z belong
    with pytest.raises(deepcnt.InputError, match="shape"):
        node_roles(np.zeros(3), np.zeros(4))
