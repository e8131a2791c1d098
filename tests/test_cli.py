"""The command line as a user meets it: --version, python -m deepcnt, deepcnt metrics, help on every option with its
default, the default threshold, progress bars, and user errors as one line (in-process: main(argv), no
subprocess)."""
import argparse
import inspect
import json
import re
import runpy
import sys

import numpy as np
import pytest

import deepcnt
from deepcnt.bindings import cli
from deepcnt.model.conv import ConvBlock
from deepcnt.runs.store import EpochStore
from runs import make_run


def run_cli(capsys, *argv):
    """``main(argv)`` in this process: (exit status, stdout, stderr lines)."""
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, --version, bad option values
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err.strip().splitlines()


def one_line_error(rc, err, *words):
    assert rc == 2, err
    assert len(err) == 1 and "error: " in err[0], err
    assert "Traceback" not in err[0]
    for w in words:
        assert w in err[0], err[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("r") / "run", n_epochs=2, members=2, sizes=(9, 6, 4))


def test_version_and_python_m_deepcnt(capsys, monkeypatch):
    rc, out, _ = run_cli(capsys, "--version")
    assert rc == 0 and out.strip() == f"deepcnt {deepcnt.__version__}"
    monkeypatch.setattr(sys, "argv", ["deepcnt", "--version"])
    monkeypatch.delitem(sys.modules, "deepcnt.__main__", raising=False)  # as a fresh `python -m deepcnt` finds it
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("deepcnt", run_name="__main__")
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"deepcnt {deepcnt.__version__}"


def test_metrics_lists_the_registry_one_line_each(capsys):
    rc, out, _ = run_cli(capsys, "metrics")
    assert rc == 0
    lines = out.strip().splitlines()
    for name, m in deepcnt.REGISTRY.items():
        (line,) = [ln for ln in lines if ln.split()[0] == name]
        assert m.kind in line and m.description in line


