"""A leaderboard of training runs: one row per run folder under a directory.

::

    from reidlab.engine.leaderboard import runs_table
    runs_table("runs")            # DataFrame, best mAP first
    # reidlab runs ls runs/ [--protocol rgbn300/rgb2nir] [--sort R1]

Columns: ``run`` (folder, relative to the directory), ``method``, ``dataset``, then each config
value that differs between the listed runs (``lr``, ``modalities``...: only those, so the table
says what was varied), ``status`` (the run record's ``finished`` / ``running`` / ``diverged``...;
``incomplete`` when the record is missing, ``unreadable`` when a file cannot be parsed — such a
folder is listed with the reason in ``note``, never dropped), ``epochs_done`` ("done/planned"),
``time_s`` (wall time from the record's start/end, else the sum of the epochs' ``time_s``),
``protocol`` and its ``mAP`` / ``R1`` / ``mINP`` (as fractions, from ``results.csv``).

The protocol defaults to the one most runs were scored under (ties: alphabetical), so every
row's numbers are comparable; a run without that protocol has empty metrics.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

METRICS = ("mAP", "R1", "mINP")
# Config keys that name where/how a run was written, not what was trained.
_NOT_SETTINGS = {"out_dir", "run_name", "synth_cache", "device", "num_workers", "eval_batch_size", "root"}
_FIXED = ("run", "method", "dataset")
_TAIL = ("status", "epochs_done", "time_s", "protocol") + METRICS + ("note",)


def find_runs(root: str | Path, max_depth: int = 3) -> list[Path]:
    """Run folders (holding ``config.yaml``) at or under ``root``, to ``max_depth`` levels, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"runs directory {root} does not exist; pass the folder `reidlab train` "
                                "wrote into (out_dir, default runs/)")
    found: list[Path] = []
    frontier = [root]
    for _ in range(max_depth + 1):
        nxt = []
        for d in frontier:
            if (d / "config.yaml").is_file():
                found.append(d)  # a run folder: its checkpoints/ etc. are not searched
            else:
                nxt += sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
        frontier = nxt
    return sorted(found)


def _seconds(record: dict[str, Any], history: list[dict[str, Any]]) -> float | None:
    try:
        t0, t1 = datetime.fromisoformat(record["started"]), datetime.fromisoformat(record["ended"])
        return round((t1 - t0).total_seconds(), 1)
    except (KeyError, TypeError, ValueError):
        times = [h.get("time_s") for h in history if isinstance(h.get("time_s"), (int, float))]
        return round(sum(times), 1) if times else None


def read_run_summary(run_dir: Path) -> dict[str, Any]:
    """Config, status, epochs, time and per-protocol metrics of one run folder (no torch import)."""
    out: dict[str, Any] = {"config": {}, "status": "incomplete", "epochs_done": 0, "time_s": None,
                           "metrics": {}, "note": ""}
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        if not isinstance(cfg, dict):
            raise ValueError("config.yaml is not a mapping")
        out["config"] = cfg
        record = json.loads((run_dir / "record.json").read_text()) if (run_dir / "record.json").exists() else {}
        history = []
        if (run_dir / "history.jsonl").exists():
            history = [json.loads(ln) for ln in (run_dir / "history.jsonl").read_text().splitlines() if ln.strip()]
        out["status"] = str(record.get("status", "incomplete"))
        out["epochs_done"] = len(history)
        out["time_s"] = _seconds(record, history)
        if (run_dir / "results.csv").exists():
            res = pd.read_csv(run_dir / "results.csv")
            for _, r in res.iterrows():
                out["metrics"][str(r["protocol"])] = {m: float(r[m]) for m in METRICS if m in res.columns}
    except (OSError, ValueError, yaml.YAMLError, KeyError) as e:  # listed, with the reason
        out["status"], out["note"] = "unreadable", f"{type(e).__name__}: {e}"
    return out


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True, default=str)


def differing_keys(configs: Iterable[dict[str, Any]]) -> list[str]:
    """Config keys whose value is not the same in every config (a missing key counts as a value)."""
    configs = list(configs)
    configs = [c for c in configs if c]  # an unreadable folder has no config to compare
    keys = sorted({k for c in configs for k in c} - _NOT_SETTINGS - {"method", "dataset", "epochs"})
    return [k for k in keys if len({_hashable(c.get(k)) for c in configs}) > 1]


def runs_table(root: str | Path, *, protocol: str | None = None, sort: str | None = "mAP",
               ascending: bool | None = None) -> pd.DataFrame:
    """The leaderboard of the run folders under ``root`` (columns: module docstring).

    ``protocol``: whose metrics to show (default: the most common one). ``sort``: a column
    name (None: folder order); ``ascending`` defaults to False for metrics, True otherwise.
    Raises FileNotFoundError for a missing ``root`` and ValueError for an unknown ``sort``.
    """
    root = Path(root)
    dirs = find_runs(root)
    summaries = [read_run_summary(d) for d in dirs]
    if protocol is None:
        counts = Counter(p for s in summaries for p in s["metrics"])
        protocol = min(counts, key=lambda p: (-counts[p], p)) if counts else None
    varied = differing_keys(s["config"] for s in summaries)
    rows = []
    for d, s in zip(dirs, summaries):
        cfg, met = s["config"], s["metrics"].get(protocol, {}) if protocol else {}
        planned = cfg.get("epochs")
        row = {"run": str(d.relative_to(root)) if d != root else d.name,
               "method": cfg.get("method"), "dataset": cfg.get("dataset")}
        row.update({k: _cell(cfg.get(k)) for k in varied})
        row.update(status=s["status"], epochs_done=f"{s['epochs_done']}/{planned if planned is not None else '?'}",
                   time_s=s["time_s"], protocol=protocol if met else None,
                   **{m: met.get(m) for m in METRICS}, note=s["note"])
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(_FIXED) + varied + list(_TAIL))
    if sort is not None and len(df):
        if sort not in df.columns:
            raise ValueError(f"cannot sort by {sort!r}; columns: {list(df.columns)}")
        asc = (sort not in METRICS) if ascending is None else ascending
        df = df.sort_values(sort, ascending=asc, na_position="last", kind="stable").reset_index(drop=True)
    return df


def _cell(v: Any) -> Any:
    """Lists/dicts as short text so the column sorts and prints."""
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def leaderboard_widget(df: pd.DataFrame):
    """A sortable view for the notebook: a sort-by dropdown, an order toggle and the table.

    Returns an ``ipywidgets.VBox``; ``.sort_by`` / ``.descending`` / ``.table`` (an HTML widget) and
    ``.shown`` (the DataFrame in its current order) are attributes of it, for tests and scripts.
    The table is an HTML widget's value, not an ``Output`` widget's captured display: a headless run
    (papermill/nbclient) then has no output-capture messages to route, which hung under load.
    """
    import ipywidgets as w

    cols = list(df.columns)
    sort_by = w.Dropdown(options=cols, value="mAP" if "mAP" in cols else cols[0], description="sort by")
    descending = w.ToggleButton(value=True, description="descending")
    table = w.HTML()

    def redraw(_=None) -> None:
        shown = df.sort_values(sort_by.value, ascending=not descending.value, na_position="last", kind="stable")
        box.shown = shown
        table.value = shown.style.format(precision=4, na_rep="—").hide(axis="index").to_html()

    box = w.VBox([w.HBox([sort_by, descending]), table])
    box.sort_by, box.descending, box.table = sort_by, descending, table
    sort_by.observe(redraw, names="value")
    descending.observe(redraw, names="value")
    redraw()
    return box
