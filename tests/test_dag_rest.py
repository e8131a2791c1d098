"""Receptive fields, the forward pass, weight statistics, edge change and the Zambra colours on block DAGs
(issue 15): each checked against a reference built independently from the explicit N×N graph (dense numpy) of
random block DAGs with skips, sparse blocks, identities and diagonals."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats

import deepcnt
from deepcnt import ConvBlock, DiagonalBlock, IdentityBlock, LayeredGraph, SparseBlock
from deepcnt.function.activity import forward
from naive import degree_ref
from test_dag import explicit, random_dag


def _kind(block):
    if isinstance(block, str) or isinstance(block, IdentityBlock):
        return "identity"
    if isinstance(block, DiagonalBlock):
        return "diagonal"
    if isinstance(block, SparseBlock) or sp.issparse(block):
        return "sparse"
    return "dense"


def _case(seed, T=None):
    """A random block DAG, its N×N raw adjacency per epoch (every weight, θ = 0), and the kind of each block."""
    rng = np.random.default_rng(seed)
    sizes, blocks, ref, biases = random_dag(rng, T=T)
    g = LayeredGraph.from_blocks(sizes, blocks, biases=biases)
    mats = [explicit(sizes, ref, g.pairs, np.full(g.n_blocks, -1.0), t) for t in range(g.n_epochs or 1)]
    kinds = [_kind(blocks[p]) for p in g.pairs]
    return g, mats, kinds, biases


def _region(g, A, b):
    i, j = g.pairs[b]
    return A[g.layer_slice(i), g.layer_slice(j)]


def _learnt(g, A, b, kind):
    """The learnt weights of block ``b`` read off the N×N matrix: a dense block's every entry, a sparse block's
    non-zero entries (its stored ones), a diagonal's diagonal; None for an identity."""
    R = _region(g, A, b)
    return {"dense": R.ravel(), "sparse": R[R != 0], "diagonal": np.diag(R).copy(), "identity": None}[kind]


def _pick(x, t, g):
    return x[t] if g.stacked else x


