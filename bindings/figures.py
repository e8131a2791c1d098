"""The report's figures: one function per PNG, each returning the path it wrote (None where its data is absent).

Conventions every figure keeps: both axes labelled; no colour used twice within a plot
(:func:`distinct_styles`); layers are categories, shown in a legend under the model's layer names; an ensemble is
drawn as its mean with a min–max band and the number of members stated (:func:`ensemble_band`), and a figure
that can only show one member (a distribution, a receptive field) says which one.
"""
import os

import numpy as np

from deepcnt.communities.roles import HUB_P, HUB_Z, NONHUB_P, ROLE_NAMES

MAX_EPOCH_CURVES = 5
#: The accuracy column drawn beside every per-epoch quantity, the first of these present.
ACCURACY = ("test_acc", "accuracy", "test_accuracy", "acc", "train_acc", "train_accuracy")
_ACC_STYLE = dict(color="0.35", linestyle=":", lw=1)  # grey: not one of distinct_styles' colours
_MARKERS = "os^vD<>phX*P"
_LINESTYLES = ("-", "--", "-.", ":")
_LABELS = {
    "n_edges": "kept edges (count)", "modularity_q": "modularity Q", "n_modules": "modules (count)",
    "weight_mean": "weight mean", "weight_std": "weight s.d.", "weight_skew": "weight skewness",
    "weight_kurtosis": "weight excess kurtosis", "layers_fluctuation": "strength fluctuation (s.d.)",
    "strength": "net strength  Σ w", "degree": "degree (kept edges)",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    """Write ``fig`` to ``path`` atomically (a hidden temporary, then a rename) and close it."""
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        _plt().close(fig)
        tmp.unlink(missing_ok=True)
    return path


def label(column):
    """The axis label of a table column: a description with its unit where one is known, else the name."""
    acc = column.endswith("_acc") or column in ACCURACY
    return f"{column} (fraction)" if acc else _LABELS.get(column, column)


def distinct_styles(n):
    """``n`` line styles (``color``, ``linestyle``, ``marker``) in which no colour repeats for ``n <= 20``.

    The colours are tab20's, its ten dark shades first; beyond 20 the colour repeats with another line style, so
    every (colour, line style) pair stays unique up to 80. Markers tell the light shade of a hue from its dark one.
    """
    import matplotlib.colors as mcolors

    tab20 = _plt().get_cmap("tab20").colors
    colors = [mcolors.to_hex(tab20[i]) for i in list(range(0, 20, 2)) + list(range(1, 20, 2))]
    return [dict(color=colors[i % 20], linestyle=_LINESTYLES[(i // 20) % 4], marker=_MARKERS[i % len(_MARKERS)])
            for i in range(n)]


#: Training settings a preset may give per member (lamalfa-fc's init scales): members that differ in one form a
#: sweep, not replicates, and are drawn one curve each rather than averaged.
SWEEPABLE = ("init_scale", "init", "activation", "lr", "momentum", "weight_decay")


def member_sweep(metadata, n_members):
    """Each member's label (``"init_scale=0.05"``) when the members differ in a training setting, else None.

    Parameters
    ----------
    metadata : dict
        The epoch store's metadata (``config`` as ``deepcnt train`` writes it).
    n_members : int
    """
    cfg = (metadata or {}).get("config", {})
    keys = [k for k in SWEEPABLE if isinstance(cfg.get(k), (list, tuple)) and len(set(map(str, cfg[k]))) > 1]
    if n_members < 2 or not keys:
        return None
    return [", ".join(f"{k}={cfg[k][m % len(cfg[k])]}" for k in keys) for m in range(n_members)]


def ensemble_band(df, columns):
    """Mean and min–max band over the ensemble members of each epoch.

    Parameters
    ----------
    df : DataFrame
        One row per (member, epoch), with ``epoch`` and optionally ``member`` columns.
    columns : list of str

    Returns
    -------
    mean, lo, hi : DataFrame
        Indexed by epoch, one column per entry of ``columns`` (``lo == hi == mean`` for one member).
    n_members : int
    """
    g = df.groupby("epoch")[list(columns)]
    n = int(df["member"].nunique()) if "member" in df else 1
    return g.mean(), g.min(), g.max(), n


def ensemble_note(n):
    """What a curve of ``n`` members shows, for a title."""
    return f"mean of {n} members, band min–max" if n > 1 else "1 member"


def member_note(store_or_n, member=0, sweep=None):
    """Which member a one-member figure shows, for a title (empty when the run has one member).

    ``store_or_n`` is an epoch store (its sweep read from its metadata) or a member count (``sweep`` given).
    """
    n = getattr(store_or_n, "n_members", store_or_n)
    if hasattr(store_or_n, "metadata"):
        sweep = member_sweep(store_or_n.metadata, n)
    return (f", member {member} of {n}" + (f" ({sweep[member]})" if sweep else "")) if n > 1 else ""


def _band(ax, mean, lo, hi, n, style, name=None, markevery=None):
    x = mean.index.to_numpy()
    ax.plot(x, mean.to_numpy(), label=name, ms=3, lw=1.3, markevery=markevery, **style)
    if n > 1:
        ax.fill_between(x, lo.to_numpy(dtype=float), hi.to_numpy(dtype=float), color=style["color"], alpha=0.18,
                        lw=0)


def log_spaced(epochs):
    """Whether the positive saved epochs are closer to geometric than to arithmetic spacing (Shine's 64
    log-spaced snapshots, ``log:N`` schedules): at least 4 of them, spanning a factor of 10 or more."""
    e = np.unique(np.asarray(epochs, dtype=float))
    e = e[e > 0]
    if len(e) < 4 or e[-1] / e[0] < 10:
        return False

    def cv(d):
        return np.std(d) / np.mean(d)

    return bool(cv(np.diff(np.log(e))) < cv(np.diff(e)))


def _member_legend(fig, ax, sweep):
    """Lay the figure out; for a sweep, one legend of the members (their colours) right of the panels."""
    if not sweep:
        fig.tight_layout()
        return
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    fig.legend(*ax.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(0.86, 0.95), fontsize=7,
               title="member", title_fontsize=7)


def _epoch_axis(ax, epochs):
    """Label the epoch axis; a symmetric-log scale for log-spaced schedules (Shine's 64 of 100,000)."""
    e = np.asarray(sorted(set(epochs)), dtype=float)
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    if log_spaced(e):
        ax.set_xscale("symlog", linthresh=1)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlim(e[0], e[-1] * 1.05)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def _same_as(values, seen):
    """The epoch of an already drawn, identical array in ``seen`` ([(epoch, arrays)]), else None."""
    for e, prev in seen:
        if len(prev) == len(values) and all(np.array_equal(a, b) for a, b in zip(prev, values)):
            return e
    return None


def _epoch_label(epoch, same):
    return f"epoch {epoch}" if same is None else f"epoch {epoch} (= epoch {same})"


def _pick_entries(n, k=MAX_EPOCH_CURVES):
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def _hist(ax, v, style, epoch, same):
    """A step histogram of ``v`` (integer bins for integer values); dashed and named when it repeats ``same``."""
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    integer = v.size and np.all(v == np.round(v)) and v.max() - v.min() <= 80
    bins = np.arange(v.min(), v.max() + 2) - 0.5 if integer else int(np.clip(2 * np.sqrt(v.size), 10, 60))
    ls = "-" if same is None else "--"
    if integer:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one value: one tick
    ax.hist(v, bins=bins, histtype="step", density=True, label=_epoch_label(epoch, same), color=style["color"],
            linestyle=ls, lw=1.2)


def _stored_weights(w):
    """The weights a store keeps of one block, flat: a dense block's or a kernel's entries, a diagonal, a sparse
    block's stored entries (its kept edges); None for a block without parameters (identity, pooling)."""
    from deepcnt.model.sparse import SparseBlock

    if w is None:
        return None
    if isinstance(w, SparseBlock):
        p = np.asarray(w.indptr)
        return np.asarray(w.data)[p[0, 0]:p[-1, -1]]
    return np.ravel(w)


PANELS_PER_ROW = 5  #: panels in a row of the per-layer and per-block figures; more wrap into further rows


def _panel_grid(plt, n, width, height):
    """A figure of ``n`` panels (``width × height`` inches each) in rows of :data:`PANELS_PER_ROW`: its ``n`` axes
    in reading order; the unused cells of the last row are switched off."""
    ncol = min(n, PANELS_PER_ROW)
    nrow = -(-n // ncol)
    fig, grid = plt.subplots(nrow, ncol, figsize=(width * ncol, height * nrow), squeeze=False)
    axes = grid.ravel()
    for ax in axes[n:]:
        ax.axis("off")
    return fig, list(axes[:n])


#: Characters of a panel title's line (a panel is 4 inches wide): longer module paths keep their end.
TITLE_LINE = 44


def panel_title(*parts, lead=""):
    """A panel's title from ``parts`` on one line after ``lead`` (``"W3: "``), or on one line each where that is
    too long; a line still too long keeps its end (``…layers.11.mlp.c_fc``: the specific part of a module path)
    and the first keeps its ``lead``."""
    if len(lead + " ".join(parts)) <= TITLE_LINE:
        return lead + " ".join(parts)
    room = [TITLE_LINE - (len(lead) if i == 0 else 0) for i in range(len(parts))]
    return lead + "\n".join(p if len(p) <= r else "…" + p[-(r - 1):] for p, r in zip(parts, room))


def fig_weights(store, out, member=0):
    """Histogram of every block's weights at up to five epochs (first to last) of one member (the blocks that
    have weights: not an identity skip or a pooling layer)."""
    plt = _plt()
    entries = _pick_entries(len(store))
    keep = [l for l, sp in enumerate(store.block_specs) if not sp or sp.get("kind") not in ("pool", "identity")]
    if not keep:
        return None
    B = len(keep)
    fig, axes = _panel_grid(plt, B, 4, 3.2)
    styles = distinct_styles(len(entries))
    seen = [[] for _ in range(B)]
    for k, i in enumerate(entries):
        e = store.epochs[i]
        ws = store.read_arrays(i, member=member)[0]
        for c, l in enumerate(keep):
            w = _stored_weights(ws[l])
            _hist(axes[c], w, styles[k], e, _same_as([w], seen[c]))
            seen[c].append((e, [w]))
    names = store.layer_names
    for c, ax in enumerate(axes):
        i, j = store.pairs[keep[c]]
        ax.set_title(panel_title(f"{names[i]} →", names[j], lead=f"W{keep[c] + 1}: "), fontsize=9)
        ax.locator_params(axis="x", nbins=5)
        ax.set_xlabel("weight w")
        ax.set_ylabel("density (1 / unit of w)")
        ax.legend(fontsize=6)
    fig.suptitle(f"weight distributions{member_note(store, member)}", fontsize=10)
    fig.tight_layout()
    return _save(fig, out / "weights.png")


def fig_node_hist(nodes, out, column="strength", sweep=None):
    """Histogram of a per-node metric per layer at up to five epochs, of the first member (``sweep``: each
    member's setting, :func:`member_sweep`)."""
    if column not in nodes:
        return None
    plt = _plt()
    member = int(nodes.member.min())
    n = int(nodes.member.nunique())
    df = nodes[nodes.member == member]
    entries = sorted(df.entry.unique())
    pick = [entries[i] for i in _pick_entries(len(entries))]
    layers = sorted(df.layer.unique())
    fig, axes = _panel_grid(plt, len(layers), 4, 3.2)
    styles = distinct_styles(len(pick))
    seen = [[] for _ in layers]
    for k, e in enumerate(pick):
        sub = df[df.entry == e]
        epoch = int(sub.epoch.iloc[0])
        for ax, l, prev in zip(axes, layers, seen):
            v = sub[sub.layer == l][column].to_numpy()
            _hist(ax, v, styles[k], epoch, _same_as([v], prev))
            prev.append((epoch, [v]))
    for ax, l in zip(axes, layers):
        ax.set_title(panel_title(str(df[df.layer == l].layer_name.iloc[0]), lead="layer "), fontsize=9)
        ax.set_xlabel(label(column))
        ax.set_ylabel("density")
        ax.legend(fontsize=6)
    fig.suptitle(f"{column} per layer{member_note(n, member, sweep)}", fontsize=10)
    fig.tight_layout()
    return _save(fig, out / f"{column}_per_layer.png")


def _scalar_panels(epochs, layer_names):
    """Panels of the per-epoch figure: [(y label, [(column, legend name or None)])]; per-layer columns
    ``<metric>_<layer name>`` share one panel with the layers as a legend."""
    from pandas.api.types import is_numeric_dtype

    skip = {"member", "entry", "epoch", "layer"}
    cols = [c for c in epochs.columns if c not in skip and not c.startswith(("motif_", "motifz_"))
            and is_numeric_dtype(epochs[c]) and epochs[c].notna().any()]
    panels, grouped = [], {}
    for c in cols:
        layer = next((n for n in layer_names if c.endswith("_" + n)), None)
        if layer is None:
            panels.append((c, [(c, None)]))
            continue
        base = c[: -len(layer) - 1]
        if base not in grouped:
            grouped[base] = []
            panels.append((base, grouped[base]))
        grouped[base].append((c, layer))
    return panels


#: A panel with more layers than this colours them by depth with a colour bar (a legend would not fit).
LEGEND_LAYERS = 12


def _depth_styles(n):
    """``n`` thin lines coloured input (dark) to output (yellow) along viridis."""
    cmap = _plt().get_cmap("viridis")
    return [dict(color=cmap(k / max(n - 1, 1)), linestyle="-") for k in range(n)]


def _depth_bar(fig, ax, group):
    """The colour bar of :func:`_depth_styles`: first and last layer named at its ends."""
    plt = _plt()
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(0, len(group) - 1))
    bar = fig.colorbar(sm, ax=ax, pad=0.02, fraction=0.05)
    bar.set_ticks([0, len(group) - 1])
    bar.ax.set_yticklabels([panel_title(group[0][1])[-14:], panel_title(group[-1][1])[-14:]], fontsize=6)
    bar.ax.set_title(f"{len(group)}\nlayers", fontsize=6)  # above the bar: a side label meets the next panel


def fig_scalars(epochs, out, layer_names=(), sweep=None):
    """Every numeric per-epoch column against the epoch, accuracy on a twin axis.

    An ensemble of replicates is drawn as its mean and band; members of a sweep (``sweep``: one label per member,
    from :func:`member_sweep`) one curve each, without the twin axis (their accuracies have panels of their own).
    """
    plt = _plt()
    from matplotlib.lines import Line2D

    panels = _scalar_panels(epochs, layer_names)
    if not panels:
        return None
    acc = next((c for c in ACCURACY if c in epochs and epochs[c].notna().any()), None)
    cols = [c for _, group in panels for c, _ in group]
    mean, lo, hi, n = ensemble_band(epochs, cols + ([acc] if acc and acc not in cols else []))
    ncol = 3
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 2.8 * nrow), squeeze=False)
    sweep = sweep if n > 1 else None
    members = sorted(epochs.member.unique()) if sweep else []
    mstyles = distinct_styles(len(members))
    for ax, (name, group) in zip(axes.ravel(), panels):
        if sweep:  # colour: the member (one legend for the figure); line style: the layer
            for k, (c, layer) in enumerate(group):
                for m, st in zip(members, mstyles):
                    d = epochs[epochs.member == m].groupby("epoch")[c].mean()
                    ax.plot(d.index, d.to_numpy(), ms=3, lw=1.3, label=sweep[m] if k == 0 else None,
                            **dict(st, marker=".", linestyle=_LINESTYLES[k % 4]))
            if 1 < len(group) <= len(_LINESTYLES):  # beyond four layers line styles repeat: no layer legend
                ax.legend([Line2D([], [], color="k", linestyle=_LINESTYLES[k % 4]) for k in range(len(group))],
                          [layer for _, layer in group], fontsize=6, title="layer", title_fontsize=6)
        deep = len(group) > LEGEND_LAYERS  # a deep network: colour by depth, a colour bar for a legend
        for (c, layer), st in zip(group, (_depth_styles(len(group)) if deep else distinct_styles(len(group)))
                                  if not sweep else ()):
            _band(ax, mean[c], lo[c], hi[c], n, dict(st, marker="." if not deep else None), layer)
        if deep and not sweep:
            _depth_bar(fig, ax, group)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(label(name), fontsize=8)
        _epoch_axis(ax, mean.index)
        ax.xaxis.label.set_fontsize(8)
        if 1 < len(group) <= LEGEND_LAYERS and not sweep:
            ax.legend(fontsize=6, title="layer", title_fontsize=6)
        if acc and name != acc and not sweep:
            tw = ax.twinx()
            tw.plot(mean.index, mean[acc], **_ACC_STYLE)
            tw.set_ylabel(acc + " (dotted)", color=_ACC_STYLE["color"], fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    what = f"{n} members, one colour each" if sweep else ensemble_note(n)
    fig.suptitle(f"per-epoch quantities ({what})", fontsize=10)
    _member_legend(fig, axes[0, 0], sweep)
    return _save(fig, out / "per_epoch.png")


def motif_columns(epochs, prefix="motif_", signed=False):
    """The motif class columns of ``epochs`` with ``prefix`` (totals excluded), uncoloured or sign variants."""
    cols = [c for c in epochs.columns if c.startswith(prefix) and not c.startswith("motif_total")]
    return [c for c in cols if ("[" in c) == signed]


def fig_motif_lines(epochs, out, prefix, ylabel, title, name, log=False, sweep=None):
    """The motif classes against the epoch. One member: one line per class (distinct colours) on one plot (``log``:
    a log y axis). An ensemble: one panel per class (overlapping bands are unreadable) with the mean and band of
    replicates, or one curve per member of a ``sweep`` (one colour each, one legend)."""
    cols = motif_columns(epochs, prefix)
    cols = [c for c in cols if epochs[c].notna().any() and not (log and (epochs[c] <= 0).all())]
    if not cols:
        return None
    plt = _plt()
    mean, lo, hi, n = ensemble_band(epochs, cols)
    every = max(1, len(mean) // 8)
    styles = distinct_styles(len(cols))
    if n == 1:
        fig, ax = plt.subplots(figsize=(8.5, 4.2))
        axes = [ax] * len(cols)
    else:
        ncol = 4
        nrow = int(np.ceil(len(cols) / ncol))
        fig, grid = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.4 * nrow + 0.4), squeeze=False,
                                 sharex=True, sharey=not log)
        axes = grid.ravel()
        for ax in axes[len(cols):]:
            ax.axis("off")
    members = sorted(epochs.member.unique()) if "member" in epochs else [0]
    sweep = sweep if n > 1 else None
    for ax, c, st in zip(axes, cols, styles):
        if sweep:
            for m, mst in zip(members, distinct_styles(len(members))):
                d = epochs[epochs.member == m].groupby("epoch")[c].mean()
                ax.plot(d.index, d.to_numpy(), label=sweep[m], ms=3, lw=1.2, markevery=every, **mst)
        else:
            _band(ax, mean[c], lo[c], hi[c], n, st, c[len(prefix):], markevery=every)
    for ax, c in zip(axes[:len(cols)] if n > 1 else axes[:1], cols):
        if not log:
            ax.axhline(0, color="0.6", lw=0.6)
        elif n == 1:  # the classes span decades on one plot; a panel each spans a narrow range
            ax.set_yscale("log")
        _epoch_axis(ax, mean.index)
        ax.set_ylabel(ylabel, fontsize=8 if n > 1 else 10)
        if n > 1:
            ax.set_title(c[len(prefix):], fontsize=9)
            ax.xaxis.label.set_fontsize(8)
            ax.tick_params(labelbottom=True, labelsize=7)
    note = f"{n} members, one colour each" if sweep else ensemble_note(n)
    if n == 1:
        axes[0].set_title(f"{title} ({note})", fontsize=10)
        axes[0].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), title="class", title_fontsize=7)
    else:
        fig.suptitle(f"{title} ({note})", fontsize=10)
        _member_legend(fig, axes[0], sweep)
    return _save(fig, out / name)


