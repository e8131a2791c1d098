"""Convolutional networks as graphs (issue 8): the implicit unrolled view equals the materialised graph.

The reference graph of every model is built from dense blocks obtained by running each layer on one-hot
inputs (tests/naive_conv.py), never through ``ConvBlock.edges``; metrics on it come from tests/naive.py
(dense N×N numpy and networkx).
"""
import numpy as np
import pytest

import deepcnt
from deepcnt.model.conv import ConvBlock, PoolBlock, channel_graph
from deepcnt.core.lamalfa import layers_fluctuation, nodes_strength
from naive import degree_ref, dense_directed, knn_ref, lamalfa_ref, strength_ref
from naive_conv import channel_reference, model_dense, seeds_conv_strengths

torch = pytest.importorskip("torch")
nn = torch.nn

from deepcnt.bindings.torch_conv import channel_graph as module_channel_graph  # noqa: E402
from deepcnt.bindings.torch_conv import from_conv_module  # noqa: E402
from deepcnt.backend import to_host


def _models():
    """(name, model factory, input shape): strides, padding, dilation, groups, 1×1, pooling between, dense."""
    return [
        ("plain", lambda: nn.Sequential(nn.Conv2d(2, 3, 3)), (2, 6, 6)),
        ("stride_pad", lambda: nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1)), (2, 7, 7)),
        ("dil_groups", lambda: nn.Sequential(nn.Conv2d(4, 4, (3, 2), dilation=(2, 1), padding=(2, 0), groups=2)),
         (4, 7, 6)),
        ("skip_positions", lambda: nn.Sequential(nn.Conv2d(2, 2, 2, stride=3, bias=False)), (2, 8, 9)),
        ("maxpool_chain", lambda: nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 2, 2), nn.Tanh(),
            nn.Flatten(), nn.Linear(2 * 2 * 2, 5)), (1, 6, 6)),
        ("avgpool_groups", lambda: nn.Sequential(
            nn.Conv2d(2, 4, 3, groups=2, bias=False), nn.AvgPool2d(3, stride=2, padding=1), nn.Flatten(),
            nn.Dropout(0.2), nn.Linear(4 * 3 * 3, 3)), (2, 7, 7)),
        ("pointwise_dilated_pool", lambda: nn.Sequential(
            nn.Conv2d(3, 4, 1), nn.MaxPool2d(3, stride=1, padding=1, dilation=2), nn.Conv2d(4, 2, 3, stride=(1, 2))),
         (3, 7, 8)),
        ("same_padding", lambda: nn.Sequential(nn.Conv2d(2, 2, (3, 5), padding="same", dilation=(2, 1))), (2, 6, 7)),
        ("same_even_kernel", lambda: nn.Sequential(nn.Conv2d(2, 3, (2, 4), padding="same")), (2, 5, 6)),  # uneven
    ]


MODELS = _models()


def _build(idx, seed=0):
    name, make, shape = MODELS[idx]
    torch.manual_seed(seed)
    model = make()
    with torch.no_grad():  # spread the weights so thresholds cut inside the kernels
        for p in model.parameters():
            p.mul_(3.0)
    return model, shape


def _dense_graph_parts(model, shape, g):
    blocks, biases = model_dense(model, shape)
    return blocks, biases, [float(t) for t in g.theta[:, 0]]


