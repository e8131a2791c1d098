"""Trainers (batched CD-1 and SGD), presets, save schedules, datasets, resume after SIGKILL."""
import argparse
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # bit-exact comparisons (and small ops are fastest on one thread)

from deepcnt.bindings import presets  # noqa: E402
from deepcnt.bindings.datasets import load_dataset, read_idx, write_idx  # noqa: E402
from deepcnt.bindings.train_loop import init_block, save_epochs, shine_epochs  # noqa: E402
from deepcnt.bindings.train_mlp import BatchedMLP  # noqa: E402
from deepcnt.bindings.train_rbm import BatchedDBN, cd1_step  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from deepcnt.runs.store import EpochStore  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _cd1_reference(W, b, c, dW, db, dc, v0, u, lr, mom, wd):
    """Hinton's rbm.m, one minibatch, written out in numpy (one member)."""
    B = len(v0)
    p0 = _sig(v0 @ W + c)
    h0 = (p0 > u).astype(float)
    v1 = _sig(h0 @ W.T + b)
    p1 = _sig(v1 @ W + c)
    dW = mom * dW + lr * ((v0.T @ p0 - v1.T @ p1) / B - wd * W)
    db = mom * db + lr / B * (v0 - v1).sum(0)
    dc = mom * dc + lr / B * (p0 - p1).sum(0)
    return W + dW, b + db, c + dc, dW, db, dc, ((v0 - v1) ** 2).sum()


def test_cd1_step_equals_handwritten_update():
    rng = np.random.default_rng(0)
    E, B, nv, nh = 3, 7, 6, 5
    arrs = dict(W=rng.normal(0, 0.5, (E, nv, nh)), b=rng.normal(size=(E, nv)), c=rng.normal(size=(E, nh)),
                dW=rng.normal(0, 0.01, (E, nv, nh)), db=rng.normal(0, 0.01, (E, nv)), dc=rng.normal(0, 0.01, (E, nh)))
    v0, u = rng.random((E, B, nv)), rng.random((E, B, nh))
    t = {k: torch.tensor(v) for k, v in arrs.items()}
    err = cd1_step(t["W"], t["b"], t["c"], t["dW"], t["db"], t["dc"], torch.tensor(v0), torch.tensor(u),
                   0.1, 0.9, 4e-4)
    for e in range(E):
        ref = _cd1_reference(*(arrs[k][e] for k in ("W", "b", "c", "dW", "db", "dc")), v0[e], u[e], 0.1, 0.9, 4e-4)
        for got, want in zip((t["W"], t["b"], t["c"], t["dW"], t["db"], t["dc"], err), ref):
            np.testing.assert_allclose(got[e].numpy(), want, rtol=1e-12, atol=1e-14)


def test_rbm_epoch_equals_reference_with_same_seed():
    """A whole epoch: the documented random streams (init, permutation, uniforms) redrawn by hand."""
    rng = np.random.default_rng(1)
    x = (rng.random((10, 6)) < 0.4).astype(np.float32)
    rbm = BatchedDBN((6, 4), seeds=[7], epochs_per_layer=2, batch_size=4, lr=0.1, momentum=0.5,
                     weight_decay=1e-3, init_scale=0.1).set_data(x)
    out = [rbm.train_epoch(1), rbm.train_epoch(2)]
    g = torch.Generator().manual_seed(7)
    W = (torch.randn(6, 4, generator=g) * 0.1).double().numpy()
    b, c, dW, db, dc = np.zeros(6), np.zeros(4), np.zeros((6, 4)), np.zeros(6), np.zeros(4)
    for epoch in range(2):
        perm = torch.randperm(10, generator=g).numpy()
        u = torch.rand(10, 4, generator=g).double().numpy()
        err = 0.0
        for s in range(0, 10, 4):
            idx = perm[s:s + 4]
            W, b, c, dW, db, dc, e = _cd1_reference(W, b, c, dW, db, dc, x[idx].astype(float), u[s:s + 4],
                                                    0.1, 0.5, 1e-3)
            err += e
        np.testing.assert_allclose(out[epoch]["recon_error"][0], err / 10, rtol=1e-5)
    np.testing.assert_allclose(rbm.W[0][0].numpy(), W, atol=1e-6)
    np.testing.assert_allclose(rbm.hb[0][0].numpy(), c, atol=1e-6)
    np.testing.assert_allclose(rbm.vb[0][0].numpy(), b, atol=1e-6)