def signed_shares(epochs):
    """Each sign variant's share of its class per epoch (ensemble mean of the counts first).

    Returns
    -------
    dict
        class name -> DataFrame indexed by epoch, one column per variant (its sign string), rows summing to 1
        (NaN where the class has no instance).
    """
    import pandas as pd

    cols = motif_columns(epochs, signed=True)
    mean = epochs.groupby("epoch")[cols].mean()
    out = {}
    for c in cols:
        shape, variant = c[len("motif_"):].split("[", 1)
        out.setdefault(shape, {})["[" + variant] = mean[c]
    res = {}
    for shape, d in out.items():
        df = pd.DataFrame(d)
        res[shape] = df.div(df.sum(axis=1).replace(0, np.nan), axis=0)
    return res


def fig_signed_motifs(epochs, out):
    """The sign variants of each motif class as shares of the class: one small heat map per class."""
    shares = signed_shares(epochs)
    absent = [k for k, df in shares.items() if df.isna().all().all()]
    shares = {k: df for k, df in shares.items() if k not in absent}
    if not shares:
        return None
    plt = _plt()
    n = int(epochs["member"].nunique()) if "member" in epochs else 1
    ncol = 4
    nrow = int(np.ceil(len(shares) / ncol))
    heights = [max(len(df.columns) for df in list(shares.values())[r * ncol:(r + 1) * ncol]) + 2 for r in range(nrow)]
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 0.2 * sum(heights) + 0.6),
                             gridspec_kw=dict(height_ratios=heights), squeeze=False)
    im = None
    for ax, (shape, df) in zip(axes.ravel(), shares.items()):
        x = df.index.to_numpy()
        cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")  # grey: no instance at that epoch
        im = ax.imshow(np.ma.masked_invalid(df.T.to_numpy(dtype=float)), aspect="auto", cmap=cmap, vmin=0,
                       vmax=1, interpolation="nearest")
        ax.set_yticks(range(len(df.columns)), df.columns, fontsize=7)
        ticks = np.unique(np.linspace(0, len(x) - 1, min(len(x), 5)).round().astype(int))
        ax.set_xticks(ticks, [str(x[t]) for t in ticks], fontsize=7)
        ax.set_title(shape, fontsize=9)
        ax.set_xlabel("epoch (saved entries)", fontsize=7)
        ax.set_ylabel("edge signs", fontsize=7)
    for ax in axes.ravel()[len(shares):]:
        ax.axis("off")
    fig.suptitle("sign variants as shares of their motif class (edge signs, '|' between blocks; "
                 f"{'ensemble mean counts, ' + str(n) + ' members' if n > 1 else '1 member'})"
                 + (f"; no instance of {', '.join(absent)}" if absent else ""), fontsize=10)
    fig.tight_layout()
    fig.colorbar(im, ax=axes.ravel().tolist(), label="share of the class's count", shrink=0.6)
    return _save(fig, out / "motifs_signed.png")


