"""The ``deepcnt`` command line: ``train``, ``ingest``, ``analyze``, ``report``, ``metrics``, ``reproduce``, ``demo``.

Also ``python -m deepcnt``. User mistakes (a missing run, an unknown metric, a bad option value, an empty graph
after thresholding, a directory that cannot be written) end with one line on stderr and exit status 2, never a
traceback. ``--help`` shows every option's default.
"""
import argparse
import os
import sys

from .presets import positive_int as _positive_int

#: ``analyze``'s threshold when the user gives none (a complete dense layer makes every binary metric
#: trivial): the top 30% of |w| of each block. This is Testolin et al.'s rule |w| > 0.1 (their main θ)
#: on their N(0, 0.1) initial weights, where it keeps 32%, made independent of the weights' scale, so that it
#: keeps edges in every block of every preset (|w| > 0.1 itself keeps none of a N(0, 0.01) network).
DEFAULT_THRESHOLD = {"mode": "proportional", "theta": 0.3, "per_block": True}


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line that points to ``--help`` (sub-parsers inherit it)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after an option's help where X is a value (not for flags or unset options)."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _members(text):
    """``--members``: comma-separated member numbers."""
    try:
        members = [int(m) for m in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of member numbers "
                                         "(e.g. 0,2)") from None
    if any(m < 0 for m in members):
        raise argparse.ArgumentTypeError(f"{text!r}: member numbers are >= 0")
    return members


def _option(text):
    """argparse type of ``--option METRIC.NAME=VALUE``: ``(metric, name, value)``, the value read as a Python
    literal (``500``, ``0.1``, ``True``, ``'sym'``) or else kept as text (``sym``)."""
    import ast

    key, sep, raw = text.partition("=")
    metric, dot, name = key.strip().partition(".")
    if not (sep and dot and metric and name.isidentifier()):
        raise argparse.ArgumentTypeError(f"{text!r} is not METRIC.OPTION=VALUE, e.g. modularity.runs=500")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return metric, name, value


def _options(pairs):
    """The ``--option`` values as ``analyze``'s ``options``: ``{metric: {name: value}}``."""
    out = {}
    for metric, name, value in pairs or ():
        out.setdefault(metric, {})[name] = value
    return out


def _threshold(args):
    """The threshold options as ``analyze``'s (threshold, mode, per_block), checked in the CLI's words; with no
    ``--threshold``, :data:`DEFAULT_THRESHOLD`, announced on stdout."""
    from deepcnt.errors import InputError
    from deepcnt.runs.pipeline import describe_threshold

    if args.threshold is None:
        if args.threshold_mode is not None or args.per_block:
            raise InputError("--threshold-mode and --per-block need a --threshold: e.g. --threshold 0.2 "
                             "--threshold-mode proportional")
        d = DEFAULT_THRESHOLD
        print(f"threshold: {describe_threshold(d)} (the default: choose one with --threshold; --threshold 0 "
              "keeps every non-zero weight)")
        return d["theta"], d["mode"], d["per_block"]
    mode = args.threshold_mode or "abs"
    theta = args.threshold
    if args.per_block and mode != "proportional":
        raise InputError("--per-block applies to --threshold-mode proportional (an abs threshold is the same for "
                         "every block)")
    if mode == "abs" and not theta >= 0:  # also NaN
        raise InputError(f"bad threshold --threshold {theta:g}: give a weight magnitude >= 0 (an edge is |w| > it)")
    if mode == "proportional" and not 0 < theta <= 1:
        raise InputError(f"bad threshold --threshold {theta:g} with --threshold-mode proportional: give the "
                         "fraction of edges to keep, in (0, 1]")
    return theta, mode, args.per_block


def _check_device(device):
    """``--device gpu`` where there is none: the error in the CLI's words, before anything is read or written."""
    from deepcnt.backend import get_backend
    from deepcnt.errors import DeviceError

    try:
        get_backend(device)
    except DeviceError:
        raise DeviceError(f"--device {device}: no CUDA device is available here; use --device cpu (or set "
                          "NUMBA_ENABLE_CUDASIM=1 to run the GPU kernels on the simulator)") from None


