"""LayeredGraph: construction, validation (one clear error per bad input), thresholds, stacks and export."""
import numpy as np
import pytest

import deepcnt
from deepcnt import InputError, LayeredGraph
from naive import dense_directed, random_blocks


def _blocks(*sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def test_shape_attributes():
    g = LayeredGraph.from_weights(_blocks(3, 1, 4))
    assert g.sizes == (3, 1, 4) and g.n_nodes == 8 and g.n_layers == 3 and g.n_blocks == 2
    assert g.offsets == (0, 3, 4, 8) and g.layer_slice(1) == slice(3, 4) and g.layer_slice(-1) == slice(4, 8)
    assert g.n_edges == 7 and g.device == "cpu" and g.n_epochs is None
    assert g.layer_of().tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    assert g.layer_names == ("L0", "L1", "L2")


@pytest.mark.parametrize("weights, match", [
    ([], "at least one weight block"),
    (np.ones((2, 2)), "list of weight blocks"),
    ([np.ones(3)], "has shape \\(3,\\)"),
    ([np.ones((2, 2, 2, 2))], "has shape"),
    ([np.ones((2, 3)), np.ones((4, 2))], "weights\\[1\\] has 4 rows but weights\\[0\\] has 3 columns"),
    ([np.array([["a", "b"]])], "dtype <U1"),
    ([np.ones((2, 2), dtype=complex)], "real numbers"),
    ([np.array([[1.0, np.nan]])], "1 NaN weight\\(s\\), the first at index \\(0, 1\\)"),
    ([np.array([[np.inf, 1.0]]), np.ones((2, 1))], "infinite"),
    ([np.ones((2, 0))], "layer 1 has no nodes"),
    ([np.ones((2, 3, 4)), np.ones((3, 4, 1))], "stacks 3 epochs but weights\\[0\\] stacks 2"),
    ([np.ones((2, 3)), np.ones((1, 3, 2))], "mix 2-D blocks and 3-D"),
    ([[[1.0, 2.0], [3.0]]], "not an array of numbers"),
])
def test_bad_weights(weights, match):
    with pytest.raises(InputError, match=match):
        LayeredGraph.from_weights(weights)


def test_bad_biases_and_names():
    w = _blocks(2, 3, 1)
    with pytest.raises(InputError, match="biases\\[0\\] has shape \\(2,\\) but layer 1 has 3 nodes"):
        LayeredGraph.from_weights(w, biases=[np.ones(2), np.ones(1)])
    with pytest.raises(InputError, match="biases has 1 entries for 2 blocks"):
        LayeredGraph.from_weights(w, biases=[np.ones(3)])
    with pytest.raises(InputError, match="NaN or infinite"):
        LayeredGraph.from_weights(w, biases=[np.ones(3), np.array([np.nan])])
    with pytest.raises(InputError, match="layer_names has 2 names for 3 layers"):
        LayeredGraph.from_weights(w, layer_names=["a", "b"])
    g = LayeredGraph.from_weights(w, biases=[None, np.ones(1)], layer_names=["in", "h", "out"])
    assert g.layer_names == ("in", "h", "out") and g.biases[0].shape == (1, 3)


def test_torch_tensor_is_refused_with_advice():
    torch = pytest.importorskip("torch")
    with pytest.raises(InputError, match="torch.Tensor.*detach"):
        LayeredGraph.from_weights([torch.ones(2, 2)])


def test_dtypes_kept_or_promoted():
    assert LayeredGraph.from_weights([np.ones((2, 2), np.float32)]).blocks[0].dtype == np.float32
    assert LayeredGraph.from_weights([np.ones((2, 2), np.int8)]).blocks[0].dtype == np.float64
    assert LayeredGraph.from_weights([np.ones((2, 2), np.float16)]).blocks[0].dtype == np.float32
    assert LayeredGraph.from_weights([np.ones((2, 2), bool)]).n_edges == 4
    assert LayeredGraph.from_weights([np.asfortranarray(np.ones((3, 2)))]).blocks[0].flags.c_contiguous


def test_threshold_abs_and_per_block():
    w = [np.array([[0.05, -0.2], [0.5, 0.0]]), np.array([[0.3], [-0.11]])]
    g = LayeredGraph.from_weights(w)
    assert g.n_edges == 5
    assert g.threshold(0.1).n_edges == 4
    assert g.threshold([0.0, 0.2]).n_edges == 4
    assert g.threshold(0.1).threshold(0.25).n_edges == 2  # thresholds compose
    assert g.threshold(0.1).rule == {"mode": "abs", "theta": 0.1}
    assert g.threshold(0.1).threshold(0.25).rule["mode"] == "composed"
    for bad in (-0.1, np.nan, [0.1], [0.1, 0.2, 0.3]):
        with pytest.raises(InputError, match="theta"):
            g.threshold(bad)
    with pytest.raises(InputError, match="unknown threshold mode"):
        g.threshold(0.1, mode="relative")


@pytest.mark.parametrize("seed", range(10))
def test_threshold_proportional(seed):
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 9, size=4)
    blocks = [rng.normal(size=(n[l], n[l + 1])) for l in range(3)]
    g = LayeredGraph.from_weights(blocks)
    for rho in (0.1, 0.5, 1.0):
        mags = np.sort(np.concatenate([np.abs(b).ravel() for b in blocks]))[::-1]
        k = int(round(rho * mags.size))
        gp = g.threshold(rho, mode="proportional")
        assert gp.n_edges == k
        kept = np.concatenate([np.abs(b)[np.abs(b) > gp.theta[l, 0]] for l, b in enumerate(blocks)])
        np.testing.assert_array_equal(np.sort(kept)[::-1], mags[:k])
        gb = g.threshold(rho, mode="proportional", per_block=True)
        for l, b in enumerate(blocks):
            assert int((np.abs(b) > gb.theta[l, 0]).sum()) == int(round(rho * b.size))
    with pytest.raises(InputError, match="fraction in \\(0, 1\\]"):
        g.threshold(0.0, mode="proportional")
    with pytest.raises(InputError, match="fraction"):
        g.threshold(1.5, mode="proportional")


