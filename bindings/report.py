"""``deepcnt report``: PNG figures and one HTML page from a run and its analysis tables.

Figures (each only where its data exists): weight distributions per block across epochs, strength
distributions per layer across epochs, every per-epoch scalar against the epoch with accuracy beside it,
per-layer fluctuation, motif counts and z-scores, modularity Q, the P–z cartography, and layer-1 receptive
fields as images (square inputs); the figures themselves are in :mod:`.figures`. The page references only
files that were written.
"""
import html
import json
import os
from pathlib import Path

from deepcnt.errors import InputError

from .figures import (fig_cartography, fig_motif_lines, fig_node_hist, fig_receptive_fields, fig_rf_clusters,
                      fig_scalars, fig_signed_motifs, fig_weights, member_sweep)


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
        sweep = member_sweep(store.metadata, store.n_members)
        figures = [
            (fig_weights(store, out), "Weight distribution of every block across epochs"),
            (fig_node_hist(nodes, out, "strength", sweep), "Net strength per layer across epochs"),
            (fig_node_hist(nodes, out, "degree", sweep), "Degree per layer across epochs"),
            (fig_scalars(epochs, out, store.layer_names, sweep),
             "Every per-epoch quantity against the epoch (accuracy dotted, on the right axis)"),
            (fig_motif_lines(epochs, out, "motifz_", "z-score",
                             "motif z-scores against the within-block permutation null", "motif_z.png", sweep=sweep), "Motif z-scores of the 13 layered classes"),
            (fig_motif_lines(epochs, out, "motif_", "count", "motif counts",
                             "motifs.png", log=True, sweep=sweep), "Motif counts of the 13 layered classes"),
            (fig_signed_motifs(epochs, out), "Sign variants of each motif class as shares of the class"),
            (fig_cartography(nodes, out),
             "Participation vs within-module degree z-score (last epoch), with the Guimerà–Amaral roles"),
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