def _analyze(args):
    from deepcnt.runs.pipeline import analyze

    members = args.members
    _check_device(args.device)
    threshold, mode, per_block = _threshold(args)
    a = analyze(args.run, metrics=args.metrics, threshold=threshold, threshold_mode=mode,
                per_block=per_block, device=args.device, scheduler=args.scheduler, workers=args.workers,
                batch=args.batch, out=args.out, members=members, overwrite=args.overwrite,
                progress=not args.quiet, options=_options(args.option))
    print(f"{a.tasks_run} task(s) run, {a.entries_skipped} epoch(s) already done; tables in {a.out}/nodes and "
          f"{a.out}/epochs (read with pandas.read_parquet)")
    return 0


def _report(args):
    from .report import report

    index = report(args.run, analysis=args.analysis, out=args.out, rf_clusters=args.rf_clusters,
                   progress=not args.quiet)
    print(f"report: {index}")
    return 0


def _metrics(args):
    from deepcnt import REGISTRY  # importing deepcnt registers every family
    from deepcnt.runs.pipeline import metric_option_names

    width = max(map(len, REGISTRY))
    print(f"{'metric':{width}}  {'kind':5}  {'set':8}  description (--metrics NAME,...; set: in analyze's default)")
    for name in sorted(REGISTRY):
        m = REGISTRY[name]
        which = ("default" if m.default else "opt-in") + ("" if not m.needs_edges else "*")
        print(f"{name:{width}}  {m.kind:5}  {which:8}  {m.description}")
        opts = metric_option_names(name)
        if opts:
            listed = ", ".join(f"{k}={v!r}" for k, v in opts.items())
            print(f"{'':{width}}  {'':5}  {'':8}  options (--option {name}.NAME=VALUE): {listed}")
    print("* needs explicit edges: not computed for runs with convolution blocks")
    return 0


def _reproduce(args):
    from .reproduce import reproduce

    result = reproduce(args.paper, out=args.out, size=args.size, data=args.data, progress=not args.quiet,
                       threads=args.threads)
    print(result)
    print(f"findings: {result.table} (and findings.csv); figures: "
          f"{', '.join(str(p) for p in result.figures) or 'none'}; run: {result.run}")
    return 0


def _demo(args):
    from .demo import main

    return main(args)


