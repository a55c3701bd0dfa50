"""``reidlab eval FEATURES.npz --protocol NAME`` and ``reidlab protocols [--dataset D]``."""
from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd

_TABLE_COLS = ["protocol", "metric", "fusion", "junk", "rerank", "n_query", "n_skipped", "n_excluded",
               "mAP", "R1", "R5", "R10", "R20", "mINP"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` and ``protocols`` sub-commands."""
    p = subparsers.add_parser("eval", help="score a features .npz under a named protocol",
                              description="Score a reidlab features file (reidlab.eval.features format) under a "
                                          "registered protocol; prints a table (metrics in %%) with the protocol name.")
    p.add_argument("features", help="FEATURES.npz written by FeatureSet.save or `reidlab extract`")
    p.add_argument("--protocol", required=True, help="protocol name (`reidlab protocols`), or 'all'")
    p.add_argument("--metric", default="euclidean", choices=["euclidean", "cosine"])
    p.add_argument("--fusion", default=None, choices=["sum", "mean", "concat", "method", "each"],
                   help="override the protocol's fusion of multi-modal tuples")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking")
    p.add_argument("--k1", type=int, default=20)
    p.add_argument("--k2", type=int, default=6)
    p.add_argument("--lambda", dest="lambda_", type=float, default=0.3)
    p.add_argument("--rerank-budget-gb", type=float, default=4.0, help="refuse re-ranking above this estimate")
    p.add_argument("--qe", type=int, default=None, metavar="K", help="average query expansion with K neighbours")
    p.add_argument("--device", default="cpu")
    p.add_argument("--topk", type=int, default=10)
    p.add_argument("--per-query", default=None, metavar="OUT.csv", help="write the per-query table")
    p.add_argument("--any-dataset", action="store_true", help="allow a protocol of another dataset")
    p.set_defaults(func=_run_eval)

    q = subparsers.add_parser("protocols", help="list the registered evaluation protocols")
    q.add_argument("--dataset", default=None)
    q.set_defaults(func=_run_protocols)


def _format(df: pd.DataFrame) -> str:
    df = df.copy()
    for m in ("mAP", "R1", "R5", "R10", "R20", "mINP"):
        std = df[m + "_std"] if m + "_std" in df else None
        df[m] = [f"{100 * v:.2f}" + (f"±{100 * s:.2f}" if std is not None and pd.notna(s) else "")
                 for v, s in zip(df[m], std if std is not None else [None] * len(df))]
    return df[[c for c in _TABLE_COLS if c in df]].to_string(index=False)


def _run_eval(args: argparse.Namespace) -> int:
    from .scoring import evaluate, evaluate_all
    from .features import FeatureSet

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        fs = FeatureSet.load(args.features)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    kw = dict(metric=args.metric, fusion=args.fusion, qe=args.qe, device=args.device, topk=args.topk,
              memory_budget_gb=args.rerank_budget_gb,
              rerank={"k1": args.k1, "k2": args.k2, "lambda_": args.lambda_} if args.rerank else None)
    try:
        if args.protocol == "all":
            table = evaluate_all(fs, **kw)
            per_query = None
        else:
            res = evaluate(fs, args.protocol, check_dataset=not args.any_dataset, **kw)
            table, per_query = pd.DataFrame([res.summary]), res.per_query
    except (KeyError, ValueError, MemoryError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    print(f"features: {args.features} (dataset {fs.dataset}); metrics in %")
    print(_format(table))
    if args.per_query:
        if per_query is None:
            print("error: --per-query needs a single --protocol", file=sys.stderr)
            return 2
        per_query.to_csv(args.per_query, index=False)
        print(f"per-query table: {args.per_query}")
    return 0


def _run_protocols(args: argparse.Namespace) -> int:
    from .protocols import list_protocols

    try:
        protos = list_protocols(args.dataset)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    for p in protos:
        print(f"{p.name:32s} {p.describe()}\n{'':32s} {p.description}")
    return 0
