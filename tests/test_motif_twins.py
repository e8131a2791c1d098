"""Motif kernels: CPU and GPU (simulator) twins give identical counts; null-draw kernels keep their invariants."""
import numpy as np
import pytest

import deepcnt
from deepcnt.kernels.cpu import motifs as kcpu
from deepcnt.kernels.gpu import motifs as kgpu
from deepcnt.motifs.counts import motifs
from naive import random_blocks
from naive_motifs import random_codes


@pytest.mark.parametrize("seed", range(3))
def test_motifs_cpu_vs_gpu_simulator(seed):
    rng = np.random.default_rng(300 + seed)
    stack = 2 if seed == 0 else None
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, n_layers=3, max_width=4, stack=stack)).threshold(0.2)
    gg = g.to("gpu")
    for kw in (dict(), dict(signed=True)):
        a, b = motifs(g, **kw), motifs(gg, **kw)
        assert a.classes == b.classes
        for n in a.classes:
            np.testing.assert_array_equal(a[n], b[n])
            np.testing.assert_array_equal(a.per_block[n], b.per_block[n])
    codes = random_codes(rng, 3, max_layers=3, max_width=4)
    h = deepcnt.LayeredGraph.from_weights([(c > 0) * 1.0 for c in codes])
    a, b = motifs(h, colors=codes, n_colors=3), motifs(h.to("gpu"), colors=codes, n_colors=3)
    for n in a.classes:
        assert a[n] == b[n]


def test_element_kernels_agree():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(2, 3, 5)).astype(np.float32)
    theta = np.array([0.0, 0.5])
    for signed in (False, True):
        outs = []
        for mod in (kcpu, kgpu):
            out = np.full(W.shape, -1, np.int8)
            mod.edge_codes(W, theta, signed, out)
            outs.append(out)
        np.testing.assert_array_equal(outs[0], outs[1])
        ref = (np.abs(W) > theta[:, None, None]) * (1 + (signed and 1) * (W < 0))
        np.testing.assert_array_equal(outs[0], ref)
    codes = rng.integers(0, 4, size=(2, 3, 5)).astype(np.int8)
    m = [np.full((2, 3, 3, 5), -1, np.float32) for _ in range(2)]
    kcpu.color_masks(codes, m[0])
    kgpu.color_masks(codes, m[1])
    np.testing.assert_array_equal(m[0], m[1])
    np.testing.assert_array_equal(m[0][:, 2], codes == 3)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the simulator's xoroshiro in numpy scalars
@pytest.mark.parametrize("mod", [kcpu, kgpu], ids=["cpu", "gpu"])
def test_null_draw_kernels_keep_invariants(mod):
    rng = np.random.default_rng(2)
    codes = ((rng.random((4, 5)) < 0.5) * rng.integers(1, 3, (4, 5))).astype(np.int8)
    R = 3
    out = np.full((R, 4, 5), -1, np.int8)
    mod.permute_codes(codes, 7, out)
    for r in range(R):
        np.testing.assert_array_equal(np.sort(out[r].ravel()), np.sort(codes.ravel()))
    mod.swap_codes(codes, 5, 7, out)
    for r in range(R):
        for c in (1, 2):
            np.testing.assert_array_equal((out[r] == c).sum(0), (codes == c).sum(0))
            np.testing.assert_array_equal((out[r] == c).sum(1), (codes == c).sum(1))
    assert any((out[r] != codes).any() for r in range(R))
    big = np.zeros((40, 50, 60), np.int8)
    mod.bernoulli_codes(np.array([0.5, 0.3, 0.2]), 3, big)
    freq = np.bincount(big.ravel(), minlength=3) / big.size
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.2], atol=0.01)


@pytest.mark.parametrize("k,n1,n2,excl", [(1, 5, 5, True), (1, 4, 7, False), (2, 5, 5, True), (3, 4, 6, False)])
def test_block_moments_twins_and_definition(k, n1, n2, excl):
    rng = np.random.default_rng(k * 10 + n2)
    M = rng.integers(0, 9, size=(2, k * n1, k * n2)).astype(np.float32)
    outs = []
    for mod in (kcpu, kgpu):
        S, s = np.full((2, k * k, k * k), np.nan), np.full((2, k * k), np.nan)
        mod.block_moments(M, k, excl, S, s)
        outs.append((S, s))
    X = M.reshape(2, k, n1, k, n2).transpose(0, 1, 3, 2, 4).reshape(2, k * k, n1, n2).astype(float)
    if excl:
        X[:, :, np.arange(n1), np.arange(n1)] = 0
    X = X.reshape(2, k * k, -1)
    for S, s in outs:
        np.testing.assert_array_equal(S, X @ X.transpose(0, 2, 1))
        np.testing.assert_array_equal(s, X.sum(2))


def test_gemm_kernels_twins():
    rng = np.random.default_rng(4)
    B1 = (rng.random((2, 2, 3, 4)) < 0.5).astype(np.float32)
    B2 = (rng.random((2, 2, 4, 5)) < 0.5).astype(np.float32)
    for mod in (kcpu, kgpu):
        G = np.empty((2, 6, 6), np.float32)
        mod.gram(B1, G)
        Bf = B1.reshape(2, 6, 4)
        np.testing.assert_array_equal(G, Bf @ Bf.transpose(0, 2, 1))
        P = np.empty((2, 6, 10), np.float32)
        mod.path_products(B1, B2, P)
        for a in range(2):
            for b in range(2):
                np.testing.assert_array_equal(P[:, a * 3:(a + 1) * 3, b * 5:(b + 1) * 5], B1[:, a] @ B2[:, b])
