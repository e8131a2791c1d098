"""The report (HTML references only existing files, every PNG opens) and the CLI's error cases."""
import re
import subprocess
import sys

import pytest

from runs import make_run

CLI = [sys.executable, "-m", "deepcnt.bindings.cli"]


def cli(*args, **kw):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("r") / "run", sizes=(16, 5, 3))  # 16 inputs: 4x4 receptive fields


def test_analyze_then_report(run):
    metrics = "degree,strength,knn,motifs,motifs_signed,motif_z,modularity,communities"
    p = cli("analyze", run, "--threshold", "0.2", "--quiet", "--metrics", metrics)
    assert p.returncode == 0, p.stderr
    assert "14 task(s) run" in p.stdout or "task(s) run" in p.stdout
    p = cli("report", run, "--rf-clusters")
    assert p.returncode == 0, p.stderr
    index = run / "analysis" / "report" / "index.html"
    page = index.read_text()
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) >= 5 and "weights.png" in srcs and "per_epoch.png" in srcs
    assert any(s.startswith("receptive_fields") for s in srcs)
    for fig in ("motifs.png", "motifs_signed.png", "motif_z.png", "cartography.png", "strength_per_layer.png",
                "rf_dendrogram.png", "rf_cluster_means.png"):
        assert fig in srcs, fig
    import matplotlib.image as mpimg

    for s in srcs:
        img = mpimg.imread(index.parent / s)
        assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50, s
    assert not [p for p in index.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("args, message", [
    (["analyze", "{tmp}/missing"], "run {tmp}/missing does not exist"),
    (["analyze", "{run}", "--metrics", "degree,frobenius"], "unknown metric 'frobenius'; known metrics:"),
    (["analyze", "{run}", "--threshold", "-0.5", "--out", "{tmp}/o1"], "bad threshold"),
    (["analyze", "{run}", "--threshold", "1.5", "--threshold-mode", "proportional", "--out", "{tmp}/o2"],
     "bad threshold"),
    (["analyze", "{run}", "--threshold", "1e9", "--out", "{tmp}/o3"], "leaves no edge in entry 0"),
    (["report", "{tmp}/missing"], "does not exist"),
    (["report", "{run}", "--analysis", "{tmp}/none"], "holds no analysis"),
    (["ingest", "{tmp}/missing", "--out", "{tmp}/o4"], ""),
])
def test_cli_errors_are_one_line_and_nonzero(run, tmp_path, args, message):
    args = [a.format(run=run, tmp=tmp_path) for a in args]
    p = cli(*args)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepcnt: error: "), p.stderr
    assert message.format(run=run, tmp=tmp_path) in lines[0]
    assert "Traceback" not in p.stderr


def test_cli_help_for_every_command():
    for cmd in ("train", "ingest", "analyze", "report", "demo"):
        p = cli(cmd, "--help")
        assert p.returncode == 0 and "usage: deepcnt " + cmd in p.stdout
    p = cli("analyze", "x", "--batch", "0")
    assert p.returncode == 2 and "must be >= 1" in p.stderr
