"""The seed papers' recipes for :mod:`deepcnt.bindings.reproduce`: settings, findings and figures, one paper each.

Training lengths are optimisation steps (mini-batch updates). The papers' own, on MNIST (60,000 items):
Testolin et al. 50 epochs × 600 batches of 100 = 30,000 CD-1 steps per layer; Zambra et al. 20 epochs of 1,875
batches of 32 = 37,500 steps (batch not stated); Shine et al. 100,000 epochs (the
batch size is not stated). On 2 CPU cores those are hours, so ``full`` runs fewer steps, chosen where the
finding has settled on the bundled digits (the values and the reasons are in ``docs/reproduce.rst``).
La Malfa et al.'s recipe (an ensemble of many init scales, three runs) is in :mod:`.reproduce_lamalfa`.
"""
import numpy as np

from .recipe import Finding, Recipe


def _first_last(df, column):
    df = df[df.member == df.member.min()].sort_values("entry")
    return float(df[column].iloc[0]), float(df[column].iloc[-1])


# ---------------------------------------------------------------------------------------------- Testolin et al.
def _layer_ends(epochs_per_layer, n_layers):
    """Save epoch 0 and four epochs in each layer's training, its last included (the DBN trains greedily)."""
    e = epochs_per_layer
    return sorted({0} | {l * e + max(1, round(k * e / 4)) for l in range(n_layers) for k in range(1, 5)})


def testolin_findings(ctx):
    """Testolin et al., sections 4.1–4.3 of the paper: the weights' mean shifts negative, the distribution becomes
    skewed, the visible units' strengths all turn negative (inhibitory), and the h1 receptive fields form
    clusters."""
    ep = ctx.epochs()
    m0, m1 = _first_last(ep, "weight_mean")
    means = [float(np.mean(w)) for w in ctx.store.read_arrays(len(ctx.store) - 1, member=0)[0]]
    per_layer = ", ".join(f"W{l + 1} {m:+.3f}" for l, m in enumerate(means))
    sk0, sk1 = _first_last(ep, "weight_skew")
    nodes = ctx.nodes()
    vis = nodes[(nodes.member == nodes.member.min()) & (nodes.layer == 0)]
    first, last = vis.entry.min(), vis.entry.max()
    neg0 = float((vis[vis.entry == first].strength < 0).mean())
    neg1 = float((vis[vis.entry == last].strength < 0).mean())
    return [
        Finding("mean weight shifts negative", m1 < m0 and m1 < 0,
                f"mean of all weights {m0:+.4f} → {m1:+.4f} (last epoch: {per_layer})",
                "the mean falls and ends below 0",
                "a clear shift of the mean toward negative values, mainly in W1 and W3 (Fig. 4; no value in the text)",
                m1 - m0),
        Finding("weight distribution becomes skewed", abs(sk1) > abs(sk0) + 0.1,
                f"skewness of all weights {sk0:+.3f} → {sk1:+.3f}",
                "|skewness| grows by more than 0.1",
                "no longer Gaussian, from an increase of the skewness (Fig. 4A–B)",
                abs(sk1) - abs(sk0)),
        Finding("visible units' strengths all negative", neg1 >= 0.9,
                f"visible units with strength s_i = Σ_j W1_ij < 0: {100 * neg0:.0f}% → {100 * neg1:.0f}%",
                "at least 90% negative at the end",
                "all negative: visible units act as inhibitors of h1 (§4.2, Fig. 5)",
                neg1 - neg0),
    ] + _rf_finding(ctx)


def _rf_clusters(ctx):
    """Testolin's clustering of the h1 receptive fields (EMD between their pebble distributions, hierarchical
    clustering of the EMD rows cut at 20 clusters) at the first and the last saved epoch, and each one's
    silhouette on the EMD distances; the last epoch's per-cluster topology on the graph thresholded at
    θ = 0.1 (the paper's). None where the input is not a square image."""
    if "rf" not in ctx._cache:
        import deepcnt
        from deepcnt.function.rfclusters import silhouette

        shape = tuple(ctx.data.image_shape)
        out = None
        if len(shape) == 2 and shape[0] * shape[1] == ctx.store.sizes[0]:
            out = {}
            for when, i in (("initial", 0), ("trained", len(ctx.store) - 1)):
                g = ctx.store.graph(i, member=0).threshold(0.1)
                res = deepcnt.receptive_field_clusters(g, 1, shape, emd="exact", min_size=2)
                res["silhouette"] = silhouette(res["emd"], res["clustering"].labels)
                res["epoch"] = ctx.store.epochs[i]
                out[when] = res
        ctx._cache["rf"] = out
    return ctx._cache["rf"]