@pytest.mark.gpu
def test_rbm_on_gpu_draws_its_uniforms_on_the_device():
    """On a GPU: initial weights equal the CPU's; the hidden samples follow the documented device stream (a
    CUDA generator seeded with the member's seed), so an epoch equals the reference redrawn with it; the
    saved state resumes to the same result."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device for torch")
    rng = np.random.default_rng(1)
    x = (rng.random((10, 6)) < 0.4).astype(np.float32)
    kw = dict(seeds=[7, 8], epochs_per_layer=2, batch_size=4, lr=0.1, momentum=0.5, weight_decay=1e-3)
    gpu = BatchedDBN((6, 4), device="cuda", **kw).set_data(x)
    cpu = BatchedDBN((6, 4), **kw).set_data(x)
    assert torch.equal(gpu.W[0].cpu(), cpu.W[0])
    state0 = gpu.state()
    err = gpu.train_epoch(1)["recon_error"]
    g, gd = torch.Generator().manual_seed(7), torch.Generator(device="cuda").manual_seed(7)
    W = (torch.randn(6, 4, generator=g) * 0.1).double().numpy()
    b, c, dW, db, dc = np.zeros(6), np.zeros(4), np.zeros((6, 4)), np.zeros(6), np.zeros(4)
    perm = torch.randperm(10, generator=g).numpy()
    u = torch.rand(10, 4, generator=gd, device="cuda").double().cpu().numpy()
    want = 0.0
    for s in range(0, 10, 4):
        W, b, c, dW, db, dc, e = _cd1_reference(W, b, c, dW, db, dc, x[perm[s:s + 4]].astype(float), u[s:s + 4],
                                                0.1, 0.5, 1e-3)
        want += e
    np.testing.assert_allclose(err[0], want / 10, rtol=1e-4)
    np.testing.assert_allclose(gpu.W[0][0].cpu().numpy(), W, atol=1e-5)
    again = BatchedDBN((6, 4), device="cuda", **kw).set_data(x)
    again.load_state(state0)
    again.train_epoch(1)
    assert torch.equal(again.W[0], gpu.W[0])


def test_mlp_ensemble_equals_single_runs(digits):
    kw = dict(activation="tanh", init="orthogonal", init_scale=[1.0, 0.5, 2.0], lr=0.05, momentum=0.9,
              nesterov=True, weight_decay=1e-4, batch_size=32)
    x, y = digits.x_train[:400], digits.y_train[:400]
    ens = BatchedMLP((64, 16, 12, 10), seeds=[5, 6, 7], **kw).set_data(x, y)
    losses = [ens.train_epoch(e)["loss"] for e in range(2)]
    for m, (s, sc) in enumerate(zip([5, 6, 7], kw["init_scale"])):
        one = BatchedMLP((64, 16, 12, 10), seeds=[s], **dict(kw, init_scale=sc)).set_data(x, y)
        single = [one.train_epoch(e)["loss"][0] for e in range(2)]
        assert [lo[m] for lo in losses] == single
        for l in range(3):
            assert torch.equal(one.W[l][0], ens.W[l][m]) and torch.equal(one.b[l][0], ens.b[l][m])


_DBN_EQ = textwrap.dedent("""
    import numpy as np, torch
    torch.set_num_threads(1)
    from deepcnt.bindings.datasets import load_dataset
    from deepcnt.bindings.train_rbm import BatchedDBN
    x = load_dataset("digits").x_train[:300]
    kw = dict(epochs_per_layer=2, batch_size=25)
    ens = BatchedDBN((64, 24, 16), seeds=[1, 2, 3], init_scale=[0.1, 0.01, 0.1], **kw).set_data(x)
    for e in range(1, 5): ens.train_epoch(e)
    worst = 0.0
    for m, (s, sc) in enumerate([(1, 0.1), (2, 0.01), (3, 0.1)]):
        one = BatchedDBN((64, 24, 16), seeds=[s], init_scale=sc, **kw).set_data(x)
        for e in range(1, 5): one.train_epoch(e)
        for l in range(2):
            for a, b in ((one.W, ens.W), (one.hb, ens.hb), (one.vb, ens.vb)):
                worst = max(worst, float((a[l][0] - b[l][m]).abs().max()))
    print(worst)
