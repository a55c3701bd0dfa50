"""``reidlab notebooks run [--preset smoke|demo] [--params FILE.yaml] [--out DIR]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``reidlab notebooks run`` to the top-level parser."""
    p = subparsers.add_parser("notebooks", help="run the notebook suite headlessly (papermill)")
    sub = p.add_subparsers(dest="notebooks_command", required=True)
    r = sub.add_parser("run", help="execute notebooks/0*.ipynb in order and write a summary",
                       description="Execute notebooks/0*.ipynb (sorted) with papermill; writes the executed "
                                   "copies, summary.json and summary.md into --out; exit 1 if any failed.")
    r.add_argument("--preset", default="smoke", choices=("smoke", "demo", "paper"),
                   help="data/training size passed to every notebook (default: smoke)")
    r.add_argument("--params", default=None, type=Path,
                   help="params YAML (notebook stem -> parameters); default notebooks/params/<preset>.yaml")
    r.add_argument("--out", default=None, type=Path, help="output folder (default: runs/notebooks-<preset>)")
    r.add_argument("--seed", default=0, type=int, help="seed passed to every notebook (default 0)")
    r.add_argument("--notebooks-dir", default=Path("notebooks"), type=Path, help="where 0*.ipynb live")
    r.add_argument("--only", nargs="*", default=None, help="run only notebooks whose name starts with these, e.g. 05 06")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="STEM.NAME=VALUE",
                   help="set one notebook parameter over the params file (VALUE is YAML), e.g. "
                        "--set 06_reproduce_tables.tables=null; repeatable")
    r.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    r.add_argument("--cell-timeout", default=None, type=int, help="seconds allowed per cell (default: none)")
    r.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from reidlab.notebooks.runner import run_notebooks

    out = args.out or Path("runs") / f"notebooks-{args.preset}"
    summary = run_notebooks(out, preset=args.preset, seed=args.seed, params_file=args.params,
                            notebooks_dir=args.notebooks_dir, only=args.only, kernel_name=args.kernel,
                            cell_timeout=args.cell_timeout, overrides=args.overrides)
    n_failed = sum(n.status == "failed" for n in summary.notebooks)
    n_skipped = sum(n.status == "skipped" for n in summary.notebooks)
    n_ok = len(summary.notebooks) - n_failed - n_skipped
    print(f"{n_ok}/{len(summary.notebooks)} notebooks ok" + (f", {n_skipped} skipped (see summary)" if n_skipped else "")
          + f"; summary: {Path(summary.out) / 'summary.md'}")
    if n_failed:
        print(f"{n_failed} notebook(s) failed: "
              + ", ".join(n.notebook for n in summary.notebooks if n.status == "failed"), file=sys.stderr)
    return 0 if summary.ok else 1