def _rf_finding(ctx):
    """Testolin et al. §4.3: units with similar receptive fields group into clusters (Fig. 5)."""
    rf = _rf_clusters(ctx)
    if rf is None:
        return []
    s0, s1 = rf["initial"]["silhouette"], rf["trained"]["silhouette"]
    k = int(rf["trained"]["clustering"].labels.max())
    return [Finding("receptive fields form clusters of similar units", s1 > s0 and s1 > 0,
                    f"silhouette of the {k} EMD clusters of the h1 receptive fields on the EMD distances: "
                    f"{s0:+.3f} at epoch {rf['initial']['epoch']} → {s1:+.3f} at epoch {rf['trained']['epoch']}",
                    "the silhouette grows with training and ends above 0",
                    "units with a similar functional role fall in the same cluster (Fig. 5, by eye; 20 clusters)",
                    s1 - s0)]


def testolin_figures(ctx, out):
    from . import figures as F
    from .figures_rf import fig_receptive_fields, fig_rf_clusters

    figs = [F.fig_weights(ctx.store, out), F.fig_node_hist(ctx.nodes(), out, "strength")]
    rf = _rf_clusters(ctx)
    if rf is not None:
        figs += fig_rf_clusters(ctx.store, out, result=rf["trained"])
    return figs + list(fig_receptive_fields(ctx.store, out) or [])


# ---------------------------------------------------------------------------------------------- Shine et al.
def _acc_column(df):
    from .figures import ACCURACY

    return next(c for c in ACCURACY if c in df)


def _shine_periods(ctx):
    """Epochs, Q and accuracy of member 0, and the end of the early period: the first saved epoch where the test
    accuracy has made 90% of its gain (Shine et al.'s early period, epochs 1–14 on MNIST, ends where accuracy
    nears its asymptote)."""
    ep = ctx.epochs()
    ep = ep[ep.member == ep.member.min()].sort_values("entry")
    acc = ep[_acc_column(ep)].to_numpy(float)
    q = ep["modularity_q"].to_numpy(float)
    epochs = ep["epoch"].to_numpy(int)
    gain = acc.max() - acc[0]
    early_end = int(np.argmax(acc >= acc[0] + 0.9 * gain))
    return epochs, q, acc, max(early_end, 1)


def _across(ctx):
    """Member 0's chain of consensus partitions seeded by the previous epoch's (the ``communities`` table's
    modules) and its Q at every epoch; their consensus across epochs (one partition), its modules' layers and
    its Q at every epoch."""
    if "across" not in ctx._cache:
        import deepcnt

        nodes = ctx.nodes()
        nodes = nodes[nodes.member == nodes.member.min()].sort_values(["entry", "node"])
        chain = nodes.module.to_numpy().reshape(len(ctx.store), -1)
        labels = deepcnt.consensus_partitions(chain, 0.1, 10, 0)
        layers = [sorted(set(nodes.layer.to_numpy()[:chain.shape[1]][labels == c])) for c in range(labels.max() + 1)]
        g = ctx.store.stack(list(range(len(ctx.store))), member=0)
        ctx._cache["across"] = (labels, layers, np.atleast_1d(deepcnt.modularity(g, labels)),
                                np.atleast_1d(deepcnt.modularity(g, chain)))
    return ctx._cache["across"]


def _chain_finding(ctx):
    epochs, _, _, k = _shine_periods(ctx)
    q = _across(ctx)[3]
    early, late = float(np.median(q[:k + 1])), float(np.median(q[-3:]))
    return Finding("Q rises with the paper's seeding (each epoch's runs seeded by the previous consensus)",
                   late > early,
                   f"Q of the seeded chain {q[0]:.4f} at epoch 0, median {early:.4f} over epochs 0–{epochs[k]}, "
                   f"median {late:.4f} over the last 3 snapshots", "the last snapshots' median is above the "
                   "early median", "Q rises after the early period (Fig. 1D, with this seeding)", late - early)


