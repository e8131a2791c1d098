"""``ingest``: the epoch of each checkpoint (recorded in it, or named by Keras/Lightning/Hugging Face schemes),
``--epoch-from``, and the refusal of what stays ambiguous (issue 17, item 3)."""
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from deepcnt.bindings.checkpoint_epochs import assign_epochs, name_numbers  # noqa: E402
from deepcnt.bindings.torch import find_checkpoints, from_module, ingest  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402


def _mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3))


def _save_all(folder, names, payload=lambda e, m: m.state_dict()):
    """One model per name (seed = position); ``payload(k, model)`` is what is saved. Returns the models."""
    folder.mkdir(exist_ok=True)
    models = []
    for k, name in enumerate(names):
        m = _mlp(k)
        models.append(m)
        torch.save(payload(k, m), folder / name)
    return models


def _epochs(folder, mode="auto"):
    return [(e, p.name) for e, p in find_checkpoints(folder, mode)]


@pytest.mark.parametrize("names,epochs", [
    # the case: the last integer (41, 57, 83 of the val_loss) was read as the epoch
    (["epoch01-val_loss0.83.pt", "epoch02-val_loss0.57.pt", "epoch10-val_loss0.41.pt"], [1, 2, 10]),
    # Keras' ModelCheckpoint default: weights.{epoch:02d}-{val_loss:.2f}
    (["weights.01-0.83.pt", "weights.02-0.57.pt", "weights.10-0.41.pt"], [1, 2, 10]),
    # a number shared by every name (run 3) is not the epoch
    (["run3_ckpt_12.pt", "run3_ckpt_2.pt", "run3_ckpt_7.pt"], [2, 7, 12]),
    (["model_epoch_000.pth", "model_epoch_010.pth"], [0, 10]),
])
def test_epoch_from_naming_schemes(tmp_path, names, epochs):
    _save_all(tmp_path / "ck", names)
    got = _epochs(tmp_path / "ck")
    assert [e for e, _ in got] == epochs
    assert _epochs(tmp_path / "ck", "name") == got


def _lightning(k, m, epoch, step):
    return {"epoch": epoch, "global_step": step, "pytorch-lightning_version": "2.4.0",
            "state_dict": m.state_dict(), "loops": {}, "callbacks": {},
            "optimizer_states": [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9).state_dict()],
            "lr_schedulers": []}


def test_lightning_checkpoints_give_epoch_not_step(tmp_path):
    names = ["epoch=0-step=45.ckpt", "epoch=1-step=90.ckpt", "epoch=2-step=135.ckpt"]
    models = _save_all(tmp_path / "ck", names, lambda k, m: _lightning(k, m, k, 45 * (k + 1)))
    s = ingest(tmp_path / "ck", tmp_path / "run", epoch_from="auto")
    assert list(s.epochs) == [0, 1, 2] and s.metadata["epoch_from"] == "auto"
    for t, m in enumerate(models):
        np.testing.assert_array_equal(s.graph(t).blocks[0][0], m[0].weight.detach().numpy().T)
    assert [e for e, _ in _epochs(tmp_path / "ck", "step")] == [45, 90, 135]
    assert [e for e, _ in _epochs(tmp_path / "ck", "checkpoint")] == [0, 1, 2]
    # Lightning's last.ckpt repeats the last epoch: refused, naming both files
    torch.save(_lightning(0, models[-1], 2, 135), tmp_path / "ck" / "last.ckpt")
    with pytest.raises(InputError, match=r"epoch=2-step=135.ckpt and .*last.ckpt both map to epoch 2"):
        find_checkpoints(tmp_path / "ck")
    # checkpoints saved within one epoch (every_n_train_steps): one epoch, two files -> use the step
    (tmp_path / "ck" / "last.ckpt").unlink()
    torch.save(_lightning(0, models[0], 2, 160), tmp_path / "ck" / "epoch=2-step=160.ckpt")
    with pytest.raises(InputError, match="both map to epoch 2: remove one, or use --epoch-from step"):
        find_checkpoints(tmp_path / "ck")
    assert [e for e, _ in _epochs(tmp_path / "ck", "step")] == [45, 90, 135, 160]


