"""PORSCHE at a preset: its tables (main comparison + PAM/POM/progressive ablation), their claims with bootstrap
CIs, and matcher ranking (exhaustive vs shortlist: mAP and time) for every PORSCHE row with a matcher.

Uses the same training set-up as notebook 06 (``notebooks/params/<preset>.yaml``, ``common.train``), so its runs
are the ones ``make demo`` trains (reused by config hash when ``--runs`` points at the same folder)::

    python benchmarks/porsche_demo.py --preset demo --out runs/porsche_demo [--device cuda]

Writes ``tables.csv`` (every row x protocol, global-feature ranking, final epoch), ``claims.csv`` and
``matcher.csv`` (per PORSCHE row and direction: ranking, shortlist N, mAP, R1 with 95 % bootstrap CIs, scorer
seconds) under ``--out``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import yaml


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="demo", choices=("smoke", "demo"))
    ap.add_argument("--out", default="runs/porsche_demo")
    ap.add_argument("--runs", default=None, help="runs folder (default: OUT/runs)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tables", nargs="+", default=["porsche_main", "porsche_ablation"])
    ap.add_argument("--shortlists", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--num-workers", type=int, default=0)
    args = ap.parse_args()

    from reidlab.analysis.claims import check_claims
    from reidlab.analysis.tables import run_table
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.runs import load_run
    from reidlab.engine.trainer import load_data
    from reidlab.eval.pairwise import evaluate_with_matcher
    from reidlab.methods.specs import get_table

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir = Path(args.runs) if args.runs else out / "runs"
    params = yaml.safe_load((Path("notebooks/params") / f"{args.preset}.yaml").read_text())
    train = dict(params["common"]["train"])
    train.update(device=args.device, num_workers=args.num_workers)
    print(f"# preset {args.preset}, train set-up {train}", flush=True)

    tables, claims, matcher = [], [], []
    for name in args.tables:
        spec = get_table(name)
        t0 = time.perf_counter()
        df = run_table(spec, args.preset, args.seed, runs_dir, True, progress=False, **train)
        print(f"# {name}: {df['run_dir'].nunique()} runs in {time.perf_counter() - t0:.0f} s", flush=True)
        tables.append(df.assign(table=name))
        if spec.claims:
            claims.append(check_claims(spec, df, n_boot=args.n_boot, seed=args.seed, progress=False).assign(table=name))
        for row in spec.rows:
            if row.method != "porsche" or row.label not in set(df["row"]):
                continue
            run = load_run(df.loc[df["row"] == row.label, "run_dir"].iloc[0])
            model = run.load_model("cuda" if args.device in ("auto", "cuda") and _cuda() else "cpu")
            if not model.config["pom"]:
                continue
            dev = next(model.parameters()).device
            data = load_data(run.config)
            tf = build_transforms(run.config.height, run.config.width, train=False)
            fs = run.load_features()
            for n in [None, *args.shortlists]:
                res = evaluate_with_matcher(model, data, fs, spec.columns, tf, shortlist=n, device=dev,
                                            n_boot=args.n_boot)
                for _, r in res.iterrows():
                    matcher.append({"table": name, "row": row.label, "protocol": r["protocol"],
                                    "ranking": r["scorer"], "shortlist": r["shortlist"],
                                    "n_query": r["n_query"], "n_gallery": r["n_gallery"],
                                    "mAP": 100 * r["mAP"], "mAP_ci95": tuple(100 * x for x in r["mAP_ci95"]),
                                    "R1": 100 * r["R1"], "R1_ci95": tuple(100 * x for x in r["R1_ci95"]),
                                    "scorer_seconds": r.get("scorer_seconds")})
            for _, r in df[df["row"] == row.label].iterrows():
                matcher.append({"table": name, "row": row.label, "protocol": r["protocol"],
                                "ranking": "feature (the run's own evaluation of the global feature)", "shortlist": "-",
                                "mAP": 100 * r["mAP"], "R1": 100 * r["R1"]})
    pd.concat(tables).to_csv(out / "tables.csv", index=False)
    if claims:
        c = pd.concat(claims)
        c.to_csv(out / "claims.csv", index=False)
        print(c[["id", "verdict", "value_a", "value_b", "delta", "ci_low", "ci_high"]].round(4).to_string(index=False))
    m = pd.DataFrame(matcher)
    m.to_csv(out / "matcher.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pd.concat(tables)[["table", "row", "protocol", "mAP", "R1"]].round(4).to_string(index=False))
        print(m.round(2).to_string(index=False))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