@pytest.mark.parametrize("idx", range(len(MODELS)), ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("rule", ["none", "abs", "proportional"])
def test_unrolled_metrics_equal_materialised(idx, rule):
    model, shape = _build(idx, seed=idx)
    g = from_conv_module(model, shape)
    if rule == "abs":
        g = g.threshold(0.3)  # removes the 1/9 edges of a 3×3 average pool too
    elif rule == "proportional":
        g = g.threshold(0.5, mode="proportional")
    blocks, biases, theta = _dense_graph_parts(model, shape, g)
    assert g.sizes == tuple([blocks[0].shape[0]] + [b.shape[1] for b in blocks])
    if rule == "proportional":  # the top half of the learnt edges; a pooling window's fixed weights keep θ = 0
        learnt = [not isinstance(b, PoolBlock) for b in g.blocks]
        mags = np.sort(np.concatenate([np.abs(b).ravel() for b, k in zip(blocks, learnt) if k]))[::-1]
        mags = mags[mags > 0]
        cut = mags[int(round(0.5 * mags.size))]
        np.testing.assert_allclose(theta, [cut if k else 0.0 for k in learnt])
    A = dense_directed(blocks, theta)
    assert g.n_edges == int((A != 0).sum())
    np.testing.assert_array_equal(g.to_scipy().toarray(), A)
    for d in ("in", "out", "all"):
        for s in ("all", "positive", "negative"):
            np.testing.assert_array_equal(deepcnt.degree(g, d, s), degree_ref(A, d, s), err_msg=f"{d} {s}")
        for s in ("net", "positive", "negative", "abs"):
            np.testing.assert_allclose(deepcnt.strength(g, d, s), strength_ref(A, d, s), rtol=1e-10,
                                       atol=1e-10, err_msg=f"{d} {s}")
    np.testing.assert_allclose(deepcnt.knn(g), knn_ref(A), rtol=1e-10)
    for w in ("abs", "positive", "negative"):
        np.testing.assert_allclose(deepcnt.knn(g, weighted=True, sign=w), knn_ref(A, True, w), rtol=1e-10)
    np.testing.assert_allclose(deepcnt.knn(g, source="out", target="in"), knn_ref(A, source="out", target="in"),
                               rtol=1e-10)
    if rule == "none":  # La Malfa is defined on the unthresholded weights
        ref = np.concatenate(lamalfa_ref(blocks, biases, "cnt_dnns_code"))
        np.testing.assert_allclose(nodes_strength(g), ref, rtol=1e-10, atol=1e-10)
        o = g.offsets
        phi = [ref[o[l]:o[l + 1]].std() for l in range(g.n_layers)]
        np.testing.assert_allclose(layers_fluctuation(g), phi, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(nodes_strength(g, "plain"), np.concatenate(lamalfa_ref(blocks, None, "plain")),
                                   rtol=1e-10, atol=1e-10)


def test_edges_and_stacks():
    model, shape = _build(4, seed=3)
    g = from_conv_module(model, shape)
    model2, _ = _build(4, seed=4)
    g2 = from_conv_module(model2, shape)
    st = deepcnt.LayeredGraph.stack([g, g2]).threshold(0.2)
    for t, (m, gg) in enumerate([(model, g), (model2, g2)]):
        blocks, _ = model_dense(m, shape)
        A = dense_directed(blocks, 0.2)
        np.testing.assert_array_equal(deepcnt.degree(st)[t], degree_ref(A))
        np.testing.assert_allclose(deepcnt.strength(st, sign="abs")[t], strength_ref(A, sign="abs"), rtol=1e-10)
        np.testing.assert_allclose(deepcnt.knn(st.epoch(t), weighted=True), knn_ref(A, True), rtol=1e-10)
    assert isinstance(st.blocks[0], ConvBlock) and st.blocks[0].shape[0] == 2
    assert isinstance(st.blocks[1], PoolBlock) and st.blocks[1].shape[0] == 2
    with pytest.raises(deepcnt.InputError, match="needs explicit edges but block 0 is an implicit ConvBlock"):
        g.dense_block(0, "bifan counting")
    cst = channel_graph(st, "abs")  # the channel view of a stack is the stack of the channel views
    assert cst.n_epochs == 2
    for t, gg in enumerate([g, g2]):
        one = channel_graph(gg.threshold(0.2), "abs")
        for l in range(cst.n_blocks):
            np.testing.assert_allclose(cst.blocks[l][t], one.blocks[l][0], rtol=1e-12)
            np.testing.assert_allclose(cst.biases[l][t], one.biases[l][0], rtol=1e-12)


def test_cpu_vs_gpu_simulator():
    model, shape = _build(5, seed=1)
    g = from_conv_module(model, shape).threshold(0.2)
    model2, _ = _build(2, seed=2)
    g2 = deepcnt.LayeredGraph.stack([from_conv_module(model2, (4, 7, 6))] * 2)
    for graph in (g, g2):
        gg = graph.to("gpu")
        assert gg.backend.name in ("gpu-sim", "gpu") and isinstance(gg.blocks[0], ConvBlock)
        for name in ("degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"):
            metric = deepcnt.get_metric(name)
            a, b = metric.compute(graph), metric.compute(gg)
            for col in metric.columns:
                np.testing.assert_allclose(to_host(b[col]), a[col], rtol=1e-9, atol=1e-12, err_msg=f"{name}.{col}")
        from deepcnt.motifs.degree import degree_motifs

        mc, mg = degree_motifs(graph, signed=True), degree_motifs(gg, signed=True)
        for name in mc.classes:
            np.testing.assert_array_equal(to_host(mg.per_block[name]), mc.per_block[name], err_msg=name)


@pytest.mark.parametrize("fold", [None, "count", "abs", "count+net"])
@pytest.mark.parametrize("x_kind", ["random", "integer", "per-channel constant", "position classes"])
@pytest.mark.parametrize("parallel_min_edges", [0, 1 << 40], ids=["gemm", "loops"])
@pytest.mark.parametrize("geometry", [
    dict(shape=(2, 4, 1, 3, 2), in_shape=(2, 5, 6), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
    dict(shape=(1, 5, 1, 3, 3), in_shape=(1, 6, 5), stride=1, padding=1, dilation=1, groups=1),  # chunked rows
    dict(shape=(1, 6, 3, 1, 1), in_shape=(3, 5, 7), stride=1, padding=0, dilation=1, groups=1),  # plain 1×1
    dict(shape=(2, 6, 3, 1, 1), in_shape=(3, 7, 7), stride=2, padding=0, dilation=1, groups=1),  # strided 1×1
    dict(shape=(1, 4, 2, 5, 3), in_shape=(2, 9, 4), stride=(3, 2), padding=(2, 1), dilation=1, groups=1),
    dict(shape=(1, 4, 1, 3, 3), in_shape=(4, 7, 7), stride=2, padding=1, dilation=1, groups=4),  # depthwise
    dict(shape=(2, 4, 1, 3, 2), in_shape=(2, 6, 5), stride=2, padding=((0, 1), (2, 0)), dilation=1, groups=2),
])
def test_kernel_twins_against_dense(monkeypatch, parallel_min_edges, geometry, x_kind, fold):
    """Large convolutions take BLAS products (im2col), small ones the loops, a vector constant over each
    channel (the ones of degrees and strengths) the per-offset tables, a vector with few position classes
    (k_nn's neighbour degrees) the class products; a fold asks for one sum of two sign (or two: the
    undirected degree and net strength's "count+net")
    channels. All equal the dense block, the 0/1 channels times integers exactly (float32 products)."""
    from deepcnt.kernels.cpu import conv as kcpu
    from deepcnt.kernels.cpu import conv_classes
    from deepcnt.kernels.gpu import conv as kgpu
    from naive_conv import layer_dense

    monkeypatch.setattr(kcpu, "PARALLEL_MIN_EDGES", parallel_min_edges)
    monkeypatch.setattr(kcpu, "GEMM_MIN_CHANNEL_PAIRS", 0)  # the products even for these few channels
    rng = np.random.default_rng(7)
    geo = dict(geometry)
    K = rng.normal(size=geo.pop("shape")).astype(np.float32)
    b = ConvBlock(K, **geo)
    T, n_in, n_out = b.shape
    theta = np.array([0.0, 0.6])[:T]
    x_row, x_col = rng.random((T, n_in)), rng.random((T, n_out))
    if x_kind == "integer":  # neighbour degrees; large enough that float32 sums need the exactness check
        x_row, x_col = (rng.integers(0, 1 << 21, (T, n)).astype(np.float64) for n in (n_in, n_out))
    elif x_kind == "position classes":  # like degrees: a value per channel, border rows/columns, parities
        def classes(n_t, shape):
            C, H, W = shape
            v = rng.integers(1, 60, (n_t, C, 3, 3)).astype(np.float64)
            v[1:] += 1 << 22  # a second epoch's degrees too large for one float32 product: pieces or float64
            iy, ix = rng.integers(0, 3, H), rng.integers(0, 3, W)
            return v[:, :, iy][:, :, :, ix].reshape(n_t, -1)

        x_row, x_col = classes(T, b.in_shape), classes(T, b.out_shape)
        monkeypatch.setattr(conv_classes, "CLASSES_MIN_SAVING", 0)  # the class products even on small images
        taken = []
        route = conv_classes.conv_matvec_classes
        monkeypatch.setattr(conv_classes, "conv_matvec_classes", lambda *a: taken.append(route(*a)) or taken[-1])
    elif x_kind != "random":
        x_row = np.repeat(rng.random((T, b.in_shape[0])), n_in // b.in_shape[0], axis=1)
        x_col = np.repeat(rng.random((T, b.out_shape[0])), n_out // b.out_shape[0], axis=1)
    lead = {None: (T, 4), "count+net": (T, 2)}.get(fold, (T,))
    outs = []
    for mod in (kcpu, kgpu):
        row, col = np.full(lead + (n_in,), np.nan), np.full(lead + (n_out,), np.nan)
        mod.conv_matvec(b.kernel, b.geom, theta, x_row, x_col, row, col, fold)
        outs.append((row, col))
    # add=True (a second block into or out of a layer) adds the same sums to what the outputs hold
    row, col = rng.random(lead + (n_in,)), rng.random(lead + (n_out,))
    row_added, col_added = row.copy(), col.copy()
    kcpu.conv_matvec(b.kernel, b.geom, theta, x_row, x_col, row_added, col_added, fold, add=True)
    np.testing.assert_array_equal(row_added, row + outs[0][0])
    np.testing.assert_array_equal(col_added, col + outs[0][1])
    if x_kind == "position classes" and parallel_min_edges == 0:
        assert taken == [True, True]
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-12)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-12)
    (top, left), (bottom, right) = b.padding, b.padding_end  # the last geometry pads one side more
    m = nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)),
                      nn.Conv2d(b.in_shape[0], b.out_shape[0], K.shape[-2:], stride=b.stride, dilation=b.dilation,
                                groups=b.groups, bias=False))
    for t in range(T):
        with torch.no_grad():
            m[1].weight.copy_(torch.as_tensor(b.kernel[t]))
        D, _ = layer_dense(m, b.in_shape)
        th = theta[t]
        chans = [(D > th) * 1.0, (D < -th) * 1.0]
        chans += [D * chans[0], -D * chans[1]]
        if fold == "count+net":
            chans = [chans[0] + chans[1], chans[2] - chans[3]]
        elif fold is not None:
            c = 0 if fold == "count" else 2
            chans = [chans[c] + chans[c + 1]]
        for c, B in enumerate(chans):
            row, col = (o[t] if len(lead) == 1 else o[t, c] for o in outs[0])
            counts = fold == "count" or (fold is None and c < 2) or (fold == "count+net" and c == 0)
            if x_kind in ("integer", "position classes") and counts:
                np.testing.assert_array_equal(row, B @ x_col[t])
                np.testing.assert_array_equal(col, x_row[t] @ B)
            np.testing.assert_allclose(row, B @ x_col[t], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(col, x_row[t] @ B, rtol=1e-10, atol=1e-12)


def test_float32_products_only_when_exact(monkeypatch):
    """k_nn's count products run in float32 only where every partial sum is an integer below 2^24: large
    integers take pieces or float64, non-integers float64; the result is the exact float64 product."""
    from deepcnt.kernels.cpu import conv as kcpu

    assert kcpu._f32_chunk(np.array([1.0, 2.5]), 10) is None
    assert kcpu._f32_chunk(np.array([3.0, 2.0 ** 24]), 10) is None
    assert kcpu._f32_chunk(np.array([3.0, 1000.0]), 100) == 100
    assert kcpu._f32_chunk(np.array([2.0 ** 22]), 10) == 3  # 4 pieces of at most 3 terms
    assert kcpu._f32_chunk(np.array([2.0 ** 22]), 100) is None  # would take 34 pieces
    rng = np.random.default_rng(3)
    A = (rng.random((1, 5, 10)) < 0.7).astype(np.float64)
    X = rng.integers(2 ** 22 - 50, 2 ** 22, (1, 10, 4)).astype(np.float64)  # sums up to 4e7 > 2^24
    got = kcpu._product(A, X, kcpu._f32_chunk(X, 10))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, A @ X)


