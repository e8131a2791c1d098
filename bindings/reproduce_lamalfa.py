"""La Malfa et al.'s recipe for :mod:`deepcnt.bindings.reproduce`: an ensemble spanning low and high accuracy.

The paper trains populations of networks with widely varied initialisations for a fixed budget, bins them by
test accuracy (width 0.025) and compares the pooled distributions of each bin by symmetric KL: Nodes Strength and
Layers Fluctuation separate low- from high-accuracy networks. On the digits the ``lamalfa-fc`` preset's scales
all train to high accuracy, so the recipe widens the ensemble: σ log-spaced over five decades, three runs of
the same fixed budget (ReLU with normal init, ReLU with uniform init, tanh with normal init: tanh saturates at
large σ, so low accuracy comes at both ends of the scale, not only at the small one). The choices and their
reasons are in ``docs/reproduce.rst``.
"""
import numpy as np

from .recipe import Finding, Recipe

KL_BINS = 20  # histogram bins of the pooled log10 values (tens of networks per group: 100 bins leave most empty)
PERMUTATIONS = 1000
PSEUDO_COUNT = 0.5  # added to every bin's count: two disjoint histograms give a finite KL that still grows with
# their concentration (with 1e-10 any two disjoint groups give the same ~2·ln(1e10) nats)


def _scales(n):
    """Per-member init scales: σ (normal) or a (uniform) log-spaced from 5e-4 to 50."""
    return tuple(float(s) for s in np.geomspace(5e-4, 50.0, n))


def _networks(ctx):
    """One row per trained network of the three runs: run, σ, test accuracy, layers fluctuation Φ_l (code
    convention) and the std of each weight block, all at the last saved epoch."""
    if "lamalfa" in ctx._cache:
        return ctx._cache["lamalfa"]
    import deepcnt

    from .figures import ACCURACY

    rows = []
    for name, store in (("relu-normal", ctx.store), *ctx.variants.items()):
        sc = store.scalars_frame()
        last = sc[sc.entry == sc.entry.max()].sort_values("member")
        acc_col = next(c for c in ACCURACY if c in last)
        scales = store.metadata["config"]["init_scale"]
        for m, acc in zip(last.member, last[acc_col]):
            g = store.graph(len(store) - 1, member=int(m))
            blocks = store.read_arrays(len(store) - 1, member=int(m))[0]
            rows.append(dict(run=name, scale=float(scales[int(m)]), accuracy=float(acc),
                             phi=np.asarray(deepcnt.layers_fluctuation(g), float),
                             wstd=np.array([np.std(w) for w in blocks], float),
                             phi_iid=iid_fluctuation(blocks)))
    ctx._cache["lamalfa"] = rows
    return rows


def iid_fluctuation(blocks):
    """The layers fluctuation that i.i.d. weights of each block's std would give: for layer ``l`` the root of
    ``Σ fan · var(W)`` over the blocks into and out of it (biases left out). ``Φ_l`` divided by it is the
    fluctuation the weights' scale does not explain (1 for untrained i.i.d. weights)."""
    var = [float(np.var(w)) for w in blocks]
    n = [blocks[0].shape[0]] + [w.shape[1] for w in blocks]
    L = len(blocks)
    out = [n[1] * var[0]] + [n[l - 1] * var[l - 1] + n[l + 1] * var[l] for l in range(1, L)] + [n[L - 1] * var[L - 1]]
    return np.sqrt(out)


def accuracy_split(acc, n_classes):
    """Low- and high-accuracy groups of an ensemble: low below halfway from chance to the best network, high
    within 0.1 of the best (the networks between are in neither: the groups are clearly apart)."""
    acc = np.asarray(acc, float)
    best, chance = acc.max(), 1.0 / n_classes
    return acc < chance + (best - chance) / 2, acc >= best - 0.1


