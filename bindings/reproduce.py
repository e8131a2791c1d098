"""``deepcnt reproduce PAPER``: a seed paper's recipe trained, analysed, drawn and checked against its findings.

A :class:`Recipe` holds what one paper needs: the preset and its settings, the training length in **optimisation
steps** (mini-batch updates; converted to epochs of whatever data is used, so that the bundled digits and MNIST
see the same amount of training), the analysis (metrics, threshold, metric options), the figures, and the
findings to test. Each finding comes out as one :class:`Finding`: shown or not, the statistic that decides it
and the paper's own number beside it.

``reproduce(paper, out)`` trains into ``OUT/run`` (resumable: a second call continues where the first stopped),
analyses into ``OUT/run/analysis`` (also resumable), and writes ``OUT/findings.md``, ``OUT/findings.csv`` and the
paper's figures into ``OUT``.
"""
import csv
from pathlib import Path

from deepcnt.errors import InputError, check_choice

from .recipe import SIZES, Context, Finding, Recipe, Result, steps_to_epochs  # noqa: F401  (the API's types)
from .reproduce_papers import RECIPES


# ---------------------------------------------------------------------------------------------- the findings table
def format_findings(paper, findings):
    """The findings as a markdown table (what ``deepcnt reproduce`` prints and writes to ``findings.md``)."""
    lines = [f"## {RECIPES[paper].title}" if paper in RECIPES else f"## {paper}", "",
             "| finding | result | statistic | shown when | paper |", "|---|---|---|---|---|"]
    for f in findings:
        cells = [f.name, "shown" if f.shown else "NOT shown", f.statistic, f.test, f.paper]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")  # | inside a cell: \|
    return "\n".join(lines) + "\n"


def _write_table(paper, findings, out):
    md = out / "findings.md"
    md.write_text(format_findings(paper, findings))
    with open(out / "findings.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["paper", "finding", "shown", "value", "statistic", "shown_when", "paper_number"])
        for f in findings:
            w.writerow([paper, f.name, f.shown, f"{f.value:.6g}", f.statistic, f.test, f.paper])
    return md


# ---------------------------------------------------------------------------------------------- the driver
def reproduce(paper, out=None, size="full", data="digits", progress=False, threads=None):
    """Train, analyse, draw and test one seed paper's findings.

    Parameters
    ----------
    paper : {"testolin", "shine", "lamalfa", "zambra"}
        The paper (:data:`RECIPES`).
    out : path, optional
        Where to write; default ``reproduce-PAPER``. The run is ``OUT/run`` (resumed when it exists), the
        figures and ``findings.md`` / ``findings.csv`` go into ``OUT``.
    size : {"full", "small", "tiny"}
        ``full``: the recipe (minutes on 2 cores); ``small``: fewer steps (about a minute); ``tiny``: narrow and
        short (seconds; what the tests run: the direction of each finding, not its strength).
    data : str
        ``"digits"`` (bundled) or ``"idx:PATH"`` (MNIST-format IDX files), as ``deepcnt train --data``.
    progress : bool
        Progress bars on stderr.
    threads : int, optional
        torch threads for training.

    Returns
    -------
    Result
        ``str(result)`` is the findings table.
    """
    from deepcnt.runs.pipeline import analyze

    from .datasets import load_dataset
    from .presets import get_preset, train

    check_choice("paper", paper, tuple(RECIPES))
    check_choice("size", size, SIZES)
    recipe = RECIPES[paper]
    out = Path(out or f"reproduce-{paper}")
    ds = load_dataset(data)
    settings = dict(recipe.settings[size])
    cfg = get_preset(recipe.preset, **settings)
    epochs = steps_to_epochs(recipe.steps[size], len(ds.y_train), cfg["batch_size"])
    total = epochs * len(cfg["hidden"]) if cfg["kind"] == "dbn" else epochs
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / "run"
    runs = {None: run_dir} | {name: out / f"run-{name}" for name in recipe.variants}
    for name, path in runs.items():
        extra = dict(settings, **recipe.variants.get(name, {}))
        bar = None
        if progress:
            from deepcnt.runs.progress import progress_callback

            bar = progress_callback(f"train {recipe.preset}{'' if name is None else ' ' + name}", "epoch", True)
        resuming = (path / "meta.json").exists()
        try:
            store = train(recipe.preset, path, data=data, epochs=epochs, schedule=recipe.schedule(total),
                          threads=threads, progress=bar, **extra)
        except InputError as exc:
            if not resuming:
                raise
            raise InputError(f"{out} holds a reproduction of {paper} with another --size or --data ({exc}): "
                             "give another --out, or the same --size and --data to resume it") from None
        store.close()
    a = analyze(run_dir, progress=progress, **recipe.analysis[size])
    from deepcnt.runs.store import EpochStore

    store = EpochStore.open(run_dir)
    variants = {name: EpochStore.open(path) for name, path in runs.items() if name is not None}
    try:
        ctx = Context(store, a, ds, recipe, size, variants)
        findings = recipe.findings(ctx)
        figures = [p for p in recipe.figures(ctx, out) if p is not None]
    finally:
        for st in [store, *variants.values()]:
            st.close()
    table = _write_table(paper, findings, out)
    return Result(paper, findings, run_dir, table, figures)
