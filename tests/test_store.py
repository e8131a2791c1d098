"""EpochStore: bit-exact round trip, one-epoch reads, atomic appends under SIGKILL, readers beside a writer."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from deepcnt.errors import InputError
from deepcnt.runs.store import EpochStore


def _entry(rng, sizes, E, dtype=np.float32):
    ws = [rng.normal(size=(E, a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=(E, b)).astype(dtype) for b in sizes[1:]]
    return ws, bs


@pytest.mark.parametrize("E,dtype,biases", [(1, np.float32, True), (3, np.float64, True), (2, np.float32, False)])
def test_round_trip_bit_exact(tmp_path, E, dtype, biases):
    rng = np.random.default_rng(E)
    sizes = (5, 4, 3, 2)
    s = EpochStore.create(tmp_path / "run", sizes, n_members=E, biases=biases, dtype=np.dtype(dtype).name,
                          metadata={"preset": "unit", "seed": [1, 2]})
    saved = []
    for t, epoch in enumerate([0, 1, 5, 40]):
        ws, bs = _entry(rng, sizes, E, dtype)
        s.append(epoch, ws, bs if biases else None, scalars={"loss": rng.random(E), "acc": 0.5 + t})
        saved.append((ws, bs))
    s.close()
    r = EpochStore.open(tmp_path / "run")
    assert len(r) == 4 and list(r.epochs) == [0, 1, 5, 40]
    assert r.metadata == {"preset": "unit", "seed": [1, 2]}
    assert r.meta["versions"]["numpy"] == np.__version__ and "torch" in r.meta["versions"]
    for t in (2, 0, 3, 1):  # any order
        ws, bs = r.read_arrays(t)
        for l in range(3):
            assert ws[l].dtype == dtype and ws[l].tobytes() == saved[t][0][l].tobytes()
            if biases:
                assert bs[l].tobytes() == saved[t][1][l].tobytes()
        for m in range(E):
            g = r.graph(t, member=m)
            assert not g.stacked and g.sizes == sizes
            for l in range(3):
                assert np.array_equal(g.blocks[l][0], saved[t][0][l][m])
            assert (g.biases is not None) == biases
    sc = r.scalars()
    assert sc["acc"].tolist() == [0.5, 1.5, 2.5, 3.5] and sc["loss"].shape == (4, E)
    df = r.scalars_frame()
    assert len(df) == 4 * E and set(df.columns) >= {"epoch", "member", "loss", "acc"}


@pytest.mark.parametrize("compress", [False, True])
def test_zarr_reads_the_same_arrays(tmp_path, compress):
    """Raw chunk files follow zarr's layout: zarr reads what the store wrote (and the store reads zarr's)."""
    import zarr

    rng = np.random.default_rng(5)
    sizes = (4, 3, 2)
    s = EpochStore.create(tmp_path / "r", sizes, n_members=2, compress=compress)
    assert s._raw is not compress
    saved = [_entry(rng, sizes, 2) for _ in range(3)]
    for e, (ws, bs) in enumerate(saved):
        s.append(e, ws, bs)
    group = zarr.open_group(tmp_path / "r" / "arrays.zarr", mode="r")
    for e, (ws, bs) in enumerate(saved):
        assert np.array_equal(group["W1"][e], ws[1])
        assert np.array_equal(group["b"][e], np.concatenate(bs, axis=1))
        got_w, got_b = s.read_arrays(e)
        assert np.array_equal(got_w[0], ws[0]) and np.array_equal(got_b[1], bs[1])


def test_iterate_graphs_and_stacks(tmp_path):
    rng = np.random.default_rng(1)
    sizes = (3, 4, 2)
    s = EpochStore.create(tmp_path / "r", sizes, n_members=2)
    for epoch in range(5):
        s.append(epoch, *_entry(rng, sizes, 2))
    graphs = list(s.graphs(member=1))
    assert len(graphs) == 5
    members = s.graph(3)  # member=None on an ensemble: the stack of members
    assert members.stacked and members.n_epochs == 2
    assert np.array_equal(members.blocks[0][1], graphs[3].blocks[0][0])
    stacks = list(s.stacks(2, member=1))
    assert [st.n_epochs for st in stacks] == [2, 2, 1]
    whole = s.stack(member=1)
    for t in range(5):
        for l in range(2):
            assert np.array_equal(whole.blocks[l][t], graphs[t].blocks[l][0])
            assert np.array_equal(whole.biases[l][t], graphs[t].biases[l][0])
    assert s.index_of(4) == 4


def test_one_epoch_read_touches_only_that_epoch(tmp_path):
    """Deleting every other entry's chunks leaves entry 2 readable; the damaged ones fail with one clear line."""
    rng = np.random.default_rng(2)
    sizes = (6, 5, 4)
    s = EpochStore.create(tmp_path / "r", sizes)
    saved = []
    for epoch in range(4):
        ws, bs = _entry(rng, sizes, 1)
        s.append(epoch, ws, bs)
        saved.append(ws)
    s.close()
    for name in ("W0", "W1", "b"):
        for t in (0, 1, 3):
            for f in (tmp_path / "r" / "arrays.zarr" / name).glob(f"c.{t}.*"):
                f.unlink()
    r = EpochStore.open(tmp_path / "r")
    assert np.array_equal(r.graph(2).blocks[1][0], saved[2][1][0])
    with pytest.raises(InputError, match="corrupt: entry 1"):
        r.graph(1)


