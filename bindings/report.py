"""``deepcnt report``: PNG figures and one HTML page from a run and its analysis tables.

Figures (each only where its data exists): weight distributions per block across epochs, strength
distributions per layer across epochs, every per-epoch scalar against the epoch with accuracy beside it,
per-layer fluctuation, motif counts and z-scores, modularity Q, the P–z cartography, and layer-1 receptive
fields as images (grey image inputs); the figures themselves are in :mod:`.figures` and
:mod:`.figures_rf`. The page references only files that were written.
"""
import html
import json
import os
from pathlib import Path

from deepcnt.errors import InputError

from .figures import (fig_cartography, fig_motif_lines, fig_node_hist, fig_scalars, fig_signed_motifs, fig_weights,
                      member_sweep)
from .figures_rf import fig_receptive_fields, fig_rf_clusters, why_no_fields


def report(run, analysis=None, out=None, rf_clusters=False, progress=False):
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
    progress : bool
        Progress bars (figures, and the EMD pairs of ``rf_clusters``) on stderr, where it is a terminal.

    Receptive fields need a dense first block: for a run whose first block is a convolution they are not drawn,
    and the page says so.
    """
    from deepcnt.runs.progress import progress_bar, progress_callback
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
        sweep = member_sweep(store.metadata, store.n_members)
        why = why_no_fields(store)
        steps = [
            (lambda: fig_weights(store, out), "Weight distribution of every block across epochs"),
            (lambda: fig_node_hist(nodes, out, "strength", sweep), "Net strength per layer across epochs"),
            (lambda: fig_node_hist(nodes, out, "degree", sweep), "Degree per layer across epochs"),
            (lambda: fig_scalars(epochs, out, store.layer_names, sweep),
             "Every per-epoch quantity against the epoch (accuracy dotted, on the right axis)"),
            (lambda: fig_motif_lines(epochs, out, "motifz_", "z-score",
                                     "motif z-scores against the within-block permutation null", "motif_z.png",
                                     sweep=sweep),
             "Motif z-scores of the 3- and 4-node classes (on a block DAG those a skip makes too)"),
            (lambda: fig_motif_lines(epochs, out, "motif_", "count", "motif counts", "motifs.png", log=True,
                                     sweep=sweep),
             "Motif counts of the 3- and 4-node classes (on a block DAG those a skip makes too)"),
            (lambda: fig_signed_motifs(epochs, out), "Sign variants of each motif class as shares of the class"),
            (lambda: fig_cartography(nodes, out),
             "Participation vs within-module degree z-score (last epoch), with the Guimerà–Amaral roles"),
        ]
        skipped = []
        if why is None:
            steps.append((lambda: fig_receptive_fields(store, out), "Receptive fields (columns of W1)"))
        else:
            skipped.append(f"receptive fields: {why}")
        if rf_clusters and why is None:
            thr = meta.get("threshold", {})
            theta = thr.get("theta", 0.1) if thr.get("mode") == "abs" else 0.1
            emd_bar = progress_callback("report: EMD of receptive fields", "pair") if progress else None
            steps.append((lambda: fig_rf_clusters(store, out, theta, progress=emd_bar),
                          "Receptive-field clusters (EMD, Testolin's recipe)"))
        elif rf_clusters:
            skipped.append(f"receptive-field clusters (--rf-clusters): {why}")
        figures = []
        bar = progress_bar(len(steps), "report", "figure", show=progress)
        try:
            for draw, cap in steps:
                drawn = draw()
                figures += [(p, cap) for p in (drawn if isinstance(drawn, list) else [drawn])]
                bar.update(1)
        finally:
            bar.close()
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
            f"<p>{len(epochs)} epoch rows, {len(nodes)} node rows.</p><table>{rows}</table>{body}"
            + "".join(f"<p>Not drawn: {html.escape(s)}.</p>" for s in skipped) + "</body></html>")
    index = out / "index.html"
    tmp = out / ".index.html.tmp"
    try:
        tmp.write_text(page)
        os.replace(tmp, index)
    finally:
        tmp.unlink(missing_ok=True)
    return index