# ---------------------------------------------------------------------------------------------- receptive fields
@pytest.mark.parametrize("seed", range(16))
def test_receptive_fields_sum_every_path(seed):
    g, mats, _, _ = _case(seed, T=[None, 2][seed % 2])
    o = g.offsets
    for t, A in enumerate(mats):
        M = np.linalg.inv(np.eye(A.shape[0]) - A)  # Σ_k A^k: every path (A is nilpotent)
        for layer in range(1, g.n_layers):
            want = M[o[0]:o[1], o[layer]:o[layer + 1]].T
            np.testing.assert_allclose(_pick(deepcnt.receptive_fields(g, layer), t, g), want, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(deepcnt.receptive_fields(g, layer, epoch=t), want, rtol=1e-9, atol=1e-9)


def test_receptive_fields_brute_force_paths_of_a_residual_unit():
    rng = np.random.default_rng(0)
    W1, W2, d = rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    g = LayeredGraph.from_blocks([3, 4, 3, 3], {(0, 1): W1, (1, 2): sp.csr_matrix(W2), (0, 2): "identity",
                                                (2, 3): DiagonalBlock(d), (1, 3): np.zeros((4, 3))})
    want = np.zeros((3, 3))  # RF_3[c, p] = Σ over paths p -> c of the product of weights
    for p in range(3):
        for c in range(3):
            want[c, p] = sum(W1[p, h] * W2[h, c] for h in range(4)) * d[c] + (p == c) * d[c]
    np.testing.assert_allclose(deepcnt.receptive_fields(g, 3), want, rtol=1e-12)


def test_receptive_fields_refuse_a_convolution_on_the_path():
    conv = ConvBlock(np.ones((1, 1, 2, 2)), (1, 3, 3))
    g = LayeredGraph.from_blocks([9, 4, 4], {(0, 1): conv, (1, 2): np.eye(4), (0, 2): np.ones((9, 4))})
    with pytest.raises(deepcnt.InputError, match=r"^receptive fields needs explicit weights but block \(0, 1\) is "
                                                 r"an implicit ConvBlock"):
        deepcnt.receptive_fields(g, 2)


@pytest.mark.parametrize("seed", range(3))
def test_rf_clusters_and_cluster_statistics_on_a_dag(seed):
    rng = np.random.default_rng(40 + seed)
    n0 = 6
    sizes = [n0, 8, 8, 3]
    sparse = sp.csr_matrix(rng.normal(size=(8, 8)) * (rng.random((8, 8)) < 0.5))
    blocks = {(0, 1): rng.normal(size=(n0, 8)), (1, 2): sparse, (0, 2): rng.normal(size=(n0, 8)),
              (1, 3): rng.normal(size=(8, 3)), (2, 3): rng.normal(size=(8, 3)), (0, 3): rng.normal(size=(n0, 3))}
    g = LayeredGraph.from_blocks(sizes, blocks).threshold(0.3)
    res = deepcnt.receptive_field_clusters(g, 2, (2, 3), emd="exact", n_clusters=3, min_size=1, n_jobs=1)
    np.testing.assert_allclose(res["rf"], deepcnt.receptive_fields(g, 2))
    table, _ = res["table"], res["correlations"]
    A = g.to_scipy().toarray()
    k = degree_ref(A)[g.layer_slice(2)]
    labels = res["clustering"].labels
    want = [k[labels == c].mean() for c in table["cluster"]]
    np.testing.assert_allclose(table["k_mean"], want)


# ---------------------------------------------------------------------------------------------- forward pass
@pytest.mark.parametrize("seed", range(12))
def test_forward_sums_every_block_into_a_layer(seed):
    g, mats, _, biases = _case(100 + seed, T=[None, 2][seed % 2])
    X = np.random.default_rng(seed).normal(size=(5, g.sizes[0]))
    fed = {j for _, j in g.pairs}
    for t, A in enumerate(mats):
        if any(j not in fed for j in range(1, g.n_layers)):
            with pytest.raises(deepcnt.InputError, match=r"^forward: no block feeds layer \d+ \(L\d+\), so it has no"):
                forward(g, X, epoch=t if g.stacked else None)
            continue
        H = np.zeros((5, A.shape[0]))
        H[:, g.layer_slice(0)] = X
        for j in range(1, g.n_layers):
            sl = g.layer_slice(j)
            b = biases.get(j)
            Z = H @ A[:, sl] + (0.0 if b is None else (np.asarray(b)[t] if np.ndim(b) == 2 else b))
            H[:, sl] = np.tanh(Z) if j < g.n_layers - 1 else Z
        got = forward(g, X, activation="tanh", output_activation="linear", epoch=t if g.stacked else None)
        for j in range(g.n_layers):
            np.testing.assert_allclose(got[j], H[:, g.layer_slice(j)], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------- weight statistics
@pytest.mark.parametrize("seed", range(16))
def test_weight_moments_and_histograms_of_learnt_weights(seed):
    g, mats, kinds, _ = _case(200 + seed, T=[None, 3][seed % 2])
    th = np.random.default_rng(seed).choice([0.0, 0.4], size=g.n_blocks)
    g = g.threshold(th)
    learnt = [[_learnt(g, A, b, k) for A in mats] for b, k in enumerate(kinds)]
    pooled = [np.concatenate([learnt[b][t] for b in range(g.n_blocks) if learnt[b][t] is not None] + [[]])
              for t in range(len(mats))]
    if any(v.size == 0 for v in pooled):
        with pytest.raises(deepcnt.InputError, match="weight_moments needs learnt weights"):
            deepcnt.weight_moments(g)
    else:
        got = deepcnt.weight_moments(g)
        for t, v in enumerate(pooled):
            np.testing.assert_allclose(_pick(got["weight_mean"], t, g), v.mean(), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(_pick(got["weight_std"], t, g), v.std(), rtol=1e-9, atol=1e-12)
            if v.std() > 1e-6:
                np.testing.assert_allclose(_pick(got["weight_skew"], t, g), scipy.stats.skew(v), rtol=1e-7, atol=1e-9)
                np.testing.assert_allclose(_pick(got["weight_kurtosis"], t, g), scipy.stats.kurtosis(v), rtol=1e-7,
                                           atol=1e-9)
    for kept_only in (False, True):
        counts, edges = deepcnt.weight_histograms(g, bins=7, kept_only=kept_only)
        assert len(counts) == len(edges) == g.n_blocks
        for b, kind in enumerate(kinds):
            if kind == "identity":
                assert counts[b] is None and edges[b] is None
                continue
            allv = np.concatenate(learnt[b])
            lo, hi = (allv.min(), allv.max()) if allv.size else (0.0, 0.0)
            e = np.linspace(lo, hi, 8) if hi > lo else np.linspace(lo - 0.5, hi + 0.5, 8)
            np.testing.assert_allclose(edges[b], e)
            for t, v in enumerate(learnt[b]):
                v = v[np.abs(v) > th[b]] if kept_only else v
                np.testing.assert_array_equal(counts[b][t], np.histogram(v, e)[0], err_msg=f"{b} {kind} {t}")


def test_weight_statistics_count_the_diagonal_not_the_identity():
    d = np.array([2.0, -1.0, 0.0])
    g = LayeredGraph.from_blocks([3, 3, 3], {(0, 1): DiagonalBlock(d), (1, 2): np.full((3, 3), 1.0),
                                             (0, 2): "identity"})
    v = np.concatenate([d, np.ones(9)])
    m = deepcnt.weight_moments(g)
    assert m["weight_mean"] == pytest.approx(v.mean()) and m["weight_std"] == pytest.approx(v.std())
    counts, edges = deepcnt.weight_histograms(g, bins=3)
    assert counts[0].tolist() == [[1, 1, 1]] and counts[1] is None and counts[2].sum() == 9


@pytest.mark.parametrize("seed", range(10))
def test_edge_change_of_every_block(seed):
    g, mats, _, _ = _case(300 + seed, T=3)
    for b in range(g.n_blocks):
        R = np.stack([_region(g, A, b) for A in mats])
        for end, axis in (("source", 2), ("target", 1)):
            np.testing.assert_allclose(deepcnt.edge_change(g, block=b, end=end),
                                       np.abs(np.diff(R, axis=0)).sum(axis=axis), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------- colours
@pytest.mark.parametrize("seed", range(8))
def test_zambra_colours_of_every_block(seed):
    for case in range(400 + 40 * seed, 440 + 40 * seed):  # the first DAG whose weights have both tails
        g, mats, kinds, _ = _case(case, T=[None, 2][seed % 2])
        pool = np.concatenate([_learnt(g, A, b, k) for b, k in enumerate(kinds) if k != "identity" for A in mats])
        try:
            want_bins = deepcnt.zambra_bins(pool, exclusion_cutoff=0.3)
            break
        except deepcnt.InputError:
            continue
    np.testing.assert_allclose(deepcnt.zambra_bins(g, exclusion_cutoff=0.3), want_bins, rtol=1e-12)
    colors = deepcnt.zambra_colors(g, exclusion_cutoff=0.3)
    e = want_bins
    assert len(colors) == g.n_blocks
    for b in range(g.n_blocks):
        for t, A in enumerate(mats):
            R = _region(g, A, b)
            want = np.select([(R >= e[0]) & (R < e[1]), ((R >= e[1]) & (R < e[2])) | ((R >= e[3]) & (R < e[4])),
                              (R >= e[4]) & (R < e[5])], [1, 2, 3], 0)
            np.testing.assert_array_equal(_pick(colors[b], t, g), want, err_msg=f"block {g.pairs[b]}")
    res = deepcnt.motifs(g, size=3, colors=colors, n_colors=3)  # the consumer takes them as they are
    assert res.classes


# ---------------------------------------------------------------------------------------------- refusals
def _skip_graph():
    rng = np.random.default_rng(3)
    W = [rng.normal(size=(4, 4)) for _ in range(3)]
    return LayeredGraph.from_blocks([4, 4, 4, 4], {(0, 1): W[0], (1, 2): W[1], (2, 3): W[2], (1, 3): "identity"})


def test_degree_motifs_refuses_skips_and_says_what_to_use():
    with pytest.raises(deepcnt.InputError, match=r"^degree_motifs is not yet supported on graphs with skip blocks: "
                                                 r"it has skip blocks between non-consecutive layers \(1, 3\)\. With "
                                                 r"skips .* motifs\(g, size=3\)$"):
        deepcnt.degree_motifs(_skip_graph())


def test_weight_statistics_refuse_a_convolution_block():
    conv = ConvBlock(np.ones((1, 1, 2, 2)), (1, 3, 3))
    g = LayeredGraph.from_blocks([9, 4, 4], {(0, 1): conv, (1, 2): np.eye(4), (0, 2): np.ones((9, 4))})
    for f, name in ((deepcnt.weight_moments, "weight_moments"), (deepcnt.weight_histograms, "weight_histograms"),
                    (deepcnt.zambra_colors, "the Zambra colour scheme")):
        with pytest.raises(deepcnt.InputError, match=rf"^{name} needs explicit weights but block \(0, 1\) is an "
                                                     r"implicit ConvBlock"):
            f(g)


def test_registry_weight_moments_reads_dags_but_not_convolutions():
    m = deepcnt.get_metric("weight_moments")
    assert m.skips and m.expands and m.reads(implicit=True, opaque=False) and not m.reads(True, True)
    g = _skip_graph()
    np.testing.assert_allclose(m.compute(g)["weight_mean"], deepcnt.weight_moments(g)["weight_mean"])


# ---------------------------------------------------------------------------------------------- GPU twins
@pytest.mark.parametrize("T", [None, 2])
def test_dag_functions_cpu_vs_gpu_simulator(T):
    g, _, _, _ = _case(7, T=T)
    for seed in range(8, 60):  # a DAG with skips and every layer fed (so forward runs too)
        if g.skip_pairs and {j for _, j in g.pairs} == set(range(1, g.n_layers)):
            break
        g, _, _, _ = _case(seed, T=T)
    gg = g.to("gpu")
    assert gg.backend.name in ("gpu-sim", "gpu")
    host = gg.backend.to_numpy
    a, b = deepcnt.weight_moments(g), deepcnt.weight_moments(gg)
    for k in a:
        np.testing.assert_allclose(host(b[k]), a[k], rtol=1e-12, equal_nan=True)
    for x, y in zip(*(deepcnt.weight_histograms(h, bins=5, kept_only=True) for h in (g, gg))):
        for u, v in zip(x, y):
            assert (u is None) == (v is None) and (u is None or np.array_equal(u, v))
    for layer in range(1, g.n_layers):
        np.testing.assert_allclose(deepcnt.receptive_fields(gg, layer), deepcnt.receptive_fields(g, layer))
    X = np.ones((2, g.sizes[0]))
    for u, v in zip(forward(g, X, epoch=0 if T else None), forward(gg, X, epoch=0 if T else None)):
        np.testing.assert_allclose(v, u)
    bins = deepcnt.zambra_bins(g, exclusion_cutoff=0.3)
    np.testing.assert_allclose(deepcnt.zambra_bins(gg, exclusion_cutoff=0.3), bins)
    for u, v in zip(deepcnt.zambra_colors(g, bins=bins), deepcnt.zambra_colors(gg, bins=bins)):
        np.testing.assert_array_equal(host(v), u)
    if T:
        for blk in range(g.n_blocks):
            np.testing.assert_allclose(deepcnt.edge_change(gg, block=blk), deepcnt.edge_change(g, block=blk))


@pytest.mark.parametrize("fold", [None, "count", "abs", "count+net"])
@pytest.mark.parametrize("add", [False, True])
def test_diagonal_kernel_twins_the_vectorised_pass(fold, add):
    """The compiled CPU pass of diagonal blocks equals the vectorised one (the GPU's) bit for bit: every
    channel, the folds, writing or adding (with the channels no entry reaches skipped), strided outputs."""
    from deepcnt.kernels.cpu.elementwise import diagonal_matvec as compiled
    from deepcnt.model.diagonal import diagonal_matvec as vectorised

    rng = np.random.default_rng(11)
    T, n = 2, 37
    for d in (rng.normal(size=(T, n)), np.abs(rng.normal(size=(T, n))).astype(np.float32), np.ones((T, n))):
        theta = np.array([0.0, 0.7])
        x_row, x_col = rng.random((T, n)), rng.integers(0, 9, (T, n)).astype(np.float64)
        lead = {None: (T, 4), "count+net": (T, 2)}.get(fold, (T,))
        start = rng.random(lead + (2 * n,))  # the outputs are strided halves of a larger array
        got, want = start.copy(), start.copy()
        compiled(d, theta, x_row, x_col, got[..., :n], got[..., n:], fold, add)
        vectorised(d, theta, x_row, x_col, want[..., :n], want[..., n:], fold, add)
        np.testing.assert_array_equal(got, want)


def test_signed_sum_adds_the_planes_in_order():
    from deepcnt.kernels.cpu.elementwise import rint_int64, signed_sum

    x = np.array([[0.5, 1.5, 2.5, -0.5, -1.5, 3.0000000001, 7.0, 1e15 + 0.5]])
    out = np.empty(x.shape, np.int64)
    rint_int64(x[:, ::-1], out)  # a strided view, as degree's memoised sums are
    np.testing.assert_array_equal(out, np.rint(x[:, ::-1]).astype(np.int64))

    rng = np.random.default_rng(12)
    S = rng.normal(size=(2, 4, 9))
    for k in range(1, 5):
        signs = [1.0, -1.0, -1.0, 1.0][:k]
        out = np.empty((2, 9))
        signed_sum([S[:, c] for c in range(k)], signs, out)
        want = S[:, 0] * signs[0]
        for c in range(1, k):
            want = want + S[:, c] if signs[c] > 0 else want - S[:, c]
        np.testing.assert_array_equal(out, want)
