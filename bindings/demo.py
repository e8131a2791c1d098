"""``make demo`` = ``deepcnt demo``: the main job on the bundled digits, end to end.

1. Train a DBN with CD-1 (Testolin et al.'s recipe, layer by layer) and an MLP with SGD (Shine et al.'s
   784-100-100-10 sigmoid network, input and output widths following the 8×8 digits), saving every epoch to
   an epoch store each.
2. Analyze every epoch of both runs with every default metric family in the registry (the DBN at Testolin's
   θ = 0.1, the MLP un-thresholded as Shine did).
3. Write each run's report (PNG figures and one HTML page) and print what was produced.

``--quick`` runs a few epochs of a narrower DBN (used by the tests); ``--random`` prints the core metrics of a random
784-500-500-2000 network instead (no training).
"""
import time
from pathlib import Path

import numpy as np

# ``quick``: the preset's settings changed for ``--quick`` (the DBN's hidden layers 8× fewer edges)
DBN = dict(preset="testolin-dbn", epochs=10, threshold=0.1, rf_clusters=False,
           quick=dict(epochs=2, hidden=(200, 200, 500)))
MLP = dict(preset="shine-mlp", epochs=100, threshold=None, rf_clusters=True, quick=dict(epochs=4))


def run_random(sizes=(784, 500, 500, 2000), sigma=0.1, theta=0.1, seed=0, out=print):
    """Core metrics of a random network (N(0, σ) weights, |w| > θ), a per-layer summary; returns the rows."""
    import deepcnt

    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, sigma, size=(a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    t0 = time.perf_counter()
    g = deepcnt.LayeredGraph.from_weights(weights).threshold(theta)
    metrics = {
        "k": deepcnt.degree(g), "k+": deepcnt.degree(g, sign="positive"), "k-": deepcnt.degree(g, sign="negative"),
        "s": deepcnt.strength(g), "|s|": deepcnt.strength(g, sign="abs"),
        "knn": deepcnt.knn(g), "knn_w": deepcnt.knn(g, weighted=True),
    }
    phi = deepcnt.layers_fluctuation(g)
    elapsed = time.perf_counter() - t0
    out(f"deepcnt {deepcnt.__version__}: random {'-'.join(map(str, sizes))} network, weights N(0, {sigma}), "
        f"threshold |w| > {theta}: {g.n_nodes} nodes, {g.n_edges} of {sum(w.size for w in weights)} edges kept")
    out("mean per layer:")
    out(f"{'layer':>5} {'nodes':>6} " + " ".join(f"{name:>9}" for name in metrics) + f" {'fluct':>9}")
    rows = []
    for l in range(g.n_layers):
        sl = g.layer_slice(l)
        vals = [float(np.mean(v[sl])) for v in metrics.values()]
        rows.append((l, sl.stop - sl.start, *vals, float(phi[l])))
        out(f"{l:>5} {sl.stop - sl.start:>6} " + " ".join(f"{v:9.3f}" for v in vals) + f" {phi[l]:9.3f}")
    out(f"all metrics (incl. first-call JIT compilation) in {elapsed:.2f} s")
    return rows


def _summary(name, store, analysis, index, seconds, out):
    ep = analysis.epochs()
    last = ep[ep.entry == ep.entry.max()].iloc[0]
    acc = next((c for c in ("test_acc", "test_accuracy", "accuracy", "train_acc") if c in ep), None)
    err = next((c for c in ("recon_error", "reconstruction_error", "loss") if c in ep), None)
    out(f"\n== {name}: {'-'.join(map(str, store.sizes))}, {len(store)} epochs saved, {seconds:.0f} s ==")
    out(f"  run (epoch store):  {store.path}")
    out(f"  per-node table:     {analysis.nodes_path}  ({len(analysis.nodes())} rows)")
    out(f"  per-epoch table:    {analysis.epochs_path}  ({len(ep)} rows, {ep.shape[1]} columns)")
    out(f"  report:             {index}")
    shown = [c for c in (acc, err, "n_edges", "modularity_q", "motif_bifan", "motif_diamond") if c and c in ep]
    out("  last epoch:         " + ", ".join(f"{c} = {last[c]:.4g}" for c in shown))


def main(args=None, out=print):
    """Run the main job; ``args`` is the CLI namespace (``out``, ``quick``, ``random``)."""
    if args is not None and getattr(args, "random", False):
        run_random(out=out)
        return 0
    import deepcnt
    from deepcnt.runs.progress import progress_callback
    from deepcnt.runs.pipeline import analyze

    from .presets import train
    from .report import report

    root = Path(getattr(args, "out", None) or "demo-out")
    quick = bool(getattr(args, "quick", False))
    t_all = time.perf_counter()
    out(f"deepcnt {deepcnt.__version__} demo: digits (bundled), every epoch saved and analyzed; output in {root}/")
    out(f"metric families: {', '.join(n for n in deepcnt.metric_names() if deepcnt.get_metric(n).default)}")
    for name, cfg in (("DBN, CD-1", DBN), ("MLP, SGD", MLP)):
        t0 = time.perf_counter()
        run_dir = root / cfg["preset"]
        settings = dict(cfg["quick"]) if quick else dict(epochs=cfg["epochs"])
        epochs = settings["epochs"]
        out(f"\n-- {name}: training {cfg['preset']} for {epochs} epoch(s){' per layer' if 'dbn' in cfg['preset'] else ''}")
        store = train(cfg["preset"], run_dir, data="digits", schedule="every", threads=2, **settings,
                      progress=progress_callback(f"train {cfg['preset']}", "epoch", resumable=True))
        out(f"-- {name}: analyzing {len(store)} epochs")
        analysis = analyze(run_dir, threshold=cfg["threshold"], progress=True)
        index = report(run_dir, rf_clusters=cfg["rf_clusters"], progress=True)  # EMD clustering: seconds for 100 units
        _summary(name, store, analysis, index, time.perf_counter() - t0, out)
        store.close()
    out(f"\ndone in {time.perf_counter() - t_all:.0f} s. Open the reports' index.html in a browser; read the "
        "tables with pandas.read_parquet(<table directory>).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
