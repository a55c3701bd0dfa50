"""``reidlab data stats ROOT --dataset NAME [--out DIR]``: dataset statistics as CSV / Markdown / PNG.

Registered by :mod:`reidlab.data.cli` through :func:`register`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reidlab.data.names import LAYOUTS


def register(data_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``stats`` sub-command to the ``reidlab data`` sub-parser group."""
    p = data_subparsers.add_parser("stats", help="count tables and figures of a dataset (notebook 01 as files)")
    p.add_argument("root", help="dataset root folder (or CSV for --dataset manifest)")
    p.add_argument("--dataset", required=True, help="layout name: " + " ".join(LAYOUTS))
    p.add_argument("--out", default=None, help="output folder (default: ./stats_<dataset>)")
    p.add_argument("--card", default=None, help="data card to compare counts with (default: the dataset's own, if any)")
    p.add_argument("--size-sample", type=int, default=300, help="records per split whose image headers are read (0 = all)")
    p.add_argument("--seed", type=int, default=0, help="seed for the size sample and the sample grid")
    p.set_defaults(func=run_stats)
    return p


def run_stats(args: argparse.Namespace) -> int:
    """Load the dataset, build :func:`reidlab.data.stats.dataset_report`, write it; 0 on success, 1 on bad input."""
    from reidlab.data import stats
    from reidlab.data import DataError, load_dataset
    from reidlab.data.cards import CardError, list_cards, load_card

    try:
        data = load_dataset(args.dataset, args.root)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    card_name = args.card or (args.dataset if args.dataset in list_cards() else None)
    try:
        card = load_card(card_name) if card_name else None
    except CardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = stats.dataset_report(data, card, size_sample=args.size_sample or None, seed=args.seed)
    out = Path(args.out or f"stats_{args.dataset}")
    written = stats.write_report(report, out)
    print(stats.to_markdown(report["tables"]["split_counts"]))
    if card is None:
        print(f"(no data card for {args.dataset!r}: counts not compared)")
    print(f"wrote {len(written)} files to {out}")
    return 0
