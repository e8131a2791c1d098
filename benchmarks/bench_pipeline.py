"""analyze() on 50 epochs of 784-500-500-2000: pipeline wall time per epoch vs the kernels alone (overhead),
vs the peer workflow a user writes today (a loop over checkpoint files with networkx, measured on a few
epochs and extrapolated), and peak memory of a 100M-edge network over 10 epochs against one epoch's weights.

Run: ``.venv/bin/python -m pytest benchmarks/bench_pipeline.py --benchmark-only -o addopts="" -s``.
"""
import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import deepcnt
from deepcnt.runs.pipeline import analyze, apply_threshold, threshold_spec
from deepcnt.runs.store import EpochStore

SIZES = (784, 500, 500, 2000)
N_EPOCHS = 50
THETA = 0.1
PEER_EPOCHS = 2
GROUP = f"analyze, {N_EPOCHS} epochs of 784-500-500-2000, theta={THETA} (time per epoch)"


def _metrics():
    wanted = ["degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation", "motifs", "modularity"]
    return [m for m in wanted if m in deepcnt.REGISTRY]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "run"
    rng = np.random.default_rng(0)
    ws = [rng.normal(0, 0.1, size=(a, b)).astype(np.float32) for a, b in zip(SIZES[:-1], SIZES[1:])]
    s = EpochStore.create(path, sizes=SIZES, biases=False)
    for e in range(N_EPOCHS):
        ws = [w + rng.normal(0, 0.01, size=w.shape).astype(np.float32) for w in ws]
        s.append(e, ws, scalars={"loss": 1.0 / (e + 1)})
    s.close()
    return path


def test_pipeline(benchmark, record, run, tmp_path):
    benchmark.group = GROUP
    metrics = _metrics()
    analyze(run, metrics=metrics, threshold=THETA, out=tmp_path / "warm", members=[0])  # JIT warm-up
    counter = iter(range(100))
    benchmark.pedantic(lambda: analyze(run, metrics=metrics, threshold=THETA, out=tmp_path / f"o{next(counter)}"),
                       rounds=2, warmup_rounds=0)
    benchmark.extra_info["per_epoch_s"] = benchmark.stats.stats.min / N_EPOCHS
    benchmark.stats.stats.min /= N_EPOCHS
    record(GROUP, f"deepcnt analyze ({'+'.join(metrics)})", benchmark)


def test_kernels_alone(benchmark, record, run):
    """The same registry computations on graphs already in memory: no store reads, no tables, no files."""
    benchmark.group = GROUP
    metrics = _metrics()
    store = EpochStore.open(run)
    spec = threshold_spec(THETA)
    graphs = [apply_threshold(g, spec) for g in store.stacks(16)]

    def kernels():
        for g in graphs:
            g._cache.clear()
            for m in metrics:
                deepcnt.get_metric(m).compute(g)

    kernels()
    benchmark.pedantic(kernels, rounds=2, warmup_rounds=0)
    benchmark.stats.stats.min /= N_EPOCHS
    record(GROUP, "kernels alone (same metrics, in memory)", benchmark)


def _peer_loop(files):
    """What a user writes today: load each checkpoint, build a networkx graph, compute the core metrics."""
    import networkx as nx

    off = np.concatenate([[0], np.cumsum(SIZES)])
    for f in files:
        ws = np.load(f)
        G = nx.DiGraph()
        G.add_nodes_from(range(off[-1]))
        for l in range(len(SIZES) - 1):
            w = ws[f"W{l}"]
            i, j = np.nonzero(np.abs(w) > THETA)
            G.add_weighted_edges_from(zip((i + off[l]).tolist(), (j + off[l + 1]).tolist(), w[i, j].tolist()))
        dict(G.degree()), dict(G.in_degree()), dict(G.out_degree()), dict(G.degree(weight="weight"))
        nx.average_neighbor_degree(G.to_undirected(as_view=True))


def test_peer_networkx_loop(benchmark, record, run, tmp_path):
    benchmark.group = GROUP
    store = EpochStore.open(run)
    files = []
    for i in range(PEER_EPOCHS):
        f = tmp_path / f"epoch{i}.npz"
        np.savez(f, **{f"W{l}": w for l, w in enumerate(store.read_arrays(i, member=0)[0])})
        files.append(f)
    benchmark.pedantic(_peer_loop, args=(files,), rounds=1, warmup_rounds=0)
    benchmark.stats.stats.min /= PEER_EPOCHS
    record(GROUP, f"networkx loop over checkpoints (core metrics only, {PEER_EPOCHS} epochs)", benchmark)


BIG = textwrap.dedent("""
    import json, sys, time
    from deepcnt.runs.pipeline import analyze
    t = time.perf_counter()
    a = analyze(sys.argv[1], metrics=["degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"],
                threshold=0.1, out=sys.argv[2])
    dt = time.perf_counter() - t
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so it would count the parent (pytest)
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"seconds": dt, "peak_rss": hwm * 1024}))
""")
BIG_SIZES = (5000, 10000, 5000)  # 100M edges, 400 MB of float32 weights per epoch
BIG_EPOCHS = 10


def test_big_network_memory(benchmark, record, tmp_path):
    """A 100M-edge network over 10 epochs: analyze's peak RSS against one epoch's weights."""
    benchmark.group = "100M edges (5000-10000-5000), 10 epochs: peak memory"
    path = tmp_path / "big"
    rng = np.random.default_rng(0)
    s = EpochStore.create(path, sizes=BIG_SIZES, biases=False)
    for e in range(BIG_EPOCHS):
        ws = [rng.standard_normal(size=(a, b), dtype=np.float32) * 0.1 for a, b in zip(BIG_SIZES[:-1], BIG_SIZES[1:])]
        s.append(e, ws)
        del ws
    s.close()
    one_epoch = 4 * sum(a * b for a, b in zip(BIG_SIZES[:-1], BIG_SIZES[1:]))
    script = tmp_path / "big.py"
    script.write_text(BIG)
    result = {}

    def go():
        p = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / f"out{time.time()}")],
                           capture_output=True, text=True, check=True)
        result.update(json.loads(p.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(go, rounds=1, warmup_rounds=0)
    ratio = result["peak_rss"] / one_epoch
    benchmark.extra_info.update(result, one_epoch_bytes=one_epoch, peak_over_one_epoch=ratio)
    print(f"\n100M edges x {BIG_EPOCHS} epochs: analyze {result['seconds']:.1f} s "
          f"({result['seconds'] / BIG_EPOCHS:.2f} s/epoch), peak RSS {result['peak_rss'] / 2**20:.0f} MiB = "
          f"{ratio:.2f} x one epoch's weights ({one_epoch / 2**20:.0f} MiB)")