def group_separation(values, low, high, seed=0):
    """Symmetric KL (nats) between the pooled histograms of the low and the high group's ``values`` (one row per
    network), with a permutation p-value (group labels shuffled among the networks of both groups).

    The groups' histograms are their networks' histograms summed on shared edges (the pooled distributions
    that :func:`deepcnt.group_kl` compares between La Malfa's accuracy bins, here for two groups).
    """
    import deepcnt

    v = np.log10(np.asarray(values, float))
    keep = low | high
    v, lo = v[keep], low[keep]
    rng = (v.min(), v.max() + 1e-12)
    per_net = np.stack([np.histogram(row, bins=KL_BINS, range=rng)[0] for row in v])

    def kl(labels):
        return float(deepcnt.symmetric_kl(per_net[labels].sum(0), per_net[~labels].sum(0), eps=PSEUDO_COUNT))

    d = kl(lo)
    gen = np.random.default_rng(seed)
    null = np.array([kl(gen.permutation(lo)) for _ in range(PERMUTATIONS)])
    return d, float((1 + (null >= d - 1e-12).sum()) / (1 + PERMUTATIONS))


def _range(acc):
    return f"accuracy {acc.min():.2f}–{acc.max():.2f}" if acc.size else "no network"


def lamalfa_findings(ctx):
    """La Malfa et al.: the layers fluctuation separates low- from high-accuracy networks; control: does the
    weights' std (the init scale's trace) separate them as well?"""
    rows = _networks(ctx)
    acc = np.array([r["accuracy"] for r in rows])
    phi = np.stack([r["phi"] for r in rows])
    wstd = np.stack([r["wstd"] for r in rows])
    runs, scales = {r["run"] for r in rows}, [r["scale"] for r in rows]
    low, high = accuracy_split(acc, ctx.data.n_classes)
    ctx._cache["lamalfa_groups"] = (low, high)
    n_lo, n_hi = int(low.sum()), int(high.sum())
    spans = n_lo >= 3 and n_hi >= 3
    out = [Finding(
        "the ensemble spans low and high accuracy", spans,
        f"{len(rows)} networks ({len(runs)} runs × {len(rows) // len(runs)} init scales, {min(scales):.2g}–"
        f"{max(scales):.2g}, one budget): low group "
        f"{n_lo} ({_range(acc[low])}), high group {n_hi} ({_range(acc[high])})",
        "at least 3 networks in each group",
        "populations of networks grouped by accuracy, from under-trained to accurate", float(min(n_lo, n_hi)))]
    if not spans:
        return out
    d_phi, p_phi = group_separation(phi, low, high)
    d_std, p_std = group_separation(wstd, low, high)
    med_lo, med_hi = np.median(phi[low, 1]), np.median(phi[high, 1])
    above = int((phi[low, 1] > med_hi).sum())
    out.append(Finding(
        "layers fluctuation separates low- from high-accuracy networks", p_phi < 0.01,
        f"symmetric KL of the pooled log10 Φ_l (all layers) low vs high = {d_phi:.2f} nats, p_perm = "
        f"{p_phi:.2g}; median hidden-layer Φ: low {med_lo:.3g}, high {med_hi:.3g}"
        + (f" ({above} of {n_lo} low-accuracy networks above the high median: not monotone in accuracy)"
           if above else ""),
        "p_perm < 0.01 (group labels shuffled); the value is log10(median Φ_1 high / low)",
        "Nodes Strength and Layers Fluctuation separate low- from high-accuracy networks (no value in the "
        "abstract)", float(np.log10(med_hi / med_lo))))
    rel = phi / np.stack([r["phi_iid"] for r in rows])
    d_rel, p_rel = group_separation(rel, low, high)
    out.append(Finding(
        "... beyond the weights' scale (control)", p_rel < 0.01 and d_rel > d_std,
        f"KL of log10 std of each weight block = {d_std:.2f} nats (p_perm = {p_std:.2g}) against {d_phi:.2f} for "
        f"Φ{': the weights alone separate the groups too' if p_std < 0.01 else ''}; KL of Φ_l / Φ_l(i.i.d. "
        f"weights of the blocks' std) = {d_rel:.2f} nats (p_perm = {p_rel:.2g}); median hidden-layer ratio: low "
        f"{np.median(rel[low, 1]):.2f}, high {np.median(rel[high, 1]):.2f}",
        "the scale-free Φ separates (p_perm < 0.01) more than the weight std does",
        "the link-weights analysis alone does not distinguish them", d_rel - d_std))
    return out