def test_fold_passes_on_a_dag():
    """k_nn's one-channel passes and the undirected degree and strength's two-channel merged pass equal the
    four-channel pass folded, on a DAG mixing convolutions (which compute the folded channels) with identity
    skips and dense blocks (folded by the pass)."""
    from deepcnt.model.sums import block_pass

    rng = np.random.default_rng(5)
    c1 = ConvBlock(rng.normal(size=(3, 2, 3, 3)).astype(np.float32), (2, 5, 5), padding=1)
    c2 = ConvBlock(rng.normal(size=(3, 3, 1, 1)).astype(np.float32), (3, 5, 5))
    blocks = {(0, 1): c1, (1, 2): c2, (0, 2): rng.normal(size=(50, 75)), (1, 3): rng.normal(size=(75, 75)),
              (2, 3): "identity"}
    g = deepcnt.LayeredGraph.from_blocks((50, 75, 75, 75), blocks).threshold(0.4)
    x = rng.integers(1, 40, (1, g.n_nodes)).astype(np.float64)
    full = block_pass(g, x, x)
    for fold, c in (("count", 0), ("abs", 2)):
        got = block_pass(g, x, x, fold)
        np.testing.assert_allclose(got.in_sums, full.in_sums[:, c] + full.in_sums[:, c + 1], rtol=1e-12)
        np.testing.assert_allclose(got.out_sums, full.out_sums[:, c] + full.out_sums[:, c + 1], rtol=1e-12)
    both = block_pass(g, x, x, "count+net", merged=True)
    assert both.in_sums is both.out_sums and both.in_sums.shape == (1, 2, g.n_nodes)
    k = full.in_sums[:, 0] + full.in_sums[:, 1] + full.out_sums[:, 0] + full.out_sums[:, 1]
    s = full.in_sums[:, 2] - full.in_sums[:, 3] + full.out_sums[:, 2] - full.out_sums[:, 3]
    np.testing.assert_array_equal(both.in_sums[:, 0], k)
    np.testing.assert_allclose(both.in_sums[:, 1], s, rtol=1e-12, atol=1e-12)
    # degree and strength of such a graph read that pass, and equal what the four channels give
    h = g.threshold(0.4)
    np.testing.assert_array_equal(deepcnt.degree(h), deepcnt.degree(h, "in") + deepcnt.degree(h, "out"))
    np.testing.assert_allclose(deepcnt.strength(h), deepcnt.strength(h, "in") + deepcnt.strength(h, "out"),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "abs", "norm"])