def role_regions(hub_z=HUB_Z, nonhub_p=NONHUB_P, hub_p=HUB_P):
    """The seven Guimerà–Amaral regions of the P–z plane, as :func:`deepcnt.node_roles` assigns them.

    Returns
    -------
    list of (role, name, (p_lo, p_hi), is_hub)
        ``role`` 1..7, ``name`` from ``ROLE_NAMES``; non-hubs lie below ``hub_z``, hubs at or above it.
    """
    regions = []
    for first, bounds, hub in ((1, nonhub_p, False), (5, hub_p, True)):
        edges = (0.0,) + tuple(bounds) + (1.0,)
        for k in range(len(edges) - 1):
            regions.append((first + k, ROLE_NAMES[first + k - 1], (edges[k], edges[k + 1]), hub))
    return regions


def fig_cartography(nodes, out, hub_z=HUB_Z):
    """The P–z plane of the last epoch (Guimerà–Amaral), every member pooled, layers in a legend, with the
    role boundaries drawn and the seven regions labelled."""
    pcol = next((c for c in nodes.columns if c.startswith("participation")), None)
    zcol = next((c for c in nodes.columns if c.startswith("module_z") or c.startswith("zscore")), None)
    if not pcol or not zcol:
        return None
    plt = _plt()
    df = nodes[nodes.entry == nodes.entry.max()]
    n = int(df.member.nunique())
    fig, ax = plt.subplots(figsize=(7, 5))
    layers = sorted(df.layer.unique())
    for l, st in zip(layers, distinct_styles(len(layers))):
        sub = df[df.layer == l]
        ax.scatter(sub[pcol], sub[zcol], s=8, alpha=0.7, color=st["color"], marker=st["marker"],
                   label=f"{sub.layer_name.iloc[0]} ({len(sub)})", lw=0)
    zmin = min(float(np.nanmin(df[zcol])) if df[zcol].notna().any() else -2.0, -2.0) - 0.3
    zmax = max(float(np.nanmax(df[zcol])) if df[zcol].notna().any() else 0.0, hub_z + 1.5) + 0.3
    ax.set_xlim(0, 1)
    ax.set_ylim(zmin, zmax)
    ax.axhline(hub_z, color="k", lw=0.8)
    for role, name, (p0, p1), hub in role_regions(hub_z=hub_z):
        z0, z1 = (hub_z, zmax) if hub else (zmin, hub_z)
        if p1 < 1:
            ax.plot([p1, p1], [z0, z1], color="k", lw=0.8)
        ax.text((p0 + p1) / 2, z1 - 0.08 * (zmax - zmin) if hub else z0 + 0.04 * (zmax - zmin),
                name.replace(" ", "\n", 1), ha="center", va="bottom" if not hub else "top", fontsize=6.5,
                color="0.25", rotation=90 if p1 - p0 < 0.1 else 0)
    ax.set_xlabel(f"participation coefficient P ({pcol})")
    ax.set_ylabel(f"within-module degree z-score ({zcol})")
    who = f"{n} members pooled" if n > 1 else "1 member"
    ax.set_title(f"P–z cartography, epoch {int(df.epoch.iloc[0])} ({who}); roles of Guimerà & Amaral",
                 fontsize=9)
    ax.legend(title="layer (nodes)", fontsize=7, title_fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5),
              markerscale=2)
    return _save(fig, out / "cartography.png")