def lamalfa_figures(ctx, out):
    from . import figures as F

    rows = _networks(ctx)
    low, high = ctx._cache.get("lamalfa_groups") or accuracy_split(
        [r["accuracy"] for r in rows], ctx.data.n_classes)
    plt = F._plt()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    runs = list(dict.fromkeys(r["run"] for r in rows))
    styles = F.distinct_styles(len(runs))
    group = np.where(low, "low", np.where(high, "high", "between"))
    for k, run in enumerate(runs):
        idx = [i for i, r in enumerate(rows) if r["run"] == run]
        s = np.array([rows[i]["scale"] for i in idx])
        a = np.array([rows[i]["accuracy"] for i in idx])
        phi = np.array([rows[i]["phi"][1] for i in idx])
        ws = np.array([rows[i]["wstd"].mean() for i in idx])
        rel = np.array([rows[i]["phi"][1] / rows[i]["phi_iid"][1] for i in idx])
        axes[0].plot(s, a, "o-", ms=4, color=styles[k]["color"], label=run)
        for ax, v in ((axes[1], phi), (axes[2], ws), (axes[3], rel)):
            for grp, marker in (("low", "v"), ("high", "^"), ("between", ".")):
                sel = group[idx] == grp
                ax.plot(a[sel], v[sel], marker, ms=6, color=styles[k]["color"],
                        label=f"{run}, {grp}" if ax is axes[1] else None)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("init scale (σ of normal, a of uniform)")
    axes[0].set_ylabel("test accuracy (fraction)")
    axes[0].legend(fontsize=7)
    axes[0].set_title("accuracy after one budget", fontsize=10)
    for ax, what in ((axes[1], "hidden-layer fluctuation Φ_1"), (axes[2], "weight std (mean of blocks)"),
                     (axes[3], "Φ_1 / Φ_1 of i.i.d. weights")):
        ax.set_yscale("log" if ax is not axes[3] else "linear")
        ax.set_xlabel("test accuracy (fraction)")
        ax.set_ylabel(what)
    axes[1].legend(fontsize=6, ncol=2)
    axes[1].set_title("layers fluctuation by accuracy group (▼ low, ▲ high)", fontsize=10)
    axes[2].set_title("control: weight std", fontsize=10)
    axes[3].set_title("control: fluctuation beyond the weights' scale", fontsize=10)
    fig.suptitle(f"La Malfa et al. reproduced: {len(rows)} networks", fontsize=10)
    fig.tight_layout()
    return [F._save(fig, out / "fluctuation.png")]


def _settings(n, hidden=None):
    s = {"seeds": list(range(n)), "init_scale": _scales(n)}
    return s if hidden is None else dict(s, hidden=hidden)


RECIPE = Recipe(
    paper="lamalfa", title="La Malfa et al.: layers fluctuation of an ensemble grouped by accuracy",
    preset="lamalfa-fc",
    steps={"tiny": 900, "small": 900, "full": 900},
    settings={"tiny": _settings(12, hidden=(32,)), "small": _settings(16), "full": _settings(32)},
    analysis={s: {"threshold": None, "metrics": ["layers_fluctuation"]} for s in ("tiny", "small", "full")},
    findings=lamalfa_findings, figures=lamalfa_figures, schedule=lambda total: [0, total],
    variants={"relu-uniform": {"init": "uniform"}, "tanh-normal": {"activation": "tanh"}})