def test_channel_view_definition(reduce):
    model, shape = _build(5, seed=5)  # grouped conv, avg pool, flatten, linear
    g = from_conv_module(model, shape)
    cg = module_channel_graph(model, shape, reduce)
    conv, lin = model[0], model[4]
    assert cg.sizes == (2, 4, 4, 3)
    K = conv.weight.detach().numpy()
    np.testing.assert_allclose(cg.blocks[0][0], channel_reference(K, 2, reduce), rtol=1e-6)
    P = np.full((4, 1, 3, 3), 1 / 9)
    np.testing.assert_allclose(cg.blocks[1][0], channel_reference(P, 4, reduce), rtol=1e-12)
    Wl = lin.weight.detach().numpy().T.astype(np.float64).reshape(4, 9, 3)  # rows of channel c: c*9 .. c*9+8
    want = {"sum": Wl.sum(1), "abs": np.abs(Wl).sum(1), "norm": np.sqrt((Wl ** 2).sum(1))}[reduce]
    np.testing.assert_allclose(cg.blocks[2][0], want, rtol=1e-6)
    np.testing.assert_allclose(cg.biases[2][0], lin.bias.detach().numpy(), rtol=1e-6)
    # the core metrics run on the channel view as on any dense graph
    np.testing.assert_allclose(deepcnt.strength(cg, "out")[:2], cg.blocks[0][0].sum(1), rtol=1e-12)
    # thresholds of the unrolled graph apply to the entries before the reduction
    th = channel_graph(g.threshold(0.5), reduce)
    Kt = K * (np.abs(K) > 0.5)
    np.testing.assert_allclose(th.blocks[0][0], channel_reference(Kt, 2, reduce), rtol=1e-6)
    conv_bias = from_conv_module(_build(4)[0], (1, 6, 6))
    cb = channel_graph(conv_bias)
    np.testing.assert_allclose(cb.biases[0][0], _build(4)[0][0].bias.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (1, 1)])