def _across_finding(ctx):
    labels, layers, _, _ = _across(ctx)
    n_layers = len(ctx.store.sizes)
    big = [ls for c, ls in enumerate(layers) if (labels == c).sum() > 1]
    spanning = sum(len(ls) >= 2 for ls in big)
    return Finding("a consensus across epochs gives modules spanning the layers",
                   len(big) >= 2 and spanning == len(big),
                   f"{len(layers)} modules ({len(big)} of more than one node); layers each spans: "
                   + ", ".join(str(len(ls)) for ls in layers) + f" of {n_layers}",
                   "at least 2 modules of more than one node, each spanning at least 2 layers",
                   "10 clusters spanning all layers (consensus across all epochs)", float(spanning))


def shine_findings(ctx):
    """Shine et al. Fig. 1–2: Q flat while accuracy rises, then Q rises; the early edge change of the input
    weights tracks the pixels' information about the class."""
    import deepcnt

    epochs, q, acc, k = _shine_periods(ctx)
    # single snapshots' Q jitter (the consensus flips between 3 and 4 modules), so each period is its median
    q0, q_early, q_late = q[0], float(np.median(q[:k + 1])), float(np.median(q[-3:]))
    rise = q_late - q0
    out = [
        Finding("Q flat while accuracy rises (early period)", q_early - q0 < 0.5 * max(rise, 0.0),
                f"accuracy {acc[0]:.2f} → {acc[k]:.2f} by epoch {epochs[k]}; Q {q0:.4f} at epoch 0, median "
                f"{q_early:.4f} over epochs 0–{epochs[k]}, median {q_late:.4f} over the last 3 snapshots",
                "Q's early median rises by under half of its rise to the end",
                "epochs 1–14: accuracy rises with no noticeable change in Q (Fig. 1D–E)", q_early - q0),
        Finding("then Q rises", q_late > q_early,
                f"median Q {q_early:.4f} (epochs 0–{epochs[k]}) → {q_late:.4f} (last 3 snapshots, to epoch "
                f"{epochs[-1]})", "the last snapshots' median Q is above the early median",
                "epochs 15–700: an abrupt rise of Q, tracking accuracy (r = 0.981); it falls again after "
                "(not tested here)", q_late - q_early),
    ]
    out += [_chain_finding(ctx), _across_finding(ctx)]
    idx = [i for i, e in enumerate(ctx.store.epochs) if e <= epochs[k]]
    g = ctx.store.stack(idx)
    change = deepcnt.edge_change(g, block=0).sum(axis=0)
    ip = deepcnt.pixel_information(ctx.data.x_train, ctx.data.y_train)["IP"]
    ctx._cache["edge_change"] = (change, ip, epochs[k])
    r, p = deepcnt.pearson_permutation(change, ip, n_permutations=10_000, seed=0)
    out.append(Finding("early edge change tracks pixel information", r > 0.5 and p < 0.01,
                       f"Pearson r(Σ|ΔW| of each input's edges, epochs 0–{epochs[k]}; IP) = {r:.3f}, "
                       f"p_perm = {p:.1g}", "r > 0.5 with p_perm < 0.01",
                       "r = 0.965, p_perm < 1e-4 (Fig. 2C)", r))
    return out


