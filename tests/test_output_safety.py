"""analyze's output directory: deletes only what it wrote, a failed start leaves nothing, one writer at a time."""
import os
import shutil
import socket

import numpy as np
import pytest

import deepcnt
from deepcnt.model.conv import ConvBlock
from deepcnt.runs.pipeline import analyze
from deepcnt.runs.store import EpochStore

from runs import make_run


@pytest.fixture()
def run(tmp_path):
    return make_run(tmp_path / "run", n_epochs=3)


def _files(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_overwrite_deletes_only_an_analysis(run, tmp_path):
    victim = tmp_path / "victim"
    shutil.copytree(run, victim)
    before = _files(victim)
    for out in (victim, victim / "arrays.zarr" / ".."):
        with pytest.raises(deepcnt.InputError, match="is the run itself"):
            analyze(victim, metrics=["degree"], out=out, overwrite=True)
    assert _files(victim) == before
    other_run = make_run(tmp_path / "other", n_epochs=1)
    before = _files(other_run)
    with pytest.raises(deepcnt.InputError, match="is not a deepcnt analysis"):
        analyze(run, metrics=["degree"], out=other_run, overwrite=True)
    with pytest.raises(deepcnt.InputError, match="is not a deepcnt analysis"):
        analyze(run, metrics=["degree"], out=other_run)
    assert _files(other_run) == before
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(deepcnt.InputError, match="refusing to delete"):
        analyze(run, metrics=["degree"], out=folder, overwrite=True)
    assert _files(folder) == ["thesis.tex"]
    # an analysis is overwritten, and what else lives in its directory stays
    out = tmp_path / "a"
    analyze(run, metrics=["degree"], out=out)
    (out / "notes.txt").write_text("mine")
    (out / "nodes" / "keep.csv").write_text("mine")
    a = analyze(run, metrics=["strength"], out=out, overwrite=True)
    assert a.metadata()["metrics"] == ["strength"] and "strength_abs" in a.nodes()
    assert (out / "notes.txt").read_text() == "mine" and (out / "nodes" / "keep.csv").exists()
    assert not (out / "write.lock").exists()


def test_a_legacy_analysis_without_the_marker_is_still_recognised(run, tmp_path):
    import json

    out = tmp_path / "a"
    analyze(run, metrics=["degree"], out=out)
    meta = json.loads((out / "meta.json").read_text())
    del meta["format"]
    (out / "meta.json").write_text(json.dumps(meta))
    assert analyze(run, metrics=["degree"], out=out).tasks_run == 0
    assert analyze(run, metrics=["strength"], out=out, overwrite=True).tasks_run > 0


def _conv_run(path):
    rng = np.random.default_rng(0)
    s = EpochStore.create(path, (36, 72, 3), n_members=1, biases=False,
                          blocks=[ConvBlock(np.zeros((2, 1, 3, 3), np.float32), (1, 6, 6), padding=1), None])
    for e in range(2):
        s.append(e, [rng.normal(size=(2, 1, 3, 3)).astype(np.float32), rng.normal(size=(72, 3)).astype(np.float32)])
    s.close()
    return path


def test_a_failed_start_leaves_nothing(run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with pytest.raises(deepcnt.InputError, match="leaves no edge"):
        analyze(run, metrics=["degree"], threshold=1e6, out=out)
    assert not out.exists()
    assert analyze(run, metrics=["degree"], threshold=0.1, out=out).tasks_run > 0  # the corrected command works
    # the default output inside the run: nothing left there either
    with pytest.raises(deepcnt.InputError, match="leaves no edge"):
        analyze(run, metrics=["degree"], threshold=1e6)
    assert not (run / "analysis").exists()
    conv = _conv_run(tmp_path / "conv")
    with pytest.raises(deepcnt.InputError, match="motifs needs explicit edges"):
        analyze(conv, metrics=["motifs"])
    assert not (conv / "analysis").exists()
    # a truncated chunk part-way: the parts written before it go too
    chunk = run / "arrays.zarr" / "W1" / "c.2.0.0.0"
    chunk.write_bytes(chunk.read_bytes()[:-4])
    with pytest.raises(deepcnt.InputError, match="entry 2"):
        analyze(run, metrics=["degree"], batch=1, out=tmp_path / "trunc")
    assert not (tmp_path / "trunc").exists()
    # no GPU: refused before anything is written
    from deepcnt import backend

    monkeypatch.setattr(backend, "_simulated", lambda: False)
    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    monkeypatch.setattr(backend, "_CACHE", {})
    with pytest.raises(deepcnt.DeviceError, match="no CUDA device"):
        analyze(run, device="gpu", out=tmp_path / "gpu")
    assert not (tmp_path / "gpu").exists()


def test_a_second_analyze_on_one_output_is_refused(run, tmp_path):
    out = tmp_path / "out"
    analyze(run, metrics=["degree"], out=out)
    for p in (out / "epochs").glob("part-m0001-*"):
        p.unlink()  # member 1 left to do
    # another live process holds the output, with a part in flight
    (out / "write.lock").write_text(f"{socket.gethostname()} {os.getppid()}")
    inflight = out / "nodes" / ".part-m0001-i0000000-0000002.parquet.123.tmp"
    inflight.write_bytes(b"in flight")
    for overwrite in (False, True):
        with pytest.raises(deepcnt.InputError, match="being written by another analyze"):
            analyze(run, metrics=["degree"], out=out, overwrite=overwrite)
    assert inflight.exists() and len(list((out / "nodes").glob("part-*"))) == 2
    # a dead writer's lock and temporaries are taken over and cleaned
    (out / "write.lock").write_text(f"{socket.gethostname()} {2**22 + 12345}")
    assert analyze(run, metrics=["degree"], out=out).tasks_run == 1
    assert not inflight.exists() and not (out / "write.lock").exists()


@pytest.mark.parametrize("preset", ["shine-mlp", "lamalfa-cnn"])
def test_train_with_a_bad_schedule_creates_no_run(tmp_path, preset):
    pytest.importorskip("torch")
    from deepcnt.bindings.presets import train

    for schedule in ("bogus", "every:0", "log:0", "every:x", ["a"], [1.7]):
        with pytest.raises(deepcnt.InputError, match="schedule"):
            train(preset, tmp_path / "run", epochs=2, schedule=schedule, n_train=50)
        assert not (tmp_path / "run").exists()


def test_pandas_reads_every_column_of_an_incremental_analysis(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    s = EpochStore.create(tmp_path / "run", (4, 3, 2), n_members=1, biases=False)

    def append(e, **scalars):
        s.append(e, [rng.normal(size=(4, 3)), rng.normal(size=(3, 2))], scalars=scalars)

    append(0, loss=1.0)
    append(1, loss=0.5)
    out = analyze(tmp_path / "run", metrics=["degree"], batch=1).out
    append(2, loss=0.25, val_acc=0.5)  # a scalar first recorded later (and a training run extended)
    append(3, loss=0.125, val_acc=0.75)
    a = analyze(tmp_path / "run", metrics=["degree"], batch=1)
    assert a.tasks_run == 2
    s.close()
    epochs = pd.read_parquet(out / "epochs")  # the README's way
    assert {"loss", "val_acc", "n_edges"} <= set(epochs.columns) and len(epochs) == 4
    epochs = epochs.sort_values("entry").reset_index(drop=True)
    np.testing.assert_array_equal(epochs.val_acc.to_numpy(), [np.nan, np.nan, 0.5, 0.75])
    pd.testing.assert_frame_equal(epochs, a.epochs()[list(epochs.columns)])
    nodes = pd.read_parquet(out / "nodes")
    assert len(nodes) == 4 * 9 and "degree" in nodes


def test_a_full_or_read_only_output_is_one_line_and_leaves_no_temporary(run, tmp_path, monkeypatch, capsys):
    import errno
    from pathlib import Path

    import pandas as pd

    from deepcnt.bindings.cli import main
    from deepcnt.errors import StorageError

    real = pd.DataFrame.to_parquet

    def full_disk(self, path, *a, **k):
        real(self, path, *a, **k)  # the temporary exists, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    out = tmp_path / "full"
    with pytest.raises(StorageError, match="No space left on device"):
        analyze(run, metrics=["degree"], out=out)
    assert not out.exists()
    # resuming into an existing analysis: its parts stay, no temporary is left
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    analyze(run, metrics=["degree"], out=out, members=[0])
    for p in (out / "epochs").glob("part-*"):
        p.unlink()
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    assert main(["analyze", str(run), "--metrics", "degree", "--members", "0", "--out", str(out), "--quiet",
                 "--threshold", "0"]) == 2  # analyze()'s default, every non-zero weight
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
    assert [p.name for p in out.rglob(".*")] == [] and len(list((out / "nodes").glob("part-*"))) == 1
    # a directory that cannot be created (read-only parent)
    real_mkdir = Path.mkdir

    def read_only(self, *a, **k):
        if self.name == "ro":
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(StorageError, match="cannot write the analysis to .*ro: Read-only file system"):
        analyze(run, metrics=["degree"], out=tmp_path / "ro")


def test_a_killed_ingests_temporary_is_removed_by_the_next_ingest(tmp_path):
    torch = pytest.importorskip("torch")
    from deepcnt.bindings.torch import ingest

    ck = tmp_path / "ck"
    ck.mkdir()
    for e in range(2):
        torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3)).state_dict(), ck / f"epoch_{e}.pt")
    runs = tmp_path / "runs"
    runs.mkdir()
    host = socket.gethostname()
    dead = runs / f".big.ingest-{host}-{2**22 + 12345}.tmp"  # a killed ingest's (no such process)
    live = runs / f".other.ingest-{host}-{os.getppid()}.tmp"  # another ingest still at work
    old = runs / ".older.ingest-tmp"  # left by a version without pids
    for d in (dead, live, old):
        d.mkdir()
        (d / "arrays.bin").write_bytes(b"\0" * 1000)
    seen = []
    ingest(ck, runs / "new", progress=lambda k, n: seen.append(sorted(p.name for p in runs.iterdir())))
    assert seen[0] == sorted([live.name, f".new.ingest-{host}-{os.getpid()}.tmp"])
    assert sorted(p.name for p in runs.iterdir()) == [live.name, "new"]