def test_lamalfa_against_seeds_six_loops(stride, padding):
    """La Malfa's small CNN (conv 3×3, Flatten, Linear): deepcnt's nodes strength vs the authors' loops."""
    torch.manual_seed(stride + 10 * padding)
    conv = nn.Conv2d(1, 5, 3, stride=stride, padding=padding)
    C, H, W = 1, 7, 7
    Ho = (H + 2 * padding - 3) // stride + 1
    lin = nn.Linear(5 * Ho * Ho, 4)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), lin)
    g = from_conv_module(model, (C, H, W))
    s = nodes_strength(g)
    K = conv.weight.detach().numpy().astype(np.float64)
    b = conv.bias.detach().numpy().astype(np.float64)
    s_in, s_out = seeds_conv_strengths(K, b, (C, H, W), stride, padding)
    Wl = lin.weight.detach().numpy().T.astype(np.float64)
    o = g.offsets
    # input layer: 1 + the input strength of the six loops, exactly
    np.testing.assert_allclose(s[o[0]:o[1]], 1.0 + s_in.ravel(), rtol=1e-6, atol=1e-6)
    hidden = s[o[1]:o[2]].reshape(5, Ho, Ho) - Wl.sum(1).reshape(5, Ho, Ho)
    if padding == 0:  # conv layer: the seeds' output strength (+ the dense layer's out-strength), exactly
        np.testing.assert_allclose(hidden, s_out, rtol=1e-6, atol=1e-6)
    else:  # the seeds count kernel entries that fall on padding (no edge there): equal inside only
        np.testing.assert_allclose(hidden[:, 1:-1, 1:-1], s_out[:, 1:-1, 1:-1], rtol=1e-6, atol=1e-6)
        assert not np.allclose(hidden[:, 0, 0], s_out[:, 0, 0])
    np.testing.assert_allclose(s[o[2]:], Wl.sum(0) + lin.bias.detach().numpy() + 1.0, rtol=1e-6, atol=1e-6)


