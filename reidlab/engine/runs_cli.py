"""``reidlab runs ls [DIR] [--protocol NAME] [--sort COLUMN] [--asc]``: the runs leaderboard."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("runs", help="list training runs (leaderboard)")
    sub = p.add_subparsers(dest="runs_command", required=True)
    ls = sub.add_parser("ls", help="one row per run folder: method, dataset, the config values that differ, "
                                   "status, time and mAP / R1 / mINP",
                        description="One row per run folder under DIR (default runs/): method, dataset, the "
                                    "config values that differ between the runs, status, epochs, wall time and "
                                    "the main metrics under one protocol (default: the most common one).")
    ls.add_argument("dir", nargs="?", default=Path("runs"), type=Path, help="folder holding run folders (default runs/)")
    ls.add_argument("--protocol", default=None, help="whose metrics to show (default: the most common protocol)")
    ls.add_argument("--sort", default="mAP", help="column to sort by (default mAP, best first)")
    ls.add_argument("--asc", action="store_true", help="ascending order")
    ls.add_argument("--csv", default=None, type=Path, help="also write the table as CSV")
    ls.set_defaults(func=_ls)


def _ls(args: argparse.Namespace) -> int:
    import pandas as pd

    from reidlab.engine.leaderboard import runs_table

    df = runs_table(args.dir, protocol=args.protocol, sort=args.sort, ascending=True if args.asc else None)
    if df.empty:
        print(f"no run folders (with config.yaml) under {args.dir}")
        return 0
    if args.csv:
        df.to_csv(args.csv, index=False)
    shown = df.drop(columns=["note"]) if not df["note"].astype(bool).any() else df
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 40):
        print(shown.to_string(index=False, na_rep="-", formatters={m: "{:.4f}".format for m in ("mAP", "R1", "mINP")}))
    return 0