def shine_figures(ctx, out):
    from . import figures as F

    plt = F._plt()
    epochs, q, acc, k = _shine_periods(ctx)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    ax = axes[0]
    ax.plot(epochs, acc, "o-", ms=3, color="C0")
    F._epoch_axis(ax, epochs)
    ax.set_ylabel("test accuracy (fraction)")
    ax.axvline(epochs[k], color="0.5", ls=":", lw=1)
    ax.set_title("accuracy (Fig. 1C)", fontsize=10)
    ax = axes[1]
    ax.plot(epochs, q, "s-", ms=3, color="C1", label="each epoch's consensus")
    _, _, q_across, q_chain = _across(ctx)
    if len(q_across) == len(epochs):
        ax.plot(epochs, q_chain, "-", lw=1, color="C3", label="consensus seeded by the previous epoch's")
        ax.plot(epochs, q_across, "-", lw=1, color="C7", label="the consensus across epochs, at every epoch")
    F._epoch_axis(ax, epochs)
    ax.set_ylabel("modularity Q")
    ax.axvline(epochs[k], color="0.5", ls=":", lw=1, label=f"end of early period (epoch {epochs[k]})")
    ax.legend(fontsize=7)
    ax.set_title("modularity (Fig. 1D)", fontsize=10)
    ax = axes[2]
    early = np.arange(len(q)) <= k
    ax.plot(acc[early], q[early], "o", ms=4, color="C9", label="early")
    ax.plot(acc[~early], q[~early], "s", ms=4, color="C4", label="later")
    ax.set_xlabel("test accuracy (fraction)")
    ax.set_ylabel("modularity Q")
    ax.legend(fontsize=7)
    ax.set_title("Q against accuracy (Fig. 1E)", fontsize=10)
    fig.suptitle(f"Shine et al. reproduced: member 0 of {ctx.store.n_members}", fontsize=10)
    fig.tight_layout()
    figs = [F._save(fig, out / "modularity.png")]

    change, ip, last = ctx._cache.get("edge_change") or (None, None, None)
    shape = tuple(ctx.data.image_shape)
    if change is not None and int(np.prod(shape)) == change.size:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
        for ax, v, title in ((axes[0], change, f"edge change Σ|ΔW|, epochs 0–{last}"),
                             (axes[1], ip, "pixel information IP (bits)")):
            im = ax.imshow(np.reshape(v, shape), cmap="viridis")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
            fig.colorbar(im, ax=ax, fraction=0.046)
        axes[2].plot(ip, change, "o", ms=3, color="C0")
        axes[2].set_xlabel("pixel information IP (bits)")
        axes[2].set_ylabel("edge change Σ|ΔW| (weight units)")
        axes[2].set_title("Fig. 2C", fontsize=10)
        fig.tight_layout()
        figs.append(F._save(fig, out / "edge_change.png"))
    return figs




# ---------------------------------------------------------------------------------------------- Zambra et al.
def _zambra_profiles(ctx):
    """The most significant colour class and its z of every 4-node shape (Zambra's "msm"), for the initial and
    the trained network of the main run (normal init) and of the variants (orthogonal init; normal init with
    another seed); the colour bins
    fitted on each scheme's initial and trained weights pooled (the paper's method)."""
    if "zambra" in ctx._cache:
        return ctx._cache["zambra"]
    import deepcnt
    from deepcnt.motifs.classes import SHAPES_4

    draws = {"tiny": 20, "small": 50, "full": 100}[ctx.size]
    out = {}
    for scheme, store in (("normal", ctx.store), *ctx.variants.items()):
        g0, g1 = store.graph(0, member=0), store.graph(len(store) - 1, member=0)
        bins = deepcnt.zambra_bins([g0, g1], exclusion_cutoff=0.1)
        for when, g in (("initial", g0), ("trained", g1)):
            sig = deepcnt.motif_significance(g, draws=draws, size=4, seed=0,
                                             colors=deepcnt.zambra_colors(g, bins=bins))
            best = deepcnt.most_significant(sig)
            out[scheme, when] = {s: best.get(s, (None, float("nan"))) for s in SHAPES_4}
    ctx._cache["zambra"] = out
    return out


def zambra_findings(ctx):
    """Zambra et al.: significant 4-node motifs emerge with training, and which ones depends on the
    initialisation scheme (against a control: the same scheme with another seed)."""
    prof = _zambra_profiles(ctx)
    shapes = list(prof["normal", "initial"])

    def n_significant(key):
        return sum(1 for s in shapes if prof[key][s][1] > 3)

    n0, n1 = n_significant(("normal", "initial")), n_significant(("normal", "trained"))
    def differ(x, y):
        return [s for s in shapes if prof[x, "trained"][s][0] != prof[y, "trained"][s][0]]

    by_init, by_seed = differ("normal", "orthogonal"), differ("normal", "normal-seed1")
    mz = {k: float(np.nanmean([prof[k, "trained"][s][1] for s in shapes])) for k, _ in prof}
    gap_init, gap_seed = abs(mz["normal"] - mz["orthogonal"]), abs(mz["normal"] - mz["normal-seed1"])
    return [
        Finding("significant 4-node motifs emerge with training", n1 > n0,
                f"4-node shapes whose most significant colour class has z > 3: {n0} of {len(shapes)} at init → "
                f"{n1} trained (normal init)", "more shapes with z > 3 after training",
                "motifs absent at init emerge with learning (z before vs after training)", float(n1 - n0)),
        Finding("the motifs depend on the initialisation", gap_init > gap_seed,
                f"mean z of the most significant classes, trained: normal {mz['normal']:.2f}, orthogonal "
                f"{mz['orthogonal']:.2f}, normal with another seed (the control) {mz['normal-seed1']:.2f}; shapes "
                f"whose most significant class differs: {len(by_init)} of {len(shapes)} between the schemes, "
                f"{len(by_seed)} between the seeds", "the mean z differs more between the schemes than between "
                "two seeds of one", "the most significant motifs and their z differ between normal, orthogonal "
                "and Glorot init", gap_init - gap_seed),
    ]