_KILL_SCRIPT = textwrap.dedent("""
    import sys, time, numpy as np
    import deepcnt.runs.store as st
    path, n_ok = sys.argv[1], int(sys.argv[2])
    sizes = (40, 30, 20)
    s = st.EpochStore.open(path, "a") if (st.Path(path) / "meta.json").exists() else \\
        st.EpochStore.create(path, sizes)
    real = st._append_line
    def slow_commit(fd, data):
        if len(s) >= n_ok:
            real(fd, data[:9])      # even a partial line of the log is on disk
            print("ARRAYS-WRITTEN", flush=True)
            time.sleep(60)          # killed here: the arrays of the next entry are on disk, its line is not
        real(fd, data)
    st._append_line = slow_commit
    start = len(s)
    for epoch in range(start, 100):
        rng = np.random.default_rng(epoch)
        ws = [rng.normal(size=(a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
        bs = [rng.normal(size=b).astype(np.float32) for b in sizes[1:]]
        s.append(epoch, ws, bs, scalars={"loss": float(epoch)}, state={"step": np.array(epoch)})
        print("COMMITTED", epoch, flush=True)
""")


def _run_until(tmp_path, n_ok):
    script = tmp_path / "writer.py"
    script.write_text(_KILL_SCRIPT)
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "run"), str(n_ok)],
                         stdout=subprocess.PIPE, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line.strip())
        if line.startswith("ARRAYS-WRITTEN"):
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    return lines


