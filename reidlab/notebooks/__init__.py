"""Headless notebook suite: the papermill runner and the key-results mechanism notebooks use.

Key results
-----------
A notebook records the few numbers (or small tables) that the suite summary should show with::

    from reidlab.notebooks import record_result
    record_result("mAP rgbn300/rgb-nir", summary["mAP"])      # number, str, bool, list, dict
    record_result("table2", df)                               # or a small pandas DataFrame

or several at once with ``reidlab.notebooks.report({"mAP": 0.41, "R1": 0.6})``.

Where they go: when the runner (:func:`reidlab.notebooks.runner.run_notebooks`) executes a
notebook it sets the environment variable ``REIDLAB_RESULTS_FILE`` to
``<out>/<notebook stem>/results.json`` (the kernel inherits it); each call merges one entry
into that JSON file, so results survive a later failing cell. Outside the runner (a person
running the notebook in Jupyter) nothing is written unless ``out_dir`` is passed; the values
are kept in :data:`RESULTS` of the kernel and returned, so the call is harmless there.

Values are stored as JSON: numpy scalars become Python numbers, floats are rounded to 6
decimals (so that the summary of two identical CPU runs compares equal and is readable),
DataFrames become ``{"columns": [...], "data": [[...], ...]}`` (at most 50 rows).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

RESULTS_ENV = "REIDLAB_RESULTS_FILE"
"""Environment variable naming the JSON file that :func:`record_result` merges into."""

RESULTS_FILENAME = "results.json"
MAX_TABLE_ROWS = 50

RESULTS: dict[str, Any] = {}
"""Results recorded in this process (kernel), whatever the destination."""


def to_jsonable(value: Any, *, ndigits: int = 6) -> Any:
    """Convert ``value`` to plain JSON types (rounding floats to ``ndigits``; NaN -> None).

    Raises TypeError naming the type when the value cannot be represented.
    """
    try:  # pandas / numpy are optional here so that the runner stays light
        import numpy as np
        import pandas as pd
    except ImportError:  # pragma: no cover - both are reidlab dependencies
        np = pd = None  # type: ignore[assignment]
    if pd is not None and isinstance(value, pd.DataFrame):
        df = value.head(MAX_TABLE_ROWS).reset_index()
        if "index" in df.columns and isinstance(value.index, pd.RangeIndex):
            df = df.drop(columns="index")
        return {"columns": [str(c) for c in df.columns],
                "data": [[to_jsonable(v, ndigits=ndigits) for v in row] for row in df.itertuples(index=False)]}
    if pd is not None and isinstance(value, pd.Series):
        return {str(k): to_jsonable(v, ndigits=ndigits) for k, v in value.items()}
    if np is not None and isinstance(value, np.ndarray):
        return [to_jsonable(v, ndigits=ndigits) for v in value.tolist()]
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, ndigits)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, ndigits=ndigits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, ndigits=ndigits) for v in value]
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"record_result: cannot store a {type(value).__name__} as a key result; "
                    "pass a number, string, list, dict or a pandas DataFrame")


def _results_file(out_dir: str | Path | None) -> Path | None:
    if out_dir is not None:
        return Path(out_dir) / RESULTS_FILENAME
    env = os.environ.get(RESULTS_ENV)
    return Path(env) if env else None


def record_result(name: str, value: Any, *, out_dir: str | Path | None = None) -> Any:
    """Record one key result of the running notebook for the suite summary.

    ``name``: short label shown in the summary (e.g. ``"mAP rgbn300/rgb-nir"``).
    ``value``: number / string / list / dict / DataFrame (see module doc for the conversion).
    ``out_dir``: write ``out_dir/results.json`` instead of the file named by
    ``$REIDLAB_RESULTS_FILE``. Returns the stored (JSON) value.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("record_result: name must be a non-empty string")
    stored = to_jsonable(value)
    RESULTS[name] = stored
    path = _results_file(out_dir)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        current = json.loads(path.read_text()) if path.exists() else {}
        current[name] = stored
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(current, indent=1, sort_keys=True))
        tmp.replace(path)  # atomic: a crash never leaves half a file for the runner to read
    return stored


def report(results: Mapping[str, Any] | Any, *, name: str = "results",
           out_dir: str | Path | None = None) -> dict[str, Any]:
    """Record several key results: a mapping name -> value, or one DataFrame under ``name``."""
    if isinstance(results, Mapping):
        return {k: record_result(str(k), v, out_dir=out_dir) for k, v in results.items()}
    return {name: record_result(name, results, out_dir=out_dir)}


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` written by :func:`record_result` ({} when absent)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: key-results file is not valid JSON ({e}); delete it and re-run") from e


__all__ = ["record_result", "report", "load_results", "to_jsonable", "RESULTS", "RESULTS_ENV"]