def zambra_figures(ctx, out):
    from . import figures as F

    prof = _zambra_profiles(ctx)
    plt = F._plt()
    keys = list(prof)
    shapes = list(prof[keys[0]])
    styles = F.distinct_styles(len(keys))
    fig, ax = plt.subplots(figsize=(10, 3.6))
    width = 0.8 / len(keys)
    x = np.arange(len(shapes))
    for i, key in enumerate(keys):
        z = [prof[key][s][1] for s in shapes]
        ax.bar(x + i * width, np.nan_to_num(z), width, color=styles[i]["color"], label=f"{key[0]} init, {key[1]}")
    ax.set_xticks(x + width * (len(keys) - 1) / 2, shapes, rotation=30, fontsize=8)
    ax.set_xlabel("4-node shape")
    ax.set_ylabel("z of the most significant colour class")
    ax.axhline(3, color="0.5", ls=":", lw=1)
    ax.legend(fontsize=7)
    ax.set_title("Zambra et al. reproduced: most significant motifs before and after training (0: undefined)",
                 fontsize=10)
    fig.tight_layout()
    return [F._save(fig, out / "motifs.png")]


_NONE = {"threshold": None}


def _shine_analysis(runs):
    """Shine et al.'s analysis: each epoch's Q that of the consensus of ``runs`` Louvain runs (``modularity``);
    the nodes' modules (``communities``) those of the paper's chain, each epoch's runs seeded with the previous
    epoch's consensus partition (runs that can still move), from which the findings take the consensus across
    epochs. (The chain's Q is not the ``modularity`` column: it stays where an early epoch's consensus put it,
    see docs/reproduce.rst.)"""
    return dict(_NONE, metrics=["modularity", "communities"],
                options={"modularity": {"runs": runs}, "communities": {"runs": runs, "init": "previous"}})


RECIPES = {
    "testolin": Recipe(
        paper="testolin",
        title="Testolin et al.: a DBN trained by CD-1 (weights, strengths and receptive-field clusters, §4.1–4.3)",
        preset="testolin-dbn",
        steps={"tiny": 60, "small": 750, "full": 3000},
        settings={"tiny": {"hidden": (40, 40, 60)}, "small": {}, "full": {}},
        analysis={s: dict(_NONE, metrics=["strength", "weight_moments"]) for s in ("tiny", "small", "full")},
        findings=testolin_findings, figures=testolin_figures,
        schedule=lambda total: _layer_ends(total // 3, 3)),
    "shine": Recipe(
        paper="shine", title="Shine et al.: an MLP trained by SGD (modularity and edge change, Fig. 1–2)",
        preset="shine-mlp",
        steps={"tiny": 2_000, "small": 22_500, "full": 135_000},
        settings={"tiny": {"hidden": (30, 30)}, "small": {}, "full": {}},
        analysis={size: _shine_analysis(runs) for size, runs in (("tiny", 20), ("small", 100), ("full", 500))},
        findings=shine_findings, figures=shine_figures, schedule=lambda total: "shine"),
    "zambra": Recipe(
        paper="zambra", title="Zambra et al.: coloured 4-node motifs of an MLP (before and after training)",
        preset="zambra-mlp",
        steps={"tiny": 4_000, "small": 12_000, "full": 37_500},
        settings={"tiny": {}, "small": {}, "full": {}},
        analysis={s: dict(_NONE, metrics=["weight_moments"]) for s in ("tiny", "small", "full")},
        findings=zambra_findings, figures=zambra_figures, schedule=lambda total: "log:10",
        variants={"orthogonal": {"init": "orthogonal"}, "normal-seed1": {"seeds": [1]}}),
}

from .reproduce_lamalfa import RECIPE as _LAMALFA  # noqa: E402  (its own module: the recipe is long)

RECIPES["lamalfa"] = _LAMALFA
