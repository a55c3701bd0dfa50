"""HWDNet Tables II-III at the demo preset (synthetic UCM-VeID, CPU), their claims, chance levels and
the orientation probes of every row's test embedding.

Runs (or reuses) the rows of ``hwdnet_table2`` and ``hwdnet_table3`` through
:func:`reidlab.analysis.tables.run_table` with notebook 06's demo training settings
(``notebooks/params/demo.yaml`` ``common.train``), so the run folders are those notebook 06 (and
notebook 07) would train with the same ``runs_dir``; checks the tables' claims with
:func:`reidlab.analysis.claims.check_claims` (95 % bootstrap intervals over queries); prints each
row's mAP / R1 with their bootstrap intervals (single-shot: mean ± std over the 10 trials too),
the chance level of each protocol (:mod:`reidlab.eval.chance`), the orientation-probe accuracy
of each run's parts (:func:`reidlab.analysis.decoupling.orientation_probes`) and the wall time
per run (``record.json`` started -> ended: training + final evaluation).

    OMP_NUM_THREADS=1 python benchmarks/hwdnet_demo_tables.py --runs-dir runs/hwdnet_demo/runs

Writes ``<out>/rows.csv``, ``claims.csv``, ``probes.csv``, ``chance.csv`` and ``report.md``.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reidlab.analysis import decoupling as dc  # noqa: E402
from reidlab.analysis.claims import check_claims  # noqa: E402
from reidlab.analysis.tables import run_table  # noqa: E402
from reidlab.engine.runs import load_run  # noqa: E402
from reidlab.eval import evaluate  # noqa: E402
from reidlab.eval.chance import chance_ap_array, chance_rank_k  # noqa: E402
from reidlab.methods.specs import get_table  # noqa: E402


def _wall(run_dir: str) -> float:
    rec = load_run(run_dir).record
    if "started" not in rec or "ended" not in rec:
        return float("nan")
    return (datetime.fromisoformat(rec["ended"]) - datetime.fromisoformat(rec["started"])).total_seconds()


def _row_metrics(run_dir: str, protocol: str, n_boot: int, seed: int) -> dict:
    ev = evaluate(load_run(run_dir).load_features(), protocol, n_boot=n_boot, boot_seed=seed)
    s, pq = ev.summary, ev.per_query[~ev.per_query["skipped"].astype(bool)]
    n_valid = np.round(float(s["n_gallery"]) - pq["n_junk"].to_numpy(float)).astype(int)
    n_pos = pq["n_pos"].to_numpy(int)
    out = {"protocol": protocol, "n_query": s["n_query"], "n_gallery": s["n_gallery"],
           "chance_mAP": float(np.mean(chance_ap_array(n_pos, n_valid))),
           "chance_R1": float(np.mean(chance_rank_k(n_pos, n_valid, 1)))}
    for m in ("mAP", "R1"):
        out[m] = s[m]
        out[m + "_ci_low"], out[m + "_ci_high"] = s[m + "_ci95"]
        out[m + "_std"] = s.get(m + "_std", float("nan"))
    return out


def _md(df: pd.DataFrame) -> str:
    """A markdown table (pandas' to_markdown needs the optional tabulate package)."""
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs-dir", default="runs/hwdnet_demo/runs")
    ap.add_argument("--out", default="runs/hwdnet_demo")
    ap.add_argument("--tables", nargs="+", default=["hwdnet_table2", "hwdnet_table3"])
    ap.add_argument("--rows", nargs="*", default=None, help="only these row labels (every table)")
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=1000)
    a = ap.parse_args()
    train = yaml.safe_load((REPO / "notebooks/params/demo.yaml").read_text())["common"]["train"]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, claims, probes = [], [], []
    for name in a.tables:
        spec = get_table(name)
        want = None if a.rows is None else [r.label for r in spec.rows if r.label in a.rows]
        t0 = time.perf_counter()
        df = run_table(spec, a.preset, a.seed, a.runs_dir, True, rows=want, progress=False, **train)
        print(f"{name}: {df['row'].nunique()} rows in {time.perf_counter() - t0:.0f} s "
              f"({int(df.drop_duplicates('row')['reused'].sum())} reused)", flush=True)
        for _, r in df.iterrows():
            rows.append({"table": name, "row": r["row"], "run_dir": r["run_dir"], "wall_s": _wall(r["run_dir"]),
                         **_row_metrics(r["run_dir"], r["protocol"], a.n_boot, a.seed)})
        if spec.claims and (want is None or len(want) == len(spec.rows)):
            claims.append(check_claims(spec, df, n_boot=a.n_boot, seed=a.seed).assign(table=name))
    rows_df = pd.DataFrame(rows)
    rows_df.to_csv(out / "rows.csv", index=False)
    for run_dir, g in rows_df.groupby("run_dir", sort=False):
        parts = dc.decoupled_parts_of_run(load_run(run_dir))
        t = dc.orientation_probes(parts, seed=a.seed, n_boot=a.n_boot)
        probes.append(t.assign(row=g["row"].iloc[0], run_dir=run_dir))
    probes_df = pd.concat(probes, ignore_index=True)
    probes_df.to_csv(out / "probes.csv", index=False)
    claims_df = pd.concat(claims, ignore_index=True) if claims else pd.DataFrame()
    claims_df.to_csv(out / "claims.csv", index=False)
    with open(out / "report.md", "w") as fh:
        cols = ["table", "row", "protocol", "mAP", "mAP_ci_low", "mAP_ci_high", "mAP_std", "R1", "R1_ci_low",
                "R1_ci_high", "chance_mAP", "chance_R1", "wall_s"]
        fh.write(_md(rows_df[cols]) + "\n\n")
        keep = [c for c in ("table", "id", "verdict", "value_a", "value_b", "delta", "ci_low", "ci_high")
                if c in claims_df]
        fh.write((_md(claims_df[keep]) if len(claims_df) else "no claims") + "\n\n")
        fh.write(_md(probes_df[["row", "part", "dim", "accuracy", "ci_low", "ci_high", "chance", "n_test"]]) + "\n")
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
