"""La Malfa's CNN preset: the batched ensemble program, the store round trip and the implicit graphs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import deepcnt  # noqa: E402
from deepcnt.bindings.datasets import load_dataset  # noqa: E402
from deepcnt.bindings.torch_conv import from_conv_module  # noqa: E402
from deepcnt.bindings.train_cnn import BatchedCNN, store_graph, train_cnn  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=96, n_test=40)


def _member_model(tr, e):
    """Member ``e`` of a BatchedCNN as an ordinary torch model (the independent reference)."""
    C, H, W = tr.image_shape
    m = nn.Sequential(nn.Unflatten(1, (C, H, W)), nn.Conv2d(C, tr.filters, tr.k), nn.ReLU(), nn.Flatten(),
                      nn.Linear(tr.sizes[1], tr.sizes[2]))
    with torch.no_grad():
        m[1].weight.copy_(tr.K[e])
        m[1].bias.copy_(tr.bk[e])
        m[4].weight.copy_(tr.W[0][e].T)
        m[4].bias.copy_(tr.b[0][e])
    return m


def test_batched_program_equals_members_and_single_runs(digits):
    torch.set_num_threads(1)
    kw = dict(filters=3, init_scale=(0.1, 0.3), lr=0.05, batch_size=16)
    tr = BatchedCNN((1, 8, 8), 10, seeds=(5, 6), **kw).set_data(digits.x_train, digits.y_train)
    x = torch.as_tensor(digits.x_test[:7])
    z = tr.logits(x)
    for e in range(2):
        np.testing.assert_allclose(z[e].detach().numpy(), _member_model(tr, e)(x).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    singles = [BatchedCNN((1, 8, 8), 10, seeds=(s,), **dict(kw, init_scale=sc)).set_data(digits.x_train,
                                                                                        digits.y_train)
               for s, sc in ((5, 0.1), (6, 0.3))]
    for _ in range(2):
        loss = tr.train_epoch()["loss"]
        single_loss = [s.train_epoch()["loss"][0] for s in singles]
        np.testing.assert_allclose(loss, single_loss, rtol=1e-5)
    for e, s in enumerate(singles):
        np.testing.assert_allclose(tr.K[e].detach().numpy(), s.K[0].detach().numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(tr.W[0][e].detach().numpy(), s.W[0][0].detach().numpy(), rtol=1e-4, atol=1e-6)
    # the graph of the trainer is the graph of the member models
    g = tr.graph()
    for e in range(2):
        ref = from_conv_module(_member_model(tr, e), (1, 8, 8))
        np.testing.assert_allclose(deepcnt.strength(g)[e], deepcnt.strength(ref), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(deepcnt.nodes_strength(g)[e], deepcnt.nodes_strength(ref), rtol=1e-6, atol=1e-6)


def test_train_cnn_store_round_trip_and_resume(tmp_path, digits):
    torch.set_num_threads(1)
    run = tmp_path / "cnn"
    st = train_cnn(run, filters=4, epochs=2, members=2, n_train=96, n_test=40, init_scale=(0.05, 0.2))
    assert len(st) == 3 and list(st.epochs) == [0, 1, 2] and st.n_members == 2
    assert st.sizes == (64, 4 * 36, 10) and st.metadata["conv"]["filters"] == 4
    sc = st.scalars()
    assert sc["test_acc"].shape == (3, 2) and np.all((sc["test_acc"] >= 0) & (sc["test_acc"] <= 1))
    assert np.all(np.isfinite(sc["loss"][1:]))
    assert st.meta["format_version"] == 2 and st.block_specs[0]["kernel_shape"] == [4, 1, 3, 3]
    for i in range(3):
        implicit = store_graph(st, i)       # the stored kernel: a ConvBlock, never unrolled on disk
        assert type(implicit.blocks[0]).__name__ == "ConvBlock" and implicit.n_epochs == 2
        # reference: the same entry with its conv block materialised as a dense block
        dense = deepcnt.LayeredGraph.from_weights(
            [np.stack([_unrolled(implicit.blocks[0], e) for e in range(2)]), implicit.blocks[1]],
            biases=list(implicit.biases))
        for f in (deepcnt.degree, deepcnt.strength, deepcnt.knn, deepcnt.nodes_strength):
            np.testing.assert_allclose(f(implicit), f(dense), rtol=1e-9, atol=1e-9)
        one = store_graph(st, i, member=1)
        np.testing.assert_allclose(deepcnt.strength(one), deepcnt.strength(dense)[1], rtol=1e-9, atol=1e-9)
    st.close()
    st = train_cnn(run, filters=4, epochs=3, members=2, n_train=96, n_test=40, init_scale=(0.05, 0.2))
    assert list(st.epochs) == [0, 1, 2, 3]
    st.close()
    with pytest.raises(InputError, match="holds a run with filters=4, not 5"):
        train_cnn(run, filters=5, epochs=3, members=2, n_train=96, n_test=40, init_scale=(0.05, 0.2))


def _unrolled(block, e):
    r, c, v = block.edges(e, -1.0)
    D = np.zeros(block.shape[1:])
    D[r, c] = v
    return D


def test_preset_scales_follow_the_ensemble_size(tmp_path):
    st = train_cnn(tmp_path / "r", filters=2, epochs=1, members=5, n_train=32, n_test=16)
    assert st.n_members == 5 and st.metadata["config"]["init_scale"] == [0.01, 0.05, 0.1, 0.5, 0.01]
    st.close()


def test_bad_cnn_settings():
    ws, _ = BatchedCNN((1, 28, 28), 10, filters=256, seeds=[0]).arrays()  # MNIST, 256 filters: kernels only
    assert ws[0].shape == (1, 256, 1, 3, 3) and ws[1].shape == (1, 256 * 26 * 26, 10)
    with pytest.raises(InputError, match="does not fit images"):
        BatchedCNN((1, 2, 2), 10, filters=4)
    with pytest.raises(InputError, match="has no setting 'hidden'"):
        train_cnn("/nonexistent/run", hidden=(3,))
