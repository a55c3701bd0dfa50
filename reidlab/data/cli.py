"""``reidlab data ...`` sub-commands: ``check``, ``synth`` and ``stats`` (:mod:`reidlab.data.stats_cli`)."""
from __future__ import annotations

import argparse
import sys

from reidlab.data import stats_cli
from reidlab.data.names import LAYOUTS


def _check(args: argparse.Namespace) -> int:
    from reidlab.data.check import check_dataset

    report = check_dataset(args.dataset, args.root, full=args.full)
    print(report.format())
    return 0 if report.ok else 1


def _synth(args: argparse.Namespace) -> int:
    try:
        from reidlab.data.synth import generate
    except ImportError as exc:
        print(f"the synthetic generator is not available: {exc}", file=sys.stderr)
        return 1
    root = generate(args.layout, args.out, preset=args.preset, seed=args.seed)
    print(root)
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add ``reidlab data {check,synth,stats}``; returns the ``data`` sub-parser group."""
    data = subparsers.add_parser("data", help="dataset tools: check, synth, stats")
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("check", help="count, verify and compare a dataset tree with its data card")
    p.add_argument("root", help="dataset root folder (or CSV for --dataset manifest)")
    p.add_argument("--dataset", required=True, help="layout name: " + " ".join(LAYOUTS))
    p.add_argument("--full", action="store_true", help="decode every image instead of reading headers")
    p.set_defaults(func=_check)

    p = sub.add_parser("synth", help="write a synthetic dataset in a native layout")
    p.add_argument("layout", help="one of the six dataset names")
    p.add_argument("--preset", default="smoke", help="smoke | demo | paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_synth)

    stats_cli.register(sub)
    return sub
