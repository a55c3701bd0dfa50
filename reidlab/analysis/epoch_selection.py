"""Final epoch vs best-over-test-epochs: how optimistic picking the best test evaluation is.

Several public codes (PORSCHE's among them) evaluate on the *test* set every few epochs and report the
best evaluation. reidlab reports the final epoch by default. :func:`final_vs_best` reads the per-epoch
evaluations a run recorded (``eval_every`` > 0 in its config; ``history.jsonl``) and puts the final-epoch
metric next to the best one over those evaluations, labelled optimistic: choosing the epoch on the test
set is a selection on the test data, so the "best" figure is biased upwards.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

__all__ = ["final_vs_best", "per_epoch_evals"]


def per_epoch_evals(history: pd.DataFrame) -> pd.DataFrame:
    """Long table ``epoch, protocol, <metrics...>`` of every evaluation in a run's history."""
    rows = []
    if "eval" not in history:
        return pd.DataFrame(columns=["epoch", "protocol"])
    for _, h in history.iterrows():
        ev = h.get("eval")
        if not isinstance(ev, list):
            continue
        for rec in ev:
            rows.append({"epoch": int(h["epoch"]), **rec})
    return pd.DataFrame(rows)


def final_vs_best(run_dirs: Iterable[str | Path], protocols: Iterable[str] | None = None, metric: str = "mAP",
                  labels: Iterable[str] | None = None) -> pd.DataFrame:
    """One line per (run, protocol): ``final`` (last epoch, what reidlab reports), ``best_optimistic`` (max
    over the run's test-set evaluations), ``best_epoch``, ``n_evals``, ``optimism`` = best - final (all in
    percent). A run with a single evaluation has ``n_evals`` 1 and no optimism to show (train with
    ``eval_every`` > 0 to record more)."""
    from reidlab.engine.runs import load_run

    dirs = [Path(d) for d in run_dirs]
    names = list(labels) if labels is not None else [d.name for d in dirs]
    if len(names) != len(dirs):
        raise ValueError(f"{len(names)} labels for {len(dirs)} runs")
    out = []
    for name, d in zip(names, dirs):
        ev = per_epoch_evals(load_run(d).history)
        if ev.empty:
            raise ValueError(f"{d}: the run's history holds no evaluation (was it finished with final_eval?)")
        if metric not in ev:
            raise ValueError(f"{d}: metric {metric!r} not in the evaluations ({sorted(ev.columns)})")
        for proto, g in ev.groupby("protocol", sort=False):
            if protocols is not None and proto not in set(protocols):
                continue
            g = g.sort_values("epoch")
            best = g.loc[g[metric].idxmax()]
            final = g.iloc[-1]
            out.append({"run": name, "protocol": proto, "final": 100 * float(final[metric]),
                        "final_epoch": int(final["epoch"]), "best_optimistic": 100 * float(best[metric]),
                        "best_epoch": int(best["epoch"]), "n_evals": len(g),
                        "optimism": 100 * (float(best[metric]) - float(final[metric]))})
    return pd.DataFrame(out)