def build_parser():
    from deepcnt import __version__

    p = _Parser(prog="deepcnt", formatter_class=_Formatter,
                description="Graph metrics of deep neural networks, for every saved epoch.")
    p.add_argument("--version", action="version", version=f"deepcnt {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .presets import add_cli

    add_cli(sub, formatter_class=_Formatter)  # train and ingest

    a = sub.add_parser("analyze", help="compute metrics for every epoch of a run into Parquet tables",
                       formatter_class=_Formatter,
                       description="Compute the metrics (deepcnt metrics lists them) for every epoch of a run into "
                                   "two Parquet tables, per node and per epoch. Re-running resumes.")
    a.add_argument("run", help="the run directory (an epoch store made by deepcnt train or deepcnt ingest)")
    a.add_argument("--metrics", help="comma-separated metric names (default: every default metric; see deepcnt "
                                     "metrics)")
    a.add_argument("--threshold", type=float,
                   help="keep the edges with |w| > THRESHOLD (or the top fraction, see --threshold-mode). "
                        f"default: the top {100 * DEFAULT_THRESHOLD['theta']:g}%% of |w| of each block (Testolin's "
                        "|w| > 0.1 on his initial weights, made scale-free); 0 keeps every non-zero weight "
                        "(Shine's and La Malfa's un-thresholded graphs)")
    a.add_argument("--threshold-mode", choices=["abs", "proportional"],
                   help="abs: THRESHOLD is a weight magnitude; proportional: the fraction of edges to keep, the "
                        "largest |w| (default abs when --threshold is given)")
    a.add_argument("--per-block", action="store_true",
                   help="with --threshold-mode proportional: keep the fraction in each block, not in the whole "
                        "network")
    a.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                   help="where the metrics are computed (gpu: CUDA through CuPy and numba.cuda)")
    a.add_argument("--workers", type=_positive_int, help="start a Dask LocalCluster of N worker processes "
                                                         "(default: run in this process)")
    a.add_argument("--scheduler", help="join a running Dask scheduler (tcp://HOST:PORT), e.g. from dask-jobqueue")
    a.add_argument("--batch", type=_positive_int, help="epochs per task (default: as many as fit 256 MiB, at "
                                                       "most 16)")
    a.add_argument("--members", type=_members, help="comma-separated ensemble members, e.g. 0,2 (default: all)")
    a.add_argument("--out", help="output directory (default: RUN/analysis)")
    a.add_argument("--option", action="append", type=_option, metavar="METRIC.NAME=VALUE",
                   help="an option of one metric, repeatable, e.g. --option modularity.runs=500 (a 500-run "
                        "consensus per epoch); deepcnt metrics lists each metric's options")
    a.add_argument("--overwrite", action="store_true", help="recompute from scratch")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=_analyze)

    r = sub.add_parser("report", help="PNG figures and an HTML page from a run and its analysis",
                       formatter_class=_Formatter)
    r.add_argument("run", help="the run directory (an epoch store), analysed by deepcnt analyze")
    r.add_argument("--analysis", help="the analysis directory (default: RUN/analysis)")
    r.add_argument("--out", help="where to write (default: ANALYSIS/report)")
    r.add_argument("--rf-clusters", action="store_true",
                   help="also cluster layer-1 receptive fields by EMD at the last epoch and draw the dendrogram "
                        "(minutes for a few hundred units)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_report)

    m = sub.add_parser("metrics", help="list the metrics analyze can compute, one line each",
                       formatter_class=_Formatter)
    m.set_defaults(func=_metrics)

    from .reproduce import RECIPES, SIZES

    rp = sub.add_parser("reproduce", help="a seed paper's finding: train its recipe, analyze, draw, test",
                        formatter_class=_Formatter,
                        description="Train a seed paper's network with its recipe (training length in optimisation "
                                    "steps), analyze it with the paper's options, write its main figures and a "
                                    "table of its findings (shown / not shown, the statistic, the paper's own "
                                    "number). Re-running resumes.")
    rp.add_argument("paper", choices=list(RECIPES), help="the paper")
    rp.add_argument("--out", help="where to write (default: reproduce-PAPER); the run is OUT/run")
    rp.add_argument("--size", choices=list(SIZES), default="full",
                    help="full: the recipe (minutes); small: fewer steps; tiny: seconds, the findings' direction "
                         "only")
    rp.add_argument("--data", default="digits", help="digits (bundled) or idx:PATH (MNIST-format IDX files)")
    rp.add_argument("--threads", type=_positive_int, help="torch threads for training")
    rp.add_argument("--quiet", action="store_true", help="no progress bars")
    rp.set_defaults(func=_reproduce)

    d = sub.add_parser("demo", help="the main job on bundled data: train, analyze every epoch, report",
                       formatter_class=_Formatter,
                       description="Train a DBN (CD-1) and an MLP (SGD) on the bundled digits saving every epoch, "
                                   "analyze every epoch with every default metric, and write the reports.")
    d.add_argument("--out", default="demo-out", help="where to put the runs")
    d.add_argument("--quick", action="store_true", help="a smaller, faster version (a few epochs; a narrower DBN)")
    d.add_argument("--random", action="store_true",
                   help="instead: core metrics of a random 784-500-500-2000 network (no training)")
    d.set_defaults(func=_demo)
    return p


def _os_error(exc):
    """An ``OSError`` in one line: what failed, on which path."""
    what = exc.strerror or str(exc)
    path = exc.filename if exc.filename is not None else None
    return f"{what}: {path} (check the path, its permissions and the free space)" if path else what


def main(argv=None):
    """Entry point."""
    from deepcnt.errors import DeepcntError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DeepcntError as exc:
        print(f"deepcnt: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (deepcnt metrics | head): quiet, as other commands are
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        except (OSError, ValueError):
            pass
        return 141
    except OSError as exc:  # a directory that cannot be read or written, a full disk: the user's to fix
        print(f"deepcnt: error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepcnt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
