"""``deepcnt report``: PNG figures and one HTML page from a run and its analysis tables.

Figures (each only where its data exists): weight distributions per block across epochs, strength
distributions per layer across epochs, every per-epoch scalar against the epoch with accuracy beside it,
per-layer fluctuation, motif counts and z-scores, modularity Q, the P–z cartography, and layer-1 receptive
fields as images (square inputs). The page references only files that were written.
"""
import html
import json
import os
from pathlib import Path

import numpy as np

from deepcnt.errors import InputError

_ACCURACY = ("test_acc", "accuracy", "test_accuracy", "acc", "train_acc", "train_accuracy")
MAX_EPOCH_CURVES = 5


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pick_entries(n, k=MAX_EPOCH_CURVES):
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def _save(fig, path):
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90, bbox_inches="tight")
    _plt().close(fig)
    os.replace(tmp, path)
    return path


def fig_weights(store, out):
    """Histogram of every block's weights at up to five epochs (first to last)."""
    plt = _plt()
    entries = _pick_entries(len(store))
    L = len(store.sizes) - 1
    fig, axes = plt.subplots(1, L, figsize=(4 * L, 3), squeeze=False)
    for i in entries:
        ws, _ = store.read_arrays(i, member=0)
        for l, w in enumerate(ws):
            axes[0, l].hist(np.ravel(w), bins=80, histtype="step", density=True, label=f"epoch {store.epochs[i]}")
    for l in range(L):
        axes[0, l].set_title(f"W{l + 1}: {store.layer_names[l]} → {store.layer_names[l + 1]}")
        axes[0, l].set_xlabel("weight")
    axes[0, 0].set_ylabel("density")
    axes[0, -1].legend(fontsize=7)
    return _save(fig, out / "weights.png")


def fig_strength(nodes, out, column="strength"):
    """Histogram of a per-node metric per layer at up to five epochs."""
    if column not in nodes:
        return None
    plt = _plt()
    df = nodes[nodes.member == nodes.member.min()]
    entries = sorted(df.entry.unique())
    pick = [entries[i] for i in _pick_entries(len(entries))]
    layers = sorted(df.layer.unique())
    fig, axes = plt.subplots(1, len(layers), figsize=(3.5 * len(layers), 3), squeeze=False)
    for e in pick:
        sub = df[df.entry == e]
        for k, l in enumerate(layers):
            v = sub[sub.layer == l][column].to_numpy()
            axes[0, k].hist(v, bins=40, histtype="step", density=True, label=f"epoch {sub.epoch.iloc[0]}")
    for k, l in enumerate(layers):
        axes[0, k].set_title(f"{column}, layer {df[df.layer == l].layer_name.iloc[0]}")
    axes[0, -1].legend(fontsize=7)
    return _save(fig, out / f"{column}_per_layer.png")


