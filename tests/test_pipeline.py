"""analyze: equals per-epoch metric calls; resumes after SIGKILL; Dask LocalCluster gives identical tables."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest

import deepcnt
from deepcnt.runs.pipeline import analyze
from deepcnt.runs.store import EpochStore

from runs import SIZES, make_run


@pytest.fixture()
def run(tmp_path):
    return make_run(tmp_path / "run")


def test_tables_equal_per_epoch_metric_calls(run):
    a = analyze(run, threshold=0.3, batch=3)
    nodes, epochs = a.nodes(), a.epochs()
    store = EpochStore.open(run)
    assert len(epochs) == 2 * len(store) and len(nodes) == 2 * len(store) * sum(SIZES)
    for m in range(2):
        for i in range(len(store)):
            g = store.graph(i, member=m).threshold(0.3)
            rows = nodes[(nodes.member == m) & (nodes.entry == i)]
            np.testing.assert_array_equal(rows.degree.to_numpy(), deepcnt.degree(g))
            np.testing.assert_allclose(rows.strength_neg.to_numpy(), deepcnt.strength(g, sign="negative"))
            np.testing.assert_allclose(rows.knn_w_abs.to_numpy(), deepcnt.knn(g, weighted=True))
            np.testing.assert_allclose(rows.lamalfa_strength.to_numpy(), deepcnt.nodes_strength(g))
            ep = epochs[(epochs.member == m) & (epochs.entry == i)].iloc[0]
            assert ep.epoch == store.epochs[i] and ep.n_edges == g.n_edges
            assert ep.accuracy == pytest.approx([0.1, 0.05][m] * i) and ep.loss == pytest.approx(1 / (i + 1))
            phi = deepcnt.layers_fluctuation(g)
            assert [ep[f"layers_fluctuation_L{l}"] for l in range(3)] == pytest.approx(phi.tolist())
    assert rows.layer_name.tolist() == ["L0"] * 6 + ["L1"] * 5 + ["L2"] * 4
    meta = a.metadata()
    assert meta["threshold"] == {"mode": "abs", "theta": 0.3, "per_block": False}
    assert "degree" in meta["metrics"] and meta["versions"]["deepcnt"] == deepcnt.__version__
    again = analyze(run, threshold=0.3, batch=3)
    assert again.tasks_run == 0 and again.entries_skipped == 14


def test_errors_are_one_clear_line(run, tmp_path):
    with pytest.raises(deepcnt.InputError, match="does not exist: train or ingest"):
        analyze(tmp_path / "nope")
    with pytest.raises(deepcnt.UnknownMetricError, match="unknown metric 'degre'"):
        analyze(run, metrics=["degre"])
    with pytest.raises(deepcnt.InputError, match="bad threshold"):
        analyze(run, threshold=-1)
    with pytest.raises(deepcnt.InputError, match="bad threshold"):
        analyze(run, threshold=2, threshold_mode="proportional")
    with pytest.raises(deepcnt.InputError, match="leaves no edge in entry 0"):
        analyze(run, threshold=1e6, out=tmp_path / "empty")
    assert not list((tmp_path / "empty" / "nodes").glob("*.parquet"))
    analyze(run, metrics=["degree"], out=tmp_path / "a")
    with pytest.raises(deepcnt.InputError, match="other settings"):
        analyze(run, metrics=["strength"], out=tmp_path / "a")
    assert analyze(run, metrics=["strength"], out=tmp_path / "a", overwrite=True).tasks_run > 0
    # an analysis made by another version is not resumed (its rows and new ones would mix two definitions)
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    meta["versions"]["deepcnt"] = "0.0.9"
    (tmp_path / "a" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(deepcnt.InputError, match="made by deepcnt 0.0.9, and this is deepcnt .*--overwrite"):
        analyze(run, metrics=["strength"], out=tmp_path / "a")
    assert json.loads((tmp_path / "a" / "meta.json").read_text())["versions"]["deepcnt"] == "0.0.9"  # untouched
    with pytest.raises(deepcnt.InputError, match="member 5 does not exist"):
        analyze(run, members=[5])


SLOW_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    import slow_metric  # registers slow_degree
    from deepcnt.runs.pipeline import analyze

    analyze(sys.argv[1], metrics=["degree", "slow_degree"], threshold=0.2, batch=1, out=sys.argv[2])
""")
TESTS = os.path.dirname(__file__)