def test_is_conv_model():
    from deepcnt.bindings.torch_conv import is_conv_model

    assert is_conv_model(_build(0)[0]) and is_conv_model(nn.Sequential(nn.Sequential(nn.MaxPool2d(2))))
    assert not is_conv_model(nn.Sequential(nn.Linear(3, 2), nn.ReLU())) and not is_conv_model("model")


def test_bad_inputs():
    err = deepcnt.InputError
    with pytest.raises(err, match=r"layer '1' \(BatchNorm2d\) holds weights"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), (1, 5, 5))
    with pytest.raises(err, match=r"layer '1' \(AdaptiveAvgPool2d\) changes the shape"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1)), (1, 5, 5))
    with pytest.raises(err, match=r"layer '0' \(Conv1d\) holds weights"):
        from_conv_module(nn.Sequential(nn.Conv1d(1, 2, 3)), (1, 5, 5))
    with pytest.raises(err, match="takes 3 input channels but receives 1"):
        from_conv_module(nn.Sequential(nn.Conv2d(3, 2, 3)), (1, 5, 5))
    with pytest.raises(err, match=r"needs input_shape=\(C, H, W\)"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3)), None)
    with pytest.raises(err, match="input_shape must be three positive ints"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3)), (5, 5))
    with pytest.raises(err, match="does not fit an input of 2×5"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 2, 5))
    with pytest.raises(err, match="takes 10 features but receives 18"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(10, 2)), (1, 5, 5))
    with pytest.raises(err, match="without Flatten"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(3, 2)), (1, 5, 5))
    with pytest.raises(err, match="padding_mode='reflect'"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), (1, 5, 5))
    with pytest.raises(err, match="ceil_mode"):
        from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, ceil_mode=True)), (1, 5, 5))
    bad = nn.Conv2d(1, 2, 3)
    with torch.no_grad():
        bad.weight[1, 0, 2, 2] = float("nan")
    with pytest.raises(err, match="conv kernel holds 1 NaN or infinite"):
        from_conv_module(nn.Sequential(bad), (1, 5, 5))
    with pytest.raises(err, match="has no Conv2d or Linear layer"):
        from_conv_module(nn.Sequential(nn.ReLU()), (1, 5, 5))
    with pytest.raises(err, match="groups=3 must divide"):
        ConvBlock(np.ones((4, 1, 3, 3)), (3, 5, 5), groups=3)
    with pytest.raises(err, match="unknown reduce 'mean'"):
        channel_graph(from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 5, 5)), "mean")
    with pytest.raises(err, match="use deepcnt.bindings.torch_conv.channel_graph"):
        channel_graph(nn.Sequential(nn.Conv2d(1, 2, 3)))


