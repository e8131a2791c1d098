"""The ``deepcnt`` command line. Sub-commands arrive with their issues (train, ingest, analyze, report)."""
import argparse
import sys


def _demo(args):
    from .demo import run

    run(seed=args.seed)
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="deepcnt", description="Graph metrics of deep neural networks, every epoch.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="build a random 784-500-500-2000 network and print its core metrics")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.set_defaults(func=_demo)
    return p


def main(argv=None):
    """Entry point: one-line errors and a non-zero exit for user mistakes, never a traceback."""
    from deepcnt.errors import DeepcntError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DeepcntError as exc:
        print(f"deepcnt: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