def test_resume_after_sigkill_equals_uninterrupted(run, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_SCRIPT)
    out = tmp_path / "killed"
    env = dict(os.environ, DEEPCNT_TEST_SLEEP="0.4")
    p = subprocess.Popen([sys.executable, str(script), str(run), str(out), TESTS], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "epochs").glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    n_before = len(list((out / "epochs").glob("part-*.parquet")))
    assert 2 <= n_before < 14, "the run should have been killed part-way"
    env["DEEPCNT_TEST_SLEEP"] = "0"
    for target in (out, tmp_path / "whole"):
        subprocess.run([sys.executable, str(script), str(run), str(target), TESTS], check=True, timeout=300, env=env)
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    from deepcnt.runs.pipeline import Analysis

    a, b = Analysis(out, 0, 0), Analysis(tmp_path / "whole", 0, 0)
    pd.testing.assert_frame_equal(a.nodes(), b.nodes())
    pd.testing.assert_frame_equal(a.epochs(), b.epochs())


def test_local_cluster_identical_even_when_a_worker_dies(run, tmp_path):
    pytest.importorskip("distributed")
    import slow_metric  # noqa: F401  (registers slow_degree here too)
    from dask.distributed import Client, LocalCluster

    metrics = ["degree", "strength", "slow_degree"]
    ref = analyze(run, metrics=metrics, threshold=0.2, batch=1, out=tmp_path / "ref")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        with Client(cluster) as client:
            client.upload_file(slow_metric.__file__)  # workers import it, so slow_degree exists there
        dist = analyze(run, metrics=metrics, threshold=0.2, batch=1, out=tmp_path / "dist",
                       scheduler=cluster.scheduler_address)
        pd.testing.assert_frame_equal(ref.nodes(), dist.nodes())
        pd.testing.assert_frame_equal(ref.epochs(), dist.epochs())

        # now kill one worker as soon as the first task has finished: its tasks are re-run elsewhere
        out = tmp_path / "killed"
        victim = {}

        def kill_one():
            while not list((out / "epochs").glob("part-*.parquet")):
                time.sleep(0.02)
            pid = next(iter(cluster.workers.values())).process.pid
            os.kill(pid, signal.SIGKILL)
            victim["pid"] = pid

        t = threading.Thread(target=kill_one, daemon=True)
        t.start()
        killed = analyze(run, metrics=metrics, threshold=0.2, batch=1, out=out, scheduler=cluster.scheduler_address)
        t.join(timeout=10)
        assert "pid" in victim, "no worker was killed"
        assert len(list((out / "epochs").glob("part-*.parquet"))) == 14
    pd.testing.assert_frame_equal(ref.nodes(), killed.nodes())
    pd.testing.assert_frame_equal(ref.epochs(), killed.epochs())


