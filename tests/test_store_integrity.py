"""The epoch store's door and its chunks' checksums: bad epoch numbers refused, altered bytes detected."""
import json

import numpy as np
import pytest

import deepcnt
from deepcnt.runs.pipeline import analyze
from deepcnt.runs.store import EpochStore

from runs import make_run


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40  # same size, one bit of one byte
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("compress", [False, True])
def test_checksums_round_trip(tmp_path, compress):
    rng = np.random.default_rng(1)
    s = EpochStore.create(tmp_path / "run", (5, 4, 3), n_members=2, compress=compress)
    ws = [rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 4, 3))]
    bs = [rng.normal(size=(2, 4)), rng.normal(size=(2, 3))]
    s.append(0, ws, biases=bs)
    s.close()
    s = EpochStore.open(tmp_path / "run")
    assert set(s._entries[0]["crc"]) == {"W0", "W1", "b"} and len(s._entries[0]["crc"]["W0"]) == 2
    got, _ = s.read_arrays(0)
    np.testing.assert_array_equal(got[1], np.float32(ws[1]))
    np.testing.assert_array_equal(s.stack([0], member=1).blocks[0][0], np.float32(ws[0][1]))


def test_a_flipped_byte_is_detected_naming_the_entry(tmp_path):
    run = make_run(tmp_path / "run", n_epochs=3)  # 2 members, 6-5-4
    chunk = run / "arrays.zarr" / "W1" / "c.1.0.0.0"
    _flip(chunk, 5 * 4 * 4 + 7)  # member 1's part of W1, entry 1
    s = EpochStore.open(run)
    msg = r"array W1 of entry 1 \(epoch 10\), member 1, fails its checksum"
    for read in (lambda: s.graph(1), lambda: s.graph(1, member=1), lambda: s.read_arrays(1),
                 lambda: s.stack([0, 1], member=1)):
        with pytest.raises(deepcnt.InputError, match=msg):
            read()
    s.graph(1, member=0)  # the other member's bytes are intact (a member is read and checked alone)
    s.stack([0, 1], member=0)
    _flip(run / "arrays.zarr" / "b" / "c.2.0.0", 3)
    with pytest.raises(deepcnt.InputError, match=r"array b of entry 2 \(epoch 20\), member 0"):
        s.graph(2, member=0)
    with pytest.raises(deepcnt.InputError, match="entry [12] .* fails its checksum"):
        analyze(run, metrics=["degree"], batch=1, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_a_store_without_checksums_is_still_read(tmp_path):
    run = make_run(tmp_path / "run", n_epochs=2)
    log = run / "index.jsonl"
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    for e in lines:
        del e["crc"]
    log.write_text("".join(json.dumps(e) + "\n" for e in lines))
    _flip(run / "arrays.zarr" / "W0" / "c.1.0.0.0", 0)  # not detectable without checksums: read as it is
    s = EpochStore.open(run)
    assert s.graph(1, member=0).blocks[0].shape[-2:] == (6, 5)
    assert analyze(run, metrics=["degree"], out=tmp_path / "a").tasks_run == 2


def test_epochs_are_integers_in_int64_at_the_door(tmp_path):
    s = EpochStore.create(tmp_path / "run", (3, 2), n_members=1, biases=False)
    w = [np.ones((3, 2))]
    for bad, msg in [(1.7, "not an integer"), (2.0, "not an integer"), ("3", "not an integer"),
                     (True, "is a bool"), (np.bool_(False), "is a bool"), (2**70, "64-bit"), (-2**63 - 1, "64-bit")]:
        with pytest.raises(deepcnt.InputError, match=msg):
            s.append(bad, w)
    assert len(s) == 0
    s.append(np.int64(3), w)
    s.append(2**63 - 1, w)
    s.close()
    assert EpochStore.open(tmp_path / "run").epochs.tolist() == [3, 2**63 - 1]
    # a log holding an epoch no reader can hold is refused in one line, not an OverflowError
    log = tmp_path / "run" / "index.jsonl"
    log.write_text(log.read_text().replace(str(2**63 - 1), str(2**70)))
    with pytest.raises(deepcnt.InputError, match="corrupt at line 2"):
        EpochStore.open(tmp_path / "run")


def test_recorder_save_checks_the_epoch(tmp_path):
    torch = pytest.importorskip("torch")
    from deepcnt.bindings.torch import Recorder

    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with Recorder(tmp_path / "run", model) as rec:
        for bad in (1.7, 2**70, True):
            with pytest.raises(deepcnt.InputError, match="epoch"):
                rec.save(bad)
        rec.save(torch.tensor(1))
        rec.save(np.int32(2))
    assert EpochStore.open(tmp_path / "run").epochs.tolist() == [1, 2]


def test_a_failed_create_leaves_no_directory(tmp_path, monkeypatch):
    import errno
    import os

    from deepcnt.runs import store as store

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store, "_atomic_write", full_disk)  # meta.json, the last file create writes
    with pytest.raises(OSError, match="No space left"):
        EpochStore.create(tmp_path / "run", (3, 2))
    assert list(tmp_path.iterdir()) == []  # before: a directory without meta.json that create then refused


def test_create_overwrite_replaces_only_a_run(tmp_path):
    import os
    import socket

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(deepcnt.InputError, match="not a deepcnt epoch store: refusing to delete"):
        EpochStore.create(folder, (3, 2), overwrite=True)
    assert (folder / "thesis.tex").read_text() == "precious"
    run = make_run(tmp_path / "run", n_epochs=1)
    (run / "write.lock").write_text(f"{socket.gethostname()} {os.getppid()}")  # a live writer
    with pytest.raises(deepcnt.InputError, match="cannot be overwritten now"):
        EpochStore.create(run, (3, 2), overwrite=True)
    (run / "write.lock").unlink()
    s = EpochStore.create(run, (3, 2), overwrite=True)
    assert len(s) == 0 and s.sizes == (3, 2)
    s.close()
    (tmp_path / "empty").mkdir()
    EpochStore.create(tmp_path / "empty", (3, 2), overwrite=True).close()
