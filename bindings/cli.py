"""The ``deepcnt`` command line: ``train``, ``ingest``, ``analyze``, ``report``, ``demo``.

User mistakes (a missing run, an unknown metric, a bad threshold, an empty graph after thresholding) end with
one line on stderr and exit status 2, never a traceback.
"""
import argparse
import sys


def _analyze(args):
    from deepcnt.runs.pipeline import analyze

    members = None if args.members is None else [int(m) for m in args.members.split(",")]
    a = analyze(args.run, metrics=args.metrics, threshold=args.threshold, threshold_mode=args.threshold_mode,
                per_block=args.per_block, device=args.device, scheduler=args.scheduler, workers=args.workers,
                batch=args.batch, out=args.out, members=members, overwrite=args.overwrite,
                progress=not args.quiet)
    print(f"{a.tasks_run} task(s) run, {a.entries_skipped} epoch(s) already done; tables in {a.out}/nodes and "
          f"{a.out}/epochs (read with pandas.read_parquet)")
    return 0


def _report(args):
    from .report import report

    index = report(args.run, analysis=args.analysis, out=args.out, rf_clusters=args.rf_clusters)
    print(f"report: {index}")
    return 0


def _demo(args):
    from .demo import main

    return main(args)


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


def build_parser():
    p = argparse.ArgumentParser(
        prog="deepcnt", description="Graph metrics of deep neural networks, for every saved epoch.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .presets import add_cli

    add_cli(sub)  # train and ingest

    a = sub.add_parser("analyze", help="compute metrics for every epoch of a run into Parquet tables")
    a.add_argument("run", help="the run directory (an epoch store)")
    a.add_argument("--metrics", help="comma-separated metric names (default: every default metric)")
    a.add_argument("--threshold", type=float, help="keep |w| > THRESHOLD (or the top fraction, see --threshold-mode)")
    a.add_argument("--threshold-mode", default="abs", choices=["abs", "proportional"])
    a.add_argument("--per-block", action="store_true", help="proportional threshold per block")
    a.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    a.add_argument("--workers", type=_positive_int, help="start a Dask LocalCluster of N worker processes")
    a.add_argument("--scheduler", help="join a running Dask scheduler (tcp://HOST:PORT), e.g. from dask-jobqueue")
    a.add_argument("--batch", type=_positive_int, help="epochs per task (default: fit 256 MiB)")
    a.add_argument("--members", help="comma-separated ensemble members (default: all)")
    a.add_argument("--out", help="output directory (default RUN/analysis)")
    a.add_argument("--overwrite", action="store_true", help="recompute from scratch")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=_analyze)

    r = sub.add_parser("report", help="PNG figures and an HTML page from a run and its analysis")
    r.add_argument("run")
    r.add_argument("--analysis", help="the analysis directory (default RUN/analysis)")
    r.add_argument("--out", help="where to write (default ANALYSIS/report)")
    r.add_argument("--rf-clusters", action="store_true",
                   help="also cluster layer-1 receptive fields by EMD at the last epoch and draw the dendrogram")
    r.set_defaults(func=_report)

    d = sub.add_parser("demo", help="the main job on bundled data: train, analyze every epoch, report",
                       description="Train a DBN (CD-1) and an MLP (SGD) on the bundled digits saving every epoch, "
                                   "analyze every epoch with every default metric, and write the reports.")
    d.add_argument("--out", default="demo-out", help="where to put the runs (default ./demo-out)")
    d.add_argument("--quick", action="store_true", help="a smaller, faster version (a few epochs)")
    d.add_argument("--random", action="store_true",
                   help="instead: core metrics of a random 784-500-500-2000 network (no training)")
    d.set_defaults(func=_demo)
    return p


def main(argv=None):
    """Entry point."""
    from deepcnt.errors import DeepcntError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DeepcntError as exc:
        print(f"deepcnt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepcnt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
