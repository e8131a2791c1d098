"""The torch binding: from_module, state_dict/safetensors checkpoints, Recorder, ingest (all or nothing)."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from deepcnt.bindings.torch import (  # noqa: E402
    Recorder, epoch_from_name, from_module, from_state_dict, ingest, load_checkpoint,
)
from deepcnt.errors import InputError  # noqa: E402
from deepcnt.runs.store import EpochStore  # noqa: E402


def _mlp(seed=0, bias=True):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 5, bias=bias), nn.Sigmoid(), nn.Dropout(0.1),
                         nn.Linear(5, 4, bias=bias), nn.ReLU(), nn.Linear(4, 3, bias=bias), nn.Softmax(-1))


def test_from_module_transposes_and_keeps_biases():
    m = _mlp()
    g = from_module(m)
    lins = [x for x in m if isinstance(x, nn.Linear)]
    assert g.sizes == (6, 5, 4, 3)
    for l, lin in enumerate(lins):
        assert g.blocks[l].shape == (1, lin.in_features, lin.out_features)
        np.testing.assert_array_equal(g.blocks[l][0], lin.weight.detach().numpy().T)
        np.testing.assert_array_equal(g.biases[l][0], lin.bias.detach().numpy())
    assert g.layer_names == ("input", "1", "4", "6")
    assert from_module(_mlp(bias=False)).biases is None


def test_from_module_refuses_unsupported_layers():
    with pytest.raises(InputError, match=r"layer '1' \(Conv1d\)"):
        from_module(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 3)))
    with pytest.raises(InputError, match=r"layer '1' \(BatchNorm1d\)"):
        from_module(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)))
    with pytest.raises(InputError, match="takes 4 inputs but the previous Linear layer '0' gives 3"):
        from_module(nn.Sequential(nn.Linear(4, 3), nn.Linear(4, 2)))
    with pytest.raises(InputError, match="no nn.Linear"):
        from_module(nn.Sequential(nn.ReLU()))
    with pytest.raises(InputError, match="needs a torch.nn.Module"):
        from_module([np.ones((2, 2))])


def test_state_dict_and_safetensors_match_from_module(tmp_path):
    from safetensors.torch import save_file

    m = _mlp(1)
    g = from_module(m)
    torch.save(m.state_dict(), tmp_path / "a.pt")
    torch.save({"epoch": 3, "model_state_dict": m.state_dict()}, tmp_path / "b.pt")
    save_file(m.state_dict(), str(tmp_path / "c.safetensors"))
    for f in ("a.pt", "b.pt", "c.safetensors"):
        h = from_state_dict(load_checkpoint(tmp_path / f))
        for l in range(3):
            np.testing.assert_array_equal(h.blocks[l], g.blocks[l])
            np.testing.assert_array_equal(h.biases[l], g.biases[l])


def test_bad_checkpoints_are_refused(tmp_path):
    m = _mlp(2)
    torch.save(m.state_dict(), tmp_path / "good.pt")
    raw = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"\x00not a checkpoint" * 10)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned > " + str(tmp_path / "owned"),))

    torch.save({"0.weight": torch.ones(2, 2), "evil": Payload()}, tmp_path / "code.pt")
    for name, msg in [("trunc.pt", "corrupt or truncated"), ("garbage.pt", "corrupt or truncated"),
                      ("empty.pt", "is empty"), ("bad.safetensors", "corrupt or truncated"),
                      ("code.pt", "refused: it holds Python objects"), ("missing.pt", "does not exist")]:
        with pytest.raises(InputError, match=msg):
            load_checkpoint(tmp_path / name)
    assert not (tmp_path / "owned").exists()
    conv = {"c.weight": torch.ones(3, 1, 5), "c.bias": torch.ones(3)}
    with pytest.raises(InputError, match=r"layer 'c' has a weight of shape \(3, 1, 5\)"):
        from_state_dict(conv)
    bn = dict(m.state_dict(), **{"bn.running_mean": torch.zeros(3)})
    with pytest.raises(InputError, match="'bn' has 'running_mean'"):
        from_state_dict(bn)


def test_recorder_and_resume(tmp_path):
    m = _mlp(3)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    saved = []
    with Recorder(tmp_path / "run", m, metadata={"data": "random"}) as rec:
        for epoch in range(3):
            loss = nn.functional.cross_entropy(m(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.save(epoch, loss=loss.item())
            saved.append(from_module(m))
    with Recorder(tmp_path / "run", m) as rec:  # the same run directory continues
        rec.save(7, loss=0.0)
    s = EpochStore.open(tmp_path / "run")
    assert list(s.epochs) == [0, 1, 2, 7] and s.metadata["data"] == "random"
    for t in range(3):
        np.testing.assert_array_equal(s.graph(t).blocks[2], saved[t].blocks[2])
    with pytest.raises(InputError, match="holds architecture"):
        Recorder(tmp_path / "run", nn.Sequential(nn.Linear(6, 2)))


def _write_run(folder, n=4, seed=0):
    folder.mkdir()
    models = []
    for e in range(n):
        m = _mlp(seed + e)
        models.append(m)
        torch.save(m.state_dict(), folder / f"model_epoch{10 * e:03d}.pt")
    return models


def test_ingest_orders_by_epoch(tmp_path):
    models = _write_run(tmp_path / "ck")
    s = ingest(tmp_path / "ck", tmp_path / "run")
    assert list(s.epochs) == [0, 10, 20, 30] and s.sizes == (6, 5, 4, 3)
    for t, m in enumerate(models):
        np.testing.assert_array_equal(s.graph(t).blocks[1], from_module(m).blocks[1])
    assert epoch_from_name("run3_epoch_0012.pt") == 12
    from safetensors.torch import save_file

    (tmp_path / "st").mkdir()
    for e, m in zip((5, 1), models):  # listed out of order on purpose
        save_file(m.state_dict(), str(tmp_path / "st" / f"ckpt-{e}.safetensors"))
    s2 = ingest(tmp_path / "st", tmp_path / "run2")
    assert list(s2.epochs) == [1, 5]
    np.testing.assert_array_equal(s2.graph(0).blocks[2], from_module(models[1]).blocks[2])
    with pytest.raises(InputError, match="no epoch number"):
        epoch_from_name("final.pt")


@pytest.mark.parametrize("damage", ["truncated", "wrong-architecture", "pickle-with-code"])
def test_ingest_is_all_or_nothing(tmp_path, damage):
    _write_run(tmp_path / "ck")
    bad = tmp_path / "ck" / "model_epoch020.pt"
    if damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:200])
        msg = "corrupt or truncated"
    elif damage == "wrong-architecture":
        torch.save(nn.Sequential(nn.Linear(6, 7), nn.Linear(7, 3)).state_dict(), bad)
        msg = r"has architecture \(6, 7, 3\)"
    else:
        torch.save({"1.weight": torch.ones(5, 6), "x": np.random.default_rng()}, bad)
        msg = "refused"
    with pytest.raises(InputError, match=msg):
        ingest(tmp_path / "ck", tmp_path / "run")
    assert sorted(os.listdir(tmp_path)) == ["ck"]  # nothing half-written


@pytest.mark.gpu
def test_from_module_on_cuda_goes_through_dlpack():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    cupy = pytest.importorskip("cupy")
    m = _mlp(4).cuda()
    g = from_module(m)
    assert g.device == "gpu" and isinstance(g.blocks[0], cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(g.blocks[0][0]), m[1].weight.detach().cpu().numpy().T)
    assert from_module(m, device="cpu").device == "cpu"