""")


def test_dbn_ensemble_equals_single_runs():
    """Bit-exact (binary sampling would amplify any last-bit difference into a different run). Runs in a fresh
    process with one torch thread (threaded reductions may split sums differently for different E)."""
    out = subprocess.run([sys.executable, "-c", _DBN_EQ], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) == 0.0


def test_reconstruction_error_falls_on_digits(digits):
    dbn = BatchedDBN((64, 32, 16), seeds=[0, 1], epochs_per_layer=3, batch_size=20).set_data(digits.x_train[:600])
    errs = np.array([dbn.train_epoch(e)["recon_error"] for e in range(1, 7)])
    assert np.all(np.diff(errs[:3], axis=0) < 0) and np.all(np.diff(errs[3:], axis=0) < 0)
    assert np.all(errs[2] < 0.6 * errs[0])


def test_mlp_reaches_sane_accuracy_on_digits(digits):
    m = BatchedMLP((64, 32, 10), seeds=[0, 1], activation="relu", init="glorot", lr=0.1, momentum=0.9,
                   batch_size=32).set_data(digits.x_train, digits.y_train, digits.x_test, digits.y_test)
    before = m.evaluate()["test_acc"]
    for e in range(4):
        m.train_epoch(e)
    after = m.evaluate()
    assert np.all(before < 0.3) and np.all(after["test_acc"] > 0.85) and np.all(after["train_acc"] > 0.9)


def test_sgd_matches_torch_optim_nesterov(digits):
    m = BatchedMLP((64, 8, 10), seeds=[3], activation="sigmoid", init="normal", init_scale=0.3, lr=0.2,
                   momentum=0.6, nesterov=True, weight_decay=1e-3, batch_size=50)
    m.set_data(digits.x_train[:200], digits.y_train[:200])
    net = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 10))
    with torch.no_grad():
        for lin, W in zip((net[0], net[2]), m.W):
            lin.weight.copy_(W[0].T)
            lin.bias.zero_()
    opt = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.6, nesterov=True, weight_decay=1e-3)
    g = torch.Generator().manual_seed(3)
    init_block(g, 64, 8, "normal", 0.3)  # the member's own stream: the initial weights, then one
    init_block(g, 8, 10, "normal", 0.3)  # permutation per epoch
    for epoch in range(2):
        m.train_epoch(epoch)
        perm = torch.randperm(200, generator=g)
        for s in range(0, 200, 50):
            idx = perm[s:s + 50]
            loss = torch.nn.functional.cross_entropy(net(m.x[idx]), m.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    np.testing.assert_allclose(m.W[0][0].detach().numpy(), net[0].weight.detach().numpy().T, atol=1e-6)
    np.testing.assert_allclose(m.b[1][0].detach().numpy(), net[2].bias.detach().numpy(), atol=1e-6)


def test_initialisations_and_biases_off():
    g = torch.Generator().manual_seed(0)
    q = init_block(g, 30, 12, "orthogonal", 2.0).double()
    np.testing.assert_allclose((q.T @ q).numpy(), 4 * np.eye(12), atol=1e-5)
    q = init_block(g, 12, 30, "orthogonal", 1.0).double()
    np.testing.assert_allclose((q @ q.T).numpy(), np.eye(12), atol=1e-5)
    a = np.sqrt(6 / (300 + 200))
    w = init_block(g, 300, 200, "glorot", 1.0)
    assert w.abs().max() <= a and w.abs().max() > 0.99 * a
    w = init_block(g, 300, 200, "uniform", 1.0)
    assert w.abs().max() <= 1 and w.abs().max() > 0.99
    w = init_block(g, 300, 200, "normal", 0.05)
    assert abs(float(w.std()) - 0.05) < 0.002
    with pytest.raises(InputError, match="unknown initialisation"):
        init_block(g, 2, 2, "he", 1.0)
    rng = np.random.default_rng(0)
    m = BatchedMLP((5, 4, 3), seeds=[0, 1], biases=False, lr=0.5).set_data(rng.random((20, 5)), rng.integers(0, 3, 20))
    m.train_epoch(0)
    ws, bs = m.arrays()
    assert bs is None and all(float(b.abs().max()) == 0.0 for b in m.b)
    assert not np.array_equal(ws[0][0], ws[0][1])


def test_save_schedules():
    ep = shine_epochs()
    assert len(ep) == 64 and ep[:30] == list(range(1, 31)) and ep[30:37] == list(range(40, 101, 10))
    assert ep[-9:] == list(range(20000, 100001, 10000)) and 700 in ep and 8000 in ep
    assert save_epochs("shine", 50) == {0} | set(range(1, 31)) | {40, 50}
    assert save_epochs("every:4", 10) == {0, 4, 8, 10}
    assert save_epochs([2, 5], 9) == {0, 2, 5, 9}
    assert len(save_epochs("log:5", 1000)) == 6 and 1000 in save_epochs("log:5", 1000)
    for bad, msg in [("weekly", "unknown save schedule"), ([11], "outside"), ("every:0", "K must be")]:
        with pytest.raises(InputError, match=msg):
            save_epochs(bad, 10)


def test_presets_follow_the_data_and_record_metadata(tmp_path):
    s = presets.train("zambra-mlp", tmp_path / "z", epochs=2, members=2, seed=4, n_train=200, n_test=50,
                      init="orthogonal", threads=1)
    assert s.sizes == (64, 20, 10, 10) and s.n_members == 2 and list(s.epochs) == [0, 1, 2]
    md = s.metadata
    assert md["preset"] == "zambra-mlp" and md["seeds"] == [4, 5] and md["config"]["init"] == "orthogonal"
    assert md["config"]["init_scale"] == 1.0 and md["config"]["nesterov"] and md["data"]["n_train"] == 200
    assert s.meta["versions"]["torch"] == torch.__version__.split("+")[0] or s.meta["versions"]["torch"]
    assert set(s.scalars()) == {"loss", "train_acc", "train_loss", "test_acc"}
    d = presets.train("testolin-dbn", tmp_path / "t", epochs=1, hidden=(12, 10, 8), n_train=100, threads=1)
    assert d.sizes == (64, 12, 10, 8) and list(d.epochs) == [0, 1, 2, 3]
    assert d.layer_names == ("visible", "hidden1", "hidden2", "hidden3") and d.has_biases
    assert d.scalars()["layer"][1:].tolist() == [0, 1, 2]
    sh = presets.train("shine-mlp", tmp_path / "s", epochs=3, n_train=100, threads=1)
    assert sh.sizes == (64, 100, 100, 10) and not sh.has_biases and sh.graph(3).biases is None
    assert float(np.abs(sh.graph(0).blocks[0]).max()) <= 1.0
    with pytest.raises(InputError, match="holds a run with init='orthogonal', not 'normal'"):
        presets.train("zambra-mlp", tmp_path / "z", epochs=3, members=2, seed=4, n_train=200, n_test=50)
    with pytest.raises(InputError, match="unknown preset"):
        presets.get_preset("lenet")
    with pytest.raises(InputError, match="no setting"):
        presets.get_preset("shine-mlp", dropout=0.5)
    with pytest.raises(InputError, match="unknown activation"):
        BatchedMLP((3, 2), activation="swish")
    with pytest.raises(InputError, match="features"):
        BatchedMLP((3, 2)).set_data(np.zeros((4, 5)), np.zeros(4, int))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        BatchedDBN((3, 2)).set_data(np.full((4, 3), 2.0))


_RESUME = textwrap.dedent("""
    import sys, time
    import deepcnt.runs.store as st
    from deepcnt.bindings.presets import train
    real = st.EpochStore.append
    def append(self, epoch, *a, **k):
        i = real(self, epoch, *a, **k)
        print("COMMITTED", epoch, flush=True)
        if epoch == 3 and sys.argv[2] == "die":
            time.sleep(60)          # SIGKILLed here, during epoch 4's training
        return i
    st.EpochStore.append = append
    train("zambra-mlp", sys.argv[1], epochs=6, members=2, n_train=150, n_test=40, lr=0.1, threads=1)