def _subparsers(parser):
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def test_a_closed_pipe_is_quiet(capsys, monkeypatch):
    """deepcnt metrics | head: no 'error: Broken pipe' once the reader has gone."""
    def closed(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_metrics", closed)
    rc, out, err = run_cli(capsys, "metrics")
    assert rc == 141 and err == []


def test_every_option_of_every_command_has_help_and_shows_its_default(capsys):
    parser = cli.build_parser()
    for name, sp in _subparsers(parser).items():
        for action in sp._actions:
            assert action.help and action.help.strip(), f"deepcnt {name} {action.dest} has no help"
    rc, out, _ = run_cli(capsys, "train", "--help")
    assert rc == 0 and "100,000" in out and "(default: shine-mlp)" in out  # the default preset's length is said
    rc, out, _ = run_cli(capsys, "analyze", "--help")
    assert rc == 0 and "(default: cpu)" in out and "top 30%" in out and "(default: None)" not in out


def test_analyze_default_threshold_is_said_and_not_complete(capsys, run, tmp_path):
    rc, out, err = run_cli(capsys, "analyze", run, "--metrics", "degree", "--quiet", "--out", tmp_path / "a")
    assert rc == 0, err
    assert "threshold: top 30% of |w| per block (the default" in out
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["threshold"] == cli.DEFAULT_THRESHOLD
    nodes = deepcnt.Analysis(tmp_path / "a", 0, 0).nodes()
    first = nodes[nodes.layer == 0]  # 9 inputs x 6 hidden: complete would be degree 6 everywhere
    assert first.degree.max() < 6 and first.degree.sum() == pytest.approx(len(first) / 9 * round(0.3 * 54), abs=2)
    rc, out, err = run_cli(capsys, "analyze", run, "--metrics", "degree", "--quiet", "--out", tmp_path / "b",
                           "--threshold", "0")
    assert rc == 0 and "threshold:" not in out
    nodes = deepcnt.Analysis(tmp_path / "b", 0, 0).nodes()
    assert (nodes[nodes.layer == 0].degree == 6).all()  # --threshold 0: every non-zero weight
    # ... which is analyze()'s default: one spec, so that each resumes the other's analysis
    assert json.loads((tmp_path / "b" / "meta.json").read_text())["threshold"] == {"mode": "none"}
    assert deepcnt.analyze(run, metrics=["degree"], out=tmp_path / "b").tasks_run == 0


@pytest.mark.parametrize("argv, words", [
    (["analyze", "{run}", "--members", "a"], ["--members", "'a'", "deepcnt analyze --help"]),
    (["analyze", "{run}", "--members", "0,-1"], ["--members", ">= 0"]),
    (["analyze", "{run}", "--batch", "x"], ["--batch"]),
    (["analyze", "{run}", "--threshold-mode", "proportional"], ["--threshold-mode", "need a --threshold"]),
    (["analyze", "{run}", "--threshold", "-1"], ["bad threshold", "--threshold -1"]),
    (["analyze", "{run}", "--threshold", "nan"], ["bad threshold", "--threshold nan"]),
    (["analyze", "{run}", "--threshold", "2", "--threshold-mode", "proportional"],
     ["bad threshold", "--threshold 2", "(0, 1]"]),
    (["analyze", "{run}", "--threshold", "0.1", "--per-block"], ["--per-block", "--threshold-mode proportional"]),
    (["analyze", "{run}", "--metrics", ""], ["no metric given", "deepcnt metrics"]),
    (["report", "{run}", "--out", "{file}/report"], ["{file}"]),
    ([], ["COMMAND", "deepcnt --help"]),
    (["train", "--out", "{file}/t", "--device", "gpu"], ["--device", "'gpu' is not a torch device"]),
    (["train", "--out", "{file}/t", "--threads", "0"], ["--threads", "must be >= 1"]),
    (["nonsense"], ["invalid choice"]),
])
def test_user_errors_are_one_line_in_cli_words(capsys, run, tmp_path, argv, words):
    (tmp_path / "a-file").write_text("")
    fmt = dict(run=run, file=tmp_path / "a-file")
    if argv[:1] == ["report"]:
        assert run_cli(capsys, "analyze", run, "--metrics", "degree", "--quiet")[0] == 0
    rc, out, err = run_cli(capsys, *[a.format(**fmt) for a in argv])
    one_line_error(rc, err, *[w.format(**fmt) for w in words])
    assert not re.search(r"[a-z_]=", err[0])  # Python's words (threshold=, overwrite=True) are not the CLI's


def test_other_settings_are_named_in_words(capsys, run, tmp_path):
    out = tmp_path / "a"
    assert run_cli(capsys, "analyze", run, "--metrics", "degree", "--quiet", "--out", out, "--threshold", "0.1")[0] == 0
    rc, _, err = run_cli(capsys, "analyze", run, "--metrics", "degree", "--quiet", "--out", out)
    one_line_error(rc, err, "threshold |w| > 0.1 there, top 30% of |w| per block here", "--overwrite")
    assert "metrics" not in err[0]  # only what differs


def test_train_on_cuda_without_cuda_is_one_line(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc, out, err = run_cli(capsys, "train", "--out", tmp_path / "t", "--device", "cuda")
    one_line_error(rc, err, "--device", "no CUDA device", "--device cpu")
    assert not (tmp_path / "t").exists()


def test_device_gpu_without_a_device_is_said_in_cli_words(capsys, run, tmp_path, monkeypatch):
    import deepcnt.backend

    def no_gpu(device="cpu"):
        raise deepcnt.DeviceError("device='gpu' was asked for but no CUDA device is available here")

    monkeypatch.setattr(deepcnt.backend, "get_backend", no_gpu)
    rc, out, err = run_cli(capsys, "analyze", run, "--device", "gpu", "--out", tmp_path / "o")
    one_line_error(rc, err, "--device gpu", "--device cpu")
    assert "device=" not in err[0] and not (tmp_path / "o").exists()


def test_report_of_a_conv_run_skips_receptive_fields_and_writes_the_page(capsys, tmp_path):
    """lamalfa-cnn's shape: an 8x8 input (a square, so receptive fields were tried) into a convolution."""
    rng = np.random.default_rng(0)
    conv = ConvBlock(rng.normal(size=(1, 4, 1, 3, 3)).astype(np.float32), (1, 8, 8), stacked=True)
    s = EpochStore.create(tmp_path / "cnn", (64, 144, 3), n_members=1, biases=False, blocks=[conv, None])
    for e in range(2):
        s.append(e, [rng.normal(size=(1, 4, 1, 3, 3)).astype(np.float32),
                     rng.normal(size=(1, 144, 3)).astype(np.float32)], scalars={"loss": 1.0 / (e + 1)})
    s.close()
    assert run_cli(capsys, "analyze", tmp_path / "cnn", "--quiet")[0] == 0
    rc, out, err = run_cli(capsys, "report", tmp_path / "cnn", "--rf-clusters")
    assert rc == 0, err
    page = (tmp_path / "cnn" / "analysis" / "report" / "index.html").read_text()
    assert "weights.png" in page and "Not drawn: receptive fields" in page
    assert "receptive_fields_epoch" not in page and "rf_dendrogram" not in page


def test_progress_callback_draws_one_bar_and_counts_a_resume_as_done(monkeypatch, capsys):
    import deepcnt.runs.progress as progress

    for show in (False, True):  # True: tqdm, which draws nothing where stderr is no terminal (here, logs, pipes)
        bar = progress.progress_bar(3, "x", show=show)
        bar.update(3)
        bar.close()
    assert capsys.readouterr().err == ""
    made = []

    class Bar:
        def __init__(self, total, desc, unit, show=True, initial=0):
            self.total, self.n, self.initial, self.closed = total, initial, initial, False
            made.append(self)

        def update(self, n=1):
            self.n += n

        def close(self):
            self.closed = True

    monkeypatch.setattr(progress, "progress_bar", Bar)
    cb = progress.progress_callback("train", "epoch", resumable=True)
    for done in range(41, 101):  # a run resumed after epoch 40
        cb(done, 100)
    (bar,) = made
    assert bar.total == 100 and bar.n == 100 and bar.closed and bar.initial == 40
    cb = progress.progress_callback("EMD", "pair")  # chunks of pairs: the first call's count is progress
    for done in (64, 128, 190):
        cb(done, 190)
    assert made[1].initial == 0 and made[1].n == 190 and made[1].closed


def test_every_public_metric_given_a_non_graph_says_what_it_expects():
    x = np.ones((3, 3))
    checked = []
    for name in deepcnt.__all__:
        f = getattr(deepcnt, name)
        if inspect.isfunction(f) and list(inspect.signature(f).parameters)[:1] == ["g"] \
                and name not in ("receptive_fields", "zambra_colors"):  # these two also take weight arrays
            with pytest.raises(deepcnt.InputError, match=f"^{name} (expects|needs) a LayeredGraph, got ndarray"):
                f(x)
            checked.append(name)
    assert "degree" in checked and "louvain" in checked and len(checked) > 15
    for name, m in deepcnt.REGISTRY.items():
        with pytest.raises(deepcnt.InputError, match="expects a LayeredGraph, got ndarray"):
            m.compute(x)


def test_a_user_error_in_a_dask_task_fails_once_without_worker_logs(run, tmp_path, monkeypatch, caplog):
    """Dask retries what raises (for lost workers): a user error must not be retried, nor logged by workers."""
    pytest.importorskip("distributed")
    from dask.distributed import LocalCluster

    from deepcnt.registry import REGISTRY, Metric

    calls = []

    def bad(g):
        calls.append(1)
        raise deepcnt.InputError("bad input")

    monkeypatch.setitem(REGISTRY, "bad_metric", Metric("bad_metric", "epoch", ("bad",), bad))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(deepcnt.InputError, match="^bad input$"):
            deepcnt.analyze(run, metrics=["bad_metric"], members=[0], batch=2, out=tmp_path / "o",
                            scheduler=cluster.scheduler_address)
    assert len(calls) == 1
    assert not [r for r in caplog.records if r.name.startswith("distributed") and r.levelno >= 40]


def test_analyze_passes_metric_options(capsys, run, tmp_path):
    rc, out, err = run_cli(capsys, "analyze", run, "--metrics", "modularity", "--threshold", "0.3", "--quiet",
                           "--out", tmp_path / "a", "--option", "modularity.runs=2", "--option",
                           "modularity.negative=sym", "--option", "modularity.gamma=0.5")
    assert rc == 0, err
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["options"] == {"modularity": {"runs": 2, "negative": "sym", "gamma": 0.5}}
    rc, out, _ = run_cli(capsys, "metrics")
    assert "options (--option modularity.NAME=VALUE): negative='asym', directed=False, gamma=1.0" in out


@pytest.mark.parametrize("option, words", [
    ("modularity.rounds=2", ["has no option 'rounds'", "runs"]),
    ("knn.weight=abs", ["'knn'", "not computed here"]),
    ("runs500", ["--option", "METRIC.OPTION=VALUE"]),
])
def test_bad_metric_options_are_one_line(capsys, run, tmp_path, option, words):
    rc, out, err = run_cli(capsys, "analyze", run, "--metrics", "modularity", "--quiet", "--out", tmp_path / "a",
                           "--option", option)
    one_line_error(rc, err, *words)
    assert not (tmp_path / "a").exists()