def test_gpu_device_path_equals_cpu_on_the_simulator(tmp_path):
    """analyze(device="gpu") runs the GPU twins (numba.cuda simulator here) and writes the same tables."""
    run = make_run(tmp_path / "small", n_epochs=2, members=1, sizes=(4, 3, 2))
    metrics = ["degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"]
    cpu = analyze(run, metrics=metrics, threshold=0.2, out=tmp_path / "cpu")
    gpu = analyze(run, metrics=metrics, threshold=0.2, out=tmp_path / "gpu", device="gpu")
    assert gpu.metadata()["device"] == "gpu"
    pd.testing.assert_frame_equal(cpu.nodes(), gpu.nodes(), check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(cpu.epochs(), gpu.epochs(), check_exact=False, rtol=1e-9)


def test_metric_options_reach_the_metric_and_are_recorded(run, tmp_path):
    """options={"modularity": {...}} computes Q as the metric called with those options (a 3-run consensus)."""
    opts = {"modularity": {"runs": 3, "seed": 7, "negative": "sym"}}
    a = analyze(run, metrics=["modularity"], threshold=0.3, members=[1], out=tmp_path / "a", options=opts)
    assert a.metadata()["options"] == opts
    ep = a.epochs()
    store = EpochStore.open(run)
    metric = deepcnt.get_metric("modularity")
    for i in (0, len(store) - 1):
        want = metric.compute(store.graph(i, member=1).threshold(0.3), **opts["modularity"])
        row = ep[ep.entry == i].iloc[0]
        assert row.modularity_q == pytest.approx(float(want["modularity_q"]), abs=1e-12)
        assert row.n_modules == int(want["n_modules"])
    plain = analyze(run, metrics=["modularity"], threshold=0.3, members=[1], out=tmp_path / "b").epochs()
    assert not np.allclose(plain.modularity_q.to_numpy(), ep.modularity_q.to_numpy())  # the options mattered
    with pytest.raises(deepcnt.InputError, match="other settings"):  # resumed only with the same options
        analyze(run, metrics=["modularity"], threshold=0.3, members=[1], out=tmp_path / "a")



def test_options_that_tie_the_epochs_get_the_whole_run(run, tmp_path):
    """init="previous" (each epoch seeded by the previous one's partition) and across_epochs (one consensus
    partition for every epoch) need every epoch of a member in one stack: the tables equal the metric on the
    whole stack, a batch that would cut it is refused, and a run that grows is recomputed as a whole."""
    opts = {"modularity": {"runs": 3, "init": "previous"}, "communities": {"runs": 3, "across_epochs": True}}
    a = analyze(run, metrics=["modularity", "communities"], threshold=0.3, members=[0], out=tmp_path / "a",
                options=opts)
    store = EpochStore.open(run)
    n = len(store)
    g = store.stack(list(range(n)), member=0).threshold(0.3)
    want_q = deepcnt.get_metric("modularity").compute(g, **opts["modularity"])["modularity_q"]
    np.testing.assert_allclose(a.epochs().sort_values("entry").modularity_q.to_numpy(), want_q, atol=1e-12)
    module = a.nodes().sort_values(["entry", "node"]).module.to_numpy().reshape(n, -1)
    assert (module == module[0]).all()  # across epochs: one partition
    with pytest.raises(deepcnt.InputError, match="leave batch unset"):
        analyze(run, metrics=["modularity", "communities"], members=[0], out=tmp_path / "b", batch=2, options=opts)
    rng = np.random.default_rng(3)
    with EpochStore.open(run, mode="a") as grow:
        grow.append(70, [rng.normal(size=(2, p, q)).astype(np.float32) for p, q in zip(SIZES[:-1], SIZES[1:])],
                    biases=[rng.normal(size=(2, q)).astype(np.float32) for q in SIZES[1:]],
                    scalars={"loss": 0.1, "accuracy": [0.7, 0.35]})
    a = analyze(run, metrics=["modularity", "communities"], threshold=0.3, members=[0], out=tmp_path / "a",
                options=opts)
    assert sorted(a.epochs().entry) == list(range(n + 1))
    assert len(list((tmp_path / "a" / "epochs").glob("part-*.parquet"))) == 1
    g = EpochStore.open(run).stack(list(range(n + 1)), member=0).threshold(0.3)
    want_q = deepcnt.get_metric("modularity").compute(g, **opts["modularity"])["modularity_q"]
    np.testing.assert_allclose(a.epochs().sort_values("entry").modularity_q.to_numpy(), want_q, atol=1e-12)

@pytest.mark.parametrize("options, match", [
    ({"knn": {"runs": 2}}, "not computed here"),
    ({"modularity": {"rounds": 2}}, "has no option 'rounds'; its options: negative, directed, gamma, seed, runs"),
    ({"modularity": {"seed": object()}}, "is not a number"),
    ([("modularity", {})], "must map metric names"),
])
def test_bad_metric_options_are_one_line_and_write_nothing(run, tmp_path, options, match):
    with pytest.raises(deepcnt.InputError, match=match):
        analyze(run, metrics=["modularity"], out=tmp_path / "a", options=options)
    assert not (tmp_path / "a").exists()