""")


def test_killed_training_resumes_to_the_same_result(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_RESUME)
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "die"], stdout=subprocess.PIPE,
                         text=True)
    for line in p.stdout:
        if line.strip() == "COMMITTED 3":
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert list(EpochStore.open(tmp_path / "killed").epochs) == [0, 1, 2, 3]
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), "resume"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["COMMITTED", "4", "COMMITTED", "5", "COMMITTED", "6"]
    presets.train("zambra-mlp", tmp_path / "straight", epochs=6, members=2, n_train=150, n_test=40, lr=0.1,
                  threads=1)  # the same run, never interrupted
    a, b = EpochStore.open(tmp_path / "killed"), EpochStore.open(tmp_path / "straight")
    assert list(a.epochs) == list(b.epochs) == list(range(7))
    for t in range(7):
        wa, ba = a.read_arrays(t)
        wb, bb = b.read_arrays(t)
        assert all(np.array_equal(x, y) for x, y in zip(wa + ba, wb + bb))
    np.testing.assert_array_equal(a.scalars()["test_acc"], b.scalars()["test_acc"])


def test_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "d").mkdir()
    imgs = rng.integers(0, 256, (12, 4, 3), dtype=np.uint8)
    write_idx(tmp_path / "d" / "train-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte", rng.integers(0, 3, 12).astype(np.uint8))
    write_idx(tmp_path / "d" / "t10k-images-idx3-ubyte", imgs[:5])
    write_idx(tmp_path / "d" / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 2, 1], np.uint8))
    ds = load_dataset(f"idx:{tmp_path / 'd'}")
    assert ds.x_train.shape == (12, 12) and ds.image_shape == (4, 3) and ds.n_classes == 3
    np.testing.assert_allclose(ds.x_train * 255, imgs.reshape(12, -1), atol=1e-4)
    f = tmp_path / "f.idx"
    for arr in (rng.normal(size=(3, 2)), rng.integers(-5, 5, (4,)).astype(np.int32), np.float32([[1.5]])):
        write_idx(f, arr)
        back = read_idx(f)
        assert back.dtype == arr.dtype and np.array_equal(back, arr)
    raw = (tmp_path / "d" / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t.idx").write_bytes(raw[:-3])
    with pytest.raises(InputError, match="truncated"):
        read_idx(tmp_path / "t.idx")
    (tmp_path / "m.idx").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01x")
    with pytest.raises(InputError, match="bad magic"):
        read_idx(tmp_path / "m.idx")
    os.remove(tmp_path / "d" / "t10k-labels-idx1-ubyte")
    with pytest.raises(InputError, match="found no IDX file"):
        load_dataset(f"idx:{tmp_path / 'd'}")
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("cifar")


def test_torchvision_sets_need_torchvision_or_idx():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="needs torchvision .* idx:PATH"):
            load_dataset("mnist")
    else:
        pytest.skip("torchvision is installed: this test would download MNIST")


def test_cli_functions(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="deepcnt")
    presets.add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "--preset", "lamalfa-fc", "--hidden", "8", "--epochs", "1", "--n-train",
                              "100", "--out", str(tmp_path / "run"), "--quiet", "--threads", "1"])
    assert args.func(args) == 0
    assert "2 epochs saved" in capsys.readouterr().out
    s = EpochStore.open(tmp_path / "run")
    assert s.sizes == (64, 8, 10) and s.n_members == 4
    (tmp_path / "ck").mkdir()
    for e in (1, 2):
        torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3)).state_dict(), tmp_path / "ck" / f"e{e}.pt")
    args = parser.parse_args(["ingest", str(tmp_path / "ck"), "--out", str(tmp_path / "ing"), "--quiet"])
    assert args.func(args) == 0 and "2 checkpoints ingested" in capsys.readouterr().out
