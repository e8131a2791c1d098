"""The contract of every registered metric (scikit-network's test_API idea), and the CLI's demo and errors."""
import subprocess
import sys

import numpy as np
import pytest

import deepcnt

TINY = [
    [np.array([[0.5, -1.0], [2.0, 0.25]]), np.array([[1.0, -0.5], [0.0, 1.5]])],
    [np.array([[1.0]]), np.array([[-2.0, 3.0]])],
    [np.ones((3, 1), np.float32)],
]


def _expected_len(g, kind):
    return {"node": g.n_nodes, "layer": g.n_layers}.get(kind)


@pytest.mark.parametrize("name", deepcnt.metric_names())
def test_every_registered_metric_keeps_the_contract(name):
    metric = deepcnt.get_metric(name)
    assert metric.kind in ("node", "layer", "epoch") and metric.columns
    for blocks in TINY:
        g = deepcnt.LayeredGraph.from_weights(blocks)
        gs = deepcnt.LayeredGraph.from_weights([np.stack([b, 2 * b]) for b in blocks])
        out, outs = metric.compute(g), metric.compute(gs)
        assert list(out) == list(metric.columns)
        for col in metric.columns:
            a, b = np.asarray(out[col]), np.asarray(outs[col])
            n = _expected_len(g, metric.kind)
            assert a.shape == (() if n is None else (n,)), col
            assert b.shape == (2,) + a.shape, col
            np.testing.assert_allclose(b[0], a, rtol=1e-12, err_msg=col)  # epoch 0 of the stack is g


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(deepcnt.UnknownMetricError, match="unknown metric 'degre'; known metrics: .*degree"):
        deepcnt.get_metric("degre")


def test_cli_demo_and_errors(tmp_path):
    run = [sys.executable, "-m", "deepcnt.bindings.cli"]
    p = subprocess.run(run + ["demo", "--random"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "3784 nodes" in p.stdout and "mean per layer" in p.stdout
    p = subprocess.run(run + ["frobnicate"], capture_output=True, text=True)
    assert p.returncode != 0 and "invalid choice" in p.stderr
    p = subprocess.run(run + ["--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "demo" in p.stdout


def test_demo_main_job_quick(tmp_path):
    """The main job end to end, short: train a DBN and an MLP on digits, analyze every epoch, report."""
    p = subprocess.run([sys.executable, "-m", "deepcnt.bindings.cli", "demo", "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    for preset in ("testolin-dbn", "shine-mlp"):
        a = deepcnt.Analysis(tmp_path / preset / "analysis", 0, 0)
        ep = a.epochs()
        store = deepcnt.EpochStore.open(tmp_path / preset)
        assert len(ep) == len(store) > 1 and (ep.n_edges > 0).all()
        assert (tmp_path / preset / "analysis" / "report" / "index.html").exists()
        assert str(a.nodes_path) in p.stdout