def test_recorded_epoch_wins_over_nameless_files_and_disagreement_is_refused(tmp_path):
    def payload(k, m):
        opt = torch.optim.Adam(m.parameters())
        return {"epoch": [7, 3][k], "model_state_dict": m.state_dict(), "optimizer_state_dict": opt.state_dict(),
                "best_acc": 0.93, "best_acc1": torch.tensor(93.0), "arch": "mlp"}

    models = _save_all(tmp_path / "ck", ["best.pt", "latest.pt"], payload)
    s = ingest(tmp_path / "ck", tmp_path / "run")
    assert list(s.epochs) == [3, 7]
    np.testing.assert_array_equal(s.graph(0).blocks[1][0], from_module(models[1]).blocks[1][0])
    with pytest.raises(InputError, match="records no epoch"):
        _save_all(tmp_path / "n", ["epoch_1.pt"])
        find_checkpoints(tmp_path / "n", "checkpoint")
    # the name says 3, the checkpoint 2 (an off-by-one convention): auto refuses, either source can be chosen
    _save_all(tmp_path / "d", ["epoch3.pt"], lambda k, m: {"epoch": 2, "state_dict": m.state_dict()})
    with pytest.raises(InputError, match="records epoch 2 but its name says 3: choose with --epoch-from"):
        find_checkpoints(tmp_path / "d")
    assert _epochs(tmp_path / "d", "checkpoint") == [(2, "epoch3.pt")]
    assert _epochs(tmp_path / "d", "name") == [(3, "epoch3.pt")]


def _hf(folder, step, epoch, model, fmt="safetensors"):
    from safetensors.torch import save_file

    d = folder / f"checkpoint-{step}"
    d.mkdir(parents=True)
    if fmt == "safetensors":
        save_file(model.state_dict(), str(d / "model.safetensors"))
    else:
        torch.save(model.state_dict(), d / "pytorch_model.bin")
    if epoch is not None:
        (d / "trainer_state.json").write_text(json.dumps({"epoch": epoch, "global_step": step}))
    (d / "optimizer.pt").write_bytes(b"")  # not a weight file: never read


def test_hugging_face_checkpoint_folders(tmp_path):
    m0, m1 = _mlp(0), _mlp(1)
    _hf(tmp_path / "hf", 1000, 2.0, m1, fmt="bin")
    _hf(tmp_path / "hf", 500, 1.0, m0)
    s = ingest(tmp_path / "hf", tmp_path / "run")
    assert list(s.epochs) == [1, 2]
    np.testing.assert_array_equal(s.graph(1).blocks[0][0], m1[0].weight.detach().numpy().T)
    assert [e for e, _ in _epochs(tmp_path / "hf", "step")] == [500, 1000]
    # saved every N steps: a fractional epoch is no entry number
    _hf(tmp_path / "mid", 250, 0.53, m0)
    with pytest.raises(InputError, match=r"records epoch 0.53 \(saved mid-epoch\): use --epoch-from step"):
        find_checkpoints(tmp_path / "mid")
    # no trainer_state.json: the folder names a step, not an epoch
    _hf(tmp_path / "bare", 40, None, m0)
    with pytest.raises(InputError, match="gives a training step but no epoch: use --epoch-from step"):
        find_checkpoints(tmp_path / "bare")
    assert _epochs(tmp_path / "bare", "step") == [(40, "checkpoint-40")]


def test_safetensors_metadata_epoch(tmp_path):
    from safetensors.torch import save_file

    (tmp_path / "st").mkdir()
    for k, name in enumerate(["b.safetensors", "a.safetensors"]):
        save_file(_mlp(k).state_dict(), str(tmp_path / "st" / name), metadata={"epoch": str(5 * k + 1)})
    assert _epochs(tmp_path / "st") == [(1, "b.safetensors"), (6, "a.safetensors")]


def test_order_is_natural(tmp_path):
    _save_all(tmp_path / "ck", ["final.pt", "ck10.pt", "ck2.pt"])
    assert _epochs(tmp_path / "ck", "order") == [(0, "ck2.pt"), (1, "ck10.pt"), (2, "final.pt")]
    with pytest.raises(InputError, match="final.pt.*no epoch number.*--epoch-from order"):
        find_checkpoints(tmp_path / "ck")


@pytest.mark.parametrize("names,match", [
    (["run_3_7.pt", "run_4_8.pt"], "holds 2 numbers and no 'epoch' label"),
    (["ep1.pt", "epoch_1.pt"], "both map to epoch 1"),
    (["model.pt"], "no epoch number"),
])
def test_ambiguous_names_are_refused(tmp_path, names, match):
    _save_all(tmp_path / "ck", names)
    with pytest.raises(InputError, match=match):
        ingest(tmp_path / "ck", tmp_path / "run")
    assert sorted(os.listdir(tmp_path)) == ["ck"]


def test_name_numbers_labels():
    got, _ = name_numbers(["epoch=3-step=45", "global_step120", "iter_8"])
    assert got == {"epoch=3-step=45": (3, 45), "global_step120": (None, 120), "iter_8": (None, 8)}
    with pytest.raises(InputError, match="unknown --epoch-from 'last'"):
        assign_epochs([], "last")


