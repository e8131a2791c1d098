"""``make demo`` for now: a random 784-500-500-2000 network (N(0, 0.1) weights, θ = 0.1) and its core metrics.

A later issue turns this into the full main job (train on the bundled digits, analyze every epoch, report).
"""
import time

import numpy as np


def run(sizes=(784, 500, 500, 2000), sigma=0.1, theta=0.1, seed=0, out=print):
    """Build the network, compute every core metric, print a per-layer summary; returns the table rows."""
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
    out(f"deepcnt {deepcnt.__version__} demo: {'-'.join(map(str, sizes))} network, weights N(0, {sigma}), "
        f"threshold |w| > {theta}: {g.n_nodes} nodes, {g.n_edges} of {sum(w.size for w in weights)} edges kept")
    header = f"{'layer':>5} {'nodes':>6} " + " ".join(f"{name:>9}" for name in metrics) + f" {'fluct':>9}"
    out("mean per layer:")
    out(header)
    rows = []
    for l in range(g.n_layers):
        sl = g.layer_slice(l)
        vals = [float(np.mean(v[sl])) for v in metrics.values()]
        rows.append((l, sl.stop - sl.start, *vals, float(phi[l])))
        out(f"{l:>5} {sl.stop - sl.start:>6} " + " ".join(f"{v:9.3f}" for v in vals) + f" {phi[l]:9.3f}")
    out(f"all metrics (incl. first-call JIT compilation) in {elapsed:.2f} s")
    return rows


def main(argv=None):
    run()
    return 0  # argv (--out) is used once the demo trains and analyzes runs


if __name__ == "__main__":
    raise SystemExit(main())