def fig_scalars(epochs, out):
    """Every numeric per-epoch column against the epoch (mean over members), accuracy on a twin axis."""
    plt = _plt()
    skip = {"member", "entry", "epoch"}
    from pandas.api.types import is_numeric_dtype

    # motif counts have figures of their own
    cols = [c for c in epochs.columns
            if c not in skip and not c.startswith("motif_") and is_numeric_dtype(epochs[c])]
    acc = next((c for c in _ACCURACY if c in epochs), None)
    mean = epochs.groupby("epoch")[cols].mean(numeric_only=True)
    ncol = 3
    nrow = int(np.ceil(len(cols) / ncol)) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.6 * nrow), squeeze=False)
    for ax, c in zip(axes.ravel(), cols):
        ax.plot(mean.index, mean[c], color="C0", marker=".", ms=3)
        ax.set_title(c, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        if acc and c != acc:
            tw = ax.twinx()
            tw.plot(mean.index, mean[acc], color="C3", alpha=0.5, lw=1)
            tw.set_ylabel(acc, color="C3", fontsize=7)
    for ax in axes.ravel()[len(cols):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, out / "per_epoch.png")


def _motif_columns(epochs, signed):
    cols = [c for c in epochs.columns if c.startswith("motif_") and not c.startswith("motif_total")]
    return [c for c in cols if ("[" in c) == signed]


def fig_motifs(epochs, out):
    """The uncoloured motif classes' counts against the epoch (log scale)."""
    cols = _motif_columns(epochs, signed=False)
    if not cols:
        return None
    plt = _plt()
    mean = epochs.groupby("epoch")[cols].mean(numeric_only=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    for c in cols:
        if (mean[c] > 0).any():
            ax.plot(mean.index, mean[c], label=c[len("motif_"):])
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("count")
    ax.set_title("motif counts (connected induced subgraphs)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, out / "motifs.png")


def fig_signed_motifs(epochs, out):
    """Each sign (colour) variant's share of its shape, per epoch: a heat map, one row per class."""
    cols = _motif_columns(epochs, signed=True)
    if not cols:
        return None
    plt = _plt()
    mean = epochs.groupby("epoch")[cols].mean(numeric_only=True)
    shape = [c[len("motif_"):].split("[")[0] for c in cols]
    share = mean.copy()
    for sh in sorted(set(shape)):
        group = [c for c, s_ in zip(cols, shape) if s_ == sh]
        total = mean[group].sum(axis=1).replace(0, np.nan)
        share[group] = mean[group].div(total, axis=0)
    fig, ax = plt.subplots(figsize=(8, max(4, 0.12 * len(cols))))
    im = ax.imshow(share.T.fillna(0).to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1,
                   extent=(mean.index.min() - 0.5, mean.index.max() + 0.5, len(cols) - 0.5, -0.5))
    ax.set_yticks(range(len(cols)))
    ax.set_yticklabels([c[len("motif_"):] for c in cols], fontsize=5)
    ax.set_xlabel("epoch")
    ax.set_title("sign variants: share of their shape's count")
    fig.colorbar(im, ax=ax, label="share")
    return _save(fig, out / "motifs_signed.png")


def fig_prefixed(epochs, out, prefix, title, name):
    """Per-epoch columns starting with ``prefix`` (e.g. motif z-scores) on one plot."""
    cols = [c for c in epochs.columns if c.startswith(prefix)]
    if not cols:
        return None
    plt = _plt()
    mean = epochs.groupby("epoch")[cols].mean(numeric_only=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    for c in cols:
        ax.plot(mean.index, mean[c], label=c[len(prefix):] or c)
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, out / name)


def fig_cartography(nodes, out):
    """The P–z plane of the last epoch (Guimerà–Amaral): participation against module-degree z-score."""
    pcol = next((c for c in nodes.columns if c.startswith("participation")), None)
    zcol = next((c for c in nodes.columns if c.startswith("module_z") or c.startswith("zscore")), None)
    if not pcol or not zcol:
        return None
    plt = _plt()
    df = nodes[(nodes.member == nodes.member.min()) & (nodes.entry == nodes.entry.max())]
    fig, ax = plt.subplots(figsize=(5, 4))
    sc = ax.scatter(df[pcol], df[zcol], c=df.layer, s=6, cmap="viridis")
    ax.axhline(2.5, color="grey", lw=0.5)
    ax.set_xlabel(pcol)
    ax.set_ylabel(zcol)
    ax.set_title(f"P–z cartography, epoch {df.epoch.iloc[0]}")
    fig.colorbar(sc, label="layer")
    return _save(fig, out / "cartography.png")


def fig_receptive_fields(store, out, n_show=64):
    """Layer-1 receptive fields (columns of W1) as images, min to max grey, first and last epoch."""
    n0 = store.sizes[0]
    side = int(round(np.sqrt(n0)))
    if side * side != n0:
        return None
    plt = _plt()
    figs = []
    for i in sorted({0, len(store) - 1}):
        W1 = store.read_arrays(i, member=0)[0][0]
        k = min(n_show, W1.shape[1])
        cols = int(np.ceil(np.sqrt(k)))
        fig, axes = plt.subplots(cols, cols, figsize=(cols * 0.8, cols * 0.8))
        for j, ax in enumerate(np.ravel(axes)):
            ax.axis("off")
            if j < k:
                ax.imshow(W1[:, j].reshape(side, side), cmap="gray")
        fig.suptitle(f"receptive fields of {store.layer_names[1]}, epoch {store.epochs[i]}", fontsize=8)
        figs.append(_save(fig, out / f"receptive_fields_epoch{store.epochs[i]}.png"))
    return figs


def fig_rf_clusters(store, out, threshold=0.1):
    """Testolin's receptive-field clustering of layer 1 at the last epoch: the dendrogram (cut at 20
    clusters) and each cluster's mean receptive field. Exact EMD over all cores (spec §7, §15)."""
    import deepcnt
    from scipy.cluster.hierarchy import dendrogram

    n0 = store.sizes[0]
    side = int(round(np.sqrt(n0)))
    if side * side != n0:
        return []
    i = len(store) - 1
    g = store.graph(i, member=0).threshold(threshold)
    res = deepcnt.receptive_field_clusters(g, 1, (side, side), emd="exact", min_size=2)
    cl = res["clustering"]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    dendrogram(cl.Z, ax=ax, truncate_mode="lastp", p=20, no_labels=False, color_threshold=None)
    ax.set_title(f"receptive fields of {store.layer_names[1]}, epoch {store.epochs[i]}: EMD clustering "
                 f"(Testolin), {int(cl.labels.max())} clusters")
    ax.set_ylabel("distance")
    figs = [_save(fig, out / "rf_dendrogram.png")]
    k = int(cl.labels.max())
    fig, axes = plt.subplots(1, k, figsize=(1.1 * k, 1.4), squeeze=False)
    for c in range(1, k + 1):
        ax = axes[0, c - 1]
        ax.imshow(res["rf"][cl.labels == c].mean(axis=0).reshape(side, side), cmap="gray")
        ax.set_title(f"{c} (n={int((cl.labels == c).sum())})", fontsize=6)
        ax.axis("off")
    figs.append(_save(fig, out / "rf_cluster_means.png"))
    return figs


def report(run, analysis=None, out=None, rf_clusters=False):
    """Write the figures and ``index.html`` for ``run``; returns the path of the HTML page.

    Parameters
    ----------
    run : str or Path
        The epoch store.
    analysis : str or Path, optional
        The output of ``deepcnt analyze`` (default ``<run>/analysis``).
    out : str or Path, optional
        Where to write (default ``<analysis>/report``).
    rf_clusters : bool
        Also cluster layer 1's receptive fields at the last epoch by EMD (Testolin's recipe) and draw the
        dendrogram: exact EMD of every pair of units, minutes for a few hundred units.
    """
    from deepcnt.runs.pipeline import Analysis
    from deepcnt.runs.store import EpochStore

    run = Path(run)
    if not run.exists():
        raise InputError(f"run {run} does not exist")
    analysis = run / "analysis" if analysis is None else Path(analysis)
    if not (analysis / "meta.json").exists():
        raise InputError(f"{analysis} holds no analysis: run `deepcnt analyze {run}` first")
    out = analysis / "report" if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    a = Analysis(analysis, 0, 0)
    nodes, epochs, meta = a.nodes(), a.epochs(), a.metadata()
    store = EpochStore.open(run)
    try:
        figures = [
            (fig_weights(store, out), "Weight distribution of every block across epochs"),
            (fig_strength(nodes, out, "strength"), "Net strength per layer across epochs"),
            (fig_strength(nodes, out, "degree"), "Degree per layer across epochs"),
            (fig_scalars(epochs, out), "Every per-epoch quantity against the epoch (accuracy in red)"),
            (fig_prefixed(epochs, out, "motifz_", "motif z-scores", "motif_z.png"), "Motif z-scores"),
            (fig_motifs(epochs, out), "Motif counts of the 13 layered classes"),
            (fig_signed_motifs(epochs, out), "Sign variants of each motif class as shares of the class"),
            (fig_cartography(nodes, out), "Participation vs module-degree z-score (last epoch)"),
        ]
        rfs = fig_receptive_fields(store, out) or []
        figures += [(p, "Receptive fields (columns of W1)") for p in rfs]
        if rf_clusters:
            thr = meta.get("threshold", {})
            theta = thr.get("theta", 0.1) if thr.get("mode") == "abs" else 0.1
            figures += [(p, "Receptive-field clusters (EMD, Testolin's recipe)")
                        for p in fig_rf_clusters(store, out, theta)]
        store_meta = store.metadata
    finally:
        store.close()
    figures = [(Path(p), cap) for p, cap in figures if p is not None]
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
                   for k, v in list(meta.items()) + [("store", store_meta)])
    body = "".join(f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(cap)}">'
                   f"<figcaption>{html.escape(cap)}</figcaption></figure>" for p, cap in figures)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>deepcnt report: {html.escape(run.name)}"
            "</title><style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
            "figure{margin:1em 0;border-bottom:1px solid #ddd}th{text-align:left;padding-right:1em}</style>"
            f"</head><body><h1>deepcnt report: {html.escape(run.name)}</h1>"
            f"<p>{len(epochs)} epoch rows, {len(nodes)} node rows.</p><table>{rows}</table>{body}</body></html>")
    index = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(page)
    os.replace(tmp, index)
    return index