def _expected(epoch, sizes=(40, 30, 20)):
    rng = np.random.default_rng(epoch)
    return [rng.normal(size=(a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]


def test_sigkill_mid_append_leaves_only_complete_epochs_and_resumes(tmp_path):
    lines = _run_until(tmp_path, 3)
    assert lines[-1] == "ARRAYS-WRITTEN" and "COMMITTED 2" in lines
    # the half-written slot 3 and a partial log line exist on disk but are not visible
    assert (tmp_path / "run" / "arrays.zarr" / "W0" / "c.3.0.0.0").exists()
    assert not (tmp_path / "run" / "index.jsonl").read_bytes().endswith(b"\n")
    r = EpochStore.open(tmp_path / "run")
    assert list(r.epochs) == [0, 1, 2]
    for t in range(3):
        assert np.array_equal(r.graph(t).blocks[0][0], _expected(t)[0])
    pos, epoch, state = r.last_state()
    assert (pos, epoch, int(state["step"])) == (2, 2, 2)
    # the stale lock of the killed writer is taken over; the writer resumes after epoch 2
    lines = _run_until(tmp_path, 6)
    assert lines[0] == "COMMITTED 3"
    r.refresh()
    assert list(r.epochs) == list(range(6))
    assert np.array_equal(r.graph(3).blocks[1][0], _expected(3)[1])
    # the killed writer had saved the resume state of the uncommitted entry 6: a new writer removes it
    assert sorted(os.listdir(tmp_path / "run" / "state")) == ["5.npz", "6.npz"]
    EpochStore.open(tmp_path / "run", "a").close()
    assert sorted(os.listdir(tmp_path / "run" / "state")) == ["5.npz"]


def test_readers_beside_a_writer(tmp_path):
    sizes = (50, 40, 30)
    w = EpochStore.create(tmp_path / "r", sizes)
    w.append(0, _expected(0, sizes), [np.zeros(40), np.zeros(30)])
    reader_code = textwrap.dedent(f"""
        import numpy as np, time
        from deepcnt.runs.store import EpochStore
        r = EpochStore.open({str(tmp_path / 'r')!r})
        seen = 0
        t0 = time.time()
        while seen < 8 and time.time() - t0 < 60:
            r.refresh()
            for t in range(len(r)):
                g = r.graph(t)
                rng = np.random.default_rng(int(r.epochs[t]))
                assert np.array_equal(g.blocks[0][0], rng.normal(size=({sizes[0]}, {sizes[1]})).astype(np.float32))
            seen = len(r)
        print(seen)
    """)
    readers = [subprocess.Popen([sys.executable, "-c", reader_code], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    reader_in_process = EpochStore.open(tmp_path / "r")
    for epoch in range(1, 8):
        w.append(epoch, _expected(epoch, sizes), [np.zeros(40), np.zeros(30)])
        time.sleep(0.02)
    for p in readers:
        out, _ = p.communicate(timeout=90)
        assert p.returncode == 0 and out.strip() == "8"
    assert len(reader_in_process) == 1 and len(reader_in_process.refresh()) == 8


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        EpochStore.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="metadata .* is missing"):
        EpochStore.open(tmp_path / "empty")
    sizes = (3, 2)
    s = EpochStore.create(tmp_path / "r", sizes, n_members=2)
    with pytest.raises(InputError, match="exists already"):
        EpochStore.create(tmp_path / "r", sizes)
    with pytest.raises(InputError, match="being written by process"):
        EpochStore.open(tmp_path / "r", "a")
    ok_w, ok_b = [np.ones((2, 3, 2))], [np.ones((2, 2))]
    with pytest.raises(InputError, match=r"shape \(3, 2\): expected \(2, 3, 2\)"):
        s.append(0, [np.ones((3, 2))], ok_b)
    with pytest.raises(InputError, match="NaN"):
        s.append(0, [np.full((2, 3, 2), np.nan)], ok_b)
    with pytest.raises(InputError, match="keeps biases"):
        s.append(0, ok_w)
    with pytest.raises(InputError, match="one per member"):
        s.append(0, ok_w, ok_b, scalars={"loss": [1, 2, 3]})
    s.append(0, ok_w, ok_b)
    with pytest.raises(InputError, match="not after the last stored epoch 0"):
        s.append(0, ok_w, ok_b)
    with pytest.raises(InputError, match="entry 5 does not exist"):
        s.graph(5)
    with pytest.raises(InputError, match="member 2 does not exist"):
        s.graph(0, member=2)
    r = EpochStore.open(tmp_path / "r")
    with pytest.raises(InputError, match="read-only"):
        r.append(1, ok_w, ok_b)
    with pytest.raises(InputError, match="unknown mode"):
        EpochStore.open(tmp_path / "r", "w")
    with pytest.raises(InputError, match="at least two layer sizes"):
        EpochStore.create(tmp_path / "bad", [3])
    # a truncated chunk and a corrupt index
    chunk = tmp_path / "r" / "arrays.zarr" / "W0" / "c.0.0.0.0"
    chunk.write_bytes(chunk.read_bytes()[:7])
    with pytest.raises(InputError, match="corrupt or truncated"):
        r.graph(0)
    with open(tmp_path / "r" / "index.jsonl", "ab") as f:
        f.write(b"{not json}\n")
    with pytest.raises(InputError, match="log .* is corrupt at line 2"):
        EpochStore.open(tmp_path / "r")
    (tmp_path / "r" / "meta.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a deepcnt epoch store"):
        EpochStore.open(tmp_path / "r")