def test_proportional_is_per_epoch_on_stacks():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2, 4, 5))
    w[1] *= 10
    g = LayeredGraph.from_weights([w]).threshold(0.25, mode="proportional")
    assert g.n_edges.tolist() == [5, 5]


def test_stack_epoch_roundtrip():
    rng = np.random.default_rng(1)
    gs = [LayeredGraph.from_weights([rng.normal(size=(3, 2)), rng.normal(size=(2, 4))]) for _ in range(3)]
    s = LayeredGraph.stack(gs)
    assert s.n_epochs == 3 and s.stacked
    for t, g in enumerate(gs):
        np.testing.assert_array_equal(s.epoch(t).blocks[1], g.blocks[1])
        np.testing.assert_array_equal(deepcnt.strength(s)[t], deepcnt.strength(g))
    with pytest.raises(InputError, match="epoch 5 does not exist"):
        s.epoch(5)
    with pytest.raises(InputError, match="needs an epoch stack"):
        gs[0].epoch(0)
    with pytest.raises(InputError, match="cannot stack"):
        LayeredGraph.stack([gs[0], LayeredGraph.from_weights([np.ones((3, 3))])])
    with pytest.raises(InputError, match="pass epoch=t"):
        s.to_scipy()
    with pytest.raises(InputError, match="layer 7 does not exist"):
        s.layer_slice(7)


@pytest.mark.parametrize("seed", range(8))
def test_exports_match_dense(seed):
    rng = np.random.default_rng(seed)
    blocks = random_blocks(rng)
    g = LayeredGraph.from_weights(blocks).threshold(0.3)
    A = dense_directed(blocks, 0.3)
    np.testing.assert_allclose(g.to_scipy().toarray(), A, rtol=1e-6)
    np.testing.assert_allclose(g.to_scipy(directed=False).toarray(), A + A.T, rtol=1e-6)
    np.testing.assert_allclose(g.to_scipy(sign="negative").toarray(), np.maximum(-A, 0), rtol=1e-6)
    np.testing.assert_array_equal(g.to_scipy(sign="binary").toarray(), (A != 0).astype(float))
    G = g.to_networkx()
    assert G.number_of_nodes() == g.n_nodes and G.number_of_edges() == int((A != 0).sum())
    for i, j, d in G.edges(data=True):
        assert d["weight"] == pytest.approx(A[i, j], rel=1e-6)
    H = g.to_igraph(directed=False)
    assert H.vcount() == g.n_nodes and H.ecount() == int((A != 0).sum()) and not H.is_directed()
    with pytest.raises(InputError, match="unknown sign"):
        g.to_scipy(sign="log")


def test_device_errors(monkeypatch):
    g = LayeredGraph.from_weights(_blocks(2, 2))
    with pytest.raises(deepcnt.DeviceError, match="unknown device"):
        g.to("tpu")
    import deepcnt.backend as bk

    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setattr(bk, "_CACHE", {"cpu": bk.get_backend("cpu")})
    monkeypatch.setattr(bk, "gpu_available", lambda: False)
    with pytest.raises(deepcnt.DeviceError, match="no CUDA device is available here; use device='cpu'"):
        g.to("gpu")


def test_functions_of_arrays_follow_their_input():
    """One device convention: ``device=None`` runs where the arrays live (a CuPy array: the GPU), an explicit
    device wins; information, transport and consensus all default to it."""
    import inspect

    import deepcnt.backend as bk
    from deepcnt.communities.consensus import agreement
    from deepcnt.function import information as inf, transport as tr

    FakeCupy = type("ndarray", (), {"__module__": "cupy._core.core"})
    assert bk.backend_for(None, np.zeros(2)).device == "cpu"
    assert bk.backend_for(None, np.zeros(2), FakeCupy()).device == "gpu"
    assert bk.backend_for("cpu", FakeCupy()).device == "cpu"
    for f in (agreement, inf.class_counts, inf.binary_information, inf.pixel_information, inf.node_information,
              tr.sinkhorn_pairs):
        assert inspect.signature(f).parameters["device"].default is None, f.__name__
    rng = np.random.default_rng(0)
    Xb, y = rng.integers(0, 2, size=(30, 4)), rng.integers(0, 3, size=30)
    np.testing.assert_allclose(inf.binary_information(Xb, y), inf.binary_information(Xb, y, device="gpu"))


def test_dense_block_has_the_shape_of_the_graph():
    """One network: (n_l, n_{l+1}), like every per-node result without the epoch axis; a stack keeps it."""
    rng = np.random.default_rng(3)
    ws = [rng.normal(size=(4, 3)), rng.normal(size=(3, 2))]
    g = deepcnt.LayeredGraph.from_weights(ws).threshold(0.5)
    for l, w in enumerate(ws):
        np.testing.assert_array_equal(g.dense_block(l), w)  # every weight: the threshold is a rule, not a copy
        assert g.block_stack(l).shape == (1,) + w.shape
    np.testing.assert_array_equal(g.dense_block(-1), ws[1])
    stack = deepcnt.LayeredGraph.from_weights([np.stack([w, 2 * w]) for w in ws])
    assert stack.dense_block(0).shape == (2, 4, 3)
    with pytest.raises(InputError, match="block 2 does not exist"):
        g.dense_block(2)