@pytest.mark.parametrize("idx", [1, 2, 4, 6])
def test_degree_vector_motifs_equal_materialised(idx):
    from deepcnt.motifs.degree import DEGREE_SHAPES, degree_motifs
    from deepcnt.motifs.counts import motifs

    model, shape = _build(idx, seed=20 + idx)
    g = from_conv_module(model, shape).threshold(0.4)
    blocks, _ = model_dense(model, shape)
    dense = deepcnt.LayeredGraph.from_weights(blocks).threshold(g.theta[:, 0].tolist())
    for signed in (False, True):
        got, want = degree_motifs(g, signed=signed), motifs(dense, signed=signed)
        assert set(got.classes) == {c for c in want.classes if want.shape_of[c] in DEGREE_SHAPES}
        for name in got.classes:
            assert int(got[name]) == int(want[name]), name
            np.testing.assert_array_equal(got.per_block[name], want.per_block[name], err_msg=name)
        assert any(int(got[n]) > 0 for n in got.classes if got.shape_of[n] == "chain4" or idx in (1, 2))
    st = deepcnt.LayeredGraph.stack([g, g.threshold(0.8)])
    m3 = degree_motifs(st, size=3)
    assert m3.classes == ("chain3", "fanout2", "fanin2")
    np.testing.assert_array_equal(m3["fanout2"], [motifs(dense, 3)["fanout2"],
                                                  motifs(dense.threshold(0.8), 3)["fanout2"]])


def test_random_geometries_against_one_hot_blocks():
    """Many random Conv2d geometries (stride, padding, dilation, groups, rectangular kernels, zero entries)."""
    from naive_conv import layer_dense

    rng = np.random.default_rng(42)
    done = 0
    while done < 40:
        groups = int(rng.choice([1, 1, 2, 3]))
        cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        H, W = (int(v) for v in rng.integers(1, 9, 2))
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        st, dl = tuple(int(v) for v in rng.integers(1, 4, 2)), tuple(int(v) for v in rng.integers(1, 3, 2))
        pd = tuple(int(rng.integers(0, (kk - 1) * d // 2 + 2)) for kk, d in zip(k, dl))
        conv = nn.Conv2d(cin, cout, k, stride=st, padding=pd, dilation=dl, groups=groups, bias=False)
        Ho = (H + 2 * pd[0] - dl[0] * (k[0] - 1) - 1) // st[0] + 1
        Wo = (W + 2 * pd[1] - dl[1] * (k[1] - 1) - 1) // st[1] + 1
        if Ho < 1 or Wo < 1:
            with pytest.raises(deepcnt.InputError, match="does not fit"):
                from_conv_module(nn.Sequential(conv), (cin, H, W))
            continue
        with torch.no_grad():
            conv.weight.mul_(3.0)
            conv.weight[0, 0, 0, 0] = 0.0  # a zero kernel entry is no edge at θ = 0
        D, _ = layer_dense(conv, (cin, H, W))
        for theta in (0.0, 0.4):
            g = from_conv_module(nn.Sequential(conv), (cin, H, W)).threshold(theta)
            A = dense_directed([D], theta)
            np.testing.assert_array_equal(g.to_scipy().toarray(), A)
            if theta == 0:  # the weight multiset in O(params): nonzero part and number of slots
                v, c = g.blocks[0].weight_counts(0)
                kept = np.repeat(v, c)
                np.testing.assert_array_equal(np.sort(kept[kept != 0]), np.sort(A[A != 0]))
                ones = nn.Conv2d(cin, cout, k, stride=st, padding=pd, dilation=dl, groups=groups, bias=False)
                with torch.no_grad():
                    ones.weight.fill_(1.0)
                assert kept.size == int((layer_dense(ones, (cin, H, W))[0] != 0).sum())
            for d in ("in", "out"):
                np.testing.assert_array_equal(deepcnt.degree(g, d), degree_ref(A, d))
                for s in ("positive", "negative"):
                    np.testing.assert_allclose(deepcnt.strength(g, d, s), strength_ref(A, d, s), rtol=1e-10,
                                               atol=1e-12)
        done += 1