def test_nan_weights_name_the_checkpoint(tmp_path):
    def payload(k, m):
        sd = m.state_dict()
        if k == 1:
            sd["2.weight"][0, 0] = float("nan")
        return sd

    _save_all(tmp_path / "ck", ["epoch_0.pt", "epoch_1.pt"], payload)
    with pytest.raises(InputError, match=r"checkpoint .*epoch_1.pt: weights\[1\] holds NaN"):
        ingest(tmp_path / "ck", tmp_path / "run")
    assert sorted(os.listdir(tmp_path)) == ["ck"]


def test_extra_scalars_beside_the_weights_are_skipped(tmp_path):
    from deepcnt.bindings.torch import load_checkpoint, state_dict_arrays

    m = _mlp(0)
    flat = dict(m.state_dict(), best_acc=0.91, epoch=4, tag="mlp", best_loss=torch.tensor(0.2))
    torch.save(flat, tmp_path / "flat.pt")
    ws, _, names = state_dict_arrays(load_checkpoint(tmp_path / "flat.pt"))
    assert names == ["input", "0", "2"] and ws[1].shape == (5, 3)
    # the only dict of weights under an unknown key, beside an optimiser's state
    torch.save({"ema": m.state_dict(), "opt": torch.optim.SGD(m.parameters(), lr=1).state_dict(), "acc": 0.5},
               tmp_path / "other.pt")
    assert state_dict_arrays(load_checkpoint(tmp_path / "other.pt"))[2] == ["input", "0", "2"]
    with pytest.raises(InputError, match="holds no weights"):
        state_dict_arrays({"epoch": 3, "acc": 0.5})


def test_cli_epoch_from(tmp_path, capsys):
    from deepcnt.bindings.cli import main

    names = ["epoch=0-step=45.ckpt", "epoch=1-step=90.ckpt"]
    _save_all(tmp_path / "ck", names, lambda k, m: _lightning(k, m, k, 45 * (k + 1)))
    assert main(["ingest", str(tmp_path / "ck"), "--out", str(tmp_path / "run"), "--epoch-from", "step",
                 "--quiet"]) == 0
    assert "ingested as steps 45..90" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["ingest", str(tmp_path / "ck"), "--out", str(tmp_path / "r2"), "--epoch-from", "bogus"])
    assert "invalid choice: 'bogus'" in capsys.readouterr().err
    torch.save(_lightning(0, _mlp(0), 1, 90), tmp_path / "ck" / "last.ckpt")
    assert main(["ingest", str(tmp_path / "ck"), "--out", str(tmp_path / "r3"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "both map to epoch 1" in err and "Traceback" not in err


def test_recorder_records_conv_models_as_from_module_reads_them(tmp_path):
    from deepcnt.bindings.torch import Recorder
    from deepcnt.runs.store import EpochStore

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 5), nn.Softmax(-1))
    graphs = []
    with Recorder(tmp_path / "run", model, input_shape=(1, 8, 8)) as rec:
        for epoch in range(2):
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.1)
            rec.save(epoch, loss=1.0 - epoch)
            graphs.append(from_module(model, input_shape=(1, 8, 8)))
    s = EpochStore.open(tmp_path / "run")
    assert s.sizes == graphs[0].sizes == (64, 192, 48, 5) and list(s.epochs) == [0, 1]
    for t, g in enumerate(graphs):
        h = s.graph(t)
        np.testing.assert_array_equal(np.asarray(h.blocks[0].kernel), np.asarray(g.blocks[0].kernel))
        assert type(h.blocks[1]).__name__ == "PoolBlock"
        np.testing.assert_array_equal(h.blocks[2], g.blocks[2])
        for l in range(3):
            np.testing.assert_allclose(h.biases[l], g.biases[l], rtol=1e-7)
    with pytest.raises(InputError, match="needs input_shape"):
        Recorder(tmp_path / "other", model)
    other = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, stride=1, dilation=1), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(48, 5))
    with pytest.raises(InputError, match="other convolution geometry"):
        Recorder(tmp_path / "run", other, input_shape=(1, 8, 8))


def test_from_module_graphs_do_not_follow_later_training():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    dense = nn.Sequential(nn.Linear(3, 2))
    g, h = from_module(model, input_shape=(1, 5, 5)), from_module(dense)
    kept = [np.array(g.blocks[0].kernel), np.array(g.biases[1]), np.array(h.biases[0])]
    with torch.no_grad():
        for p in list(model.parameters()) + list(dense.parameters()):
            p.add_(1.0)
    for a, b in zip(kept, [g.blocks[0].kernel, g.biases[1], h.biases[0]]):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_torch_without_a_safe_weights_only_is_refused():
    from deepcnt.bindings.torch import _check_safe_torch

    for ok in ("2.6.0", "2.13.0+cpu", "3.0.0a0+git1234"):
        _check_safe_torch(ok)
    with pytest.raises(InputError, match=r"torch 2.5.1\+cu121 .*CVE-2025-32434\): upgrade to torch>=2.6"):
        _check_safe_torch("2.5.1+cu121")
