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
import os
from pathlib import Path
from typing import Any, Mapping

from reidlab.serialize import to_jsonable

RESULTS_ENV = "REIDLAB_RESULTS_FILE"
"""Environment variable naming the JSON file that :func:`record_result` merges into."""

RESULTS_FILENAME = "results.json"
MAX_TABLE_ROWS = 50

RESULTS: dict[str, Any] = {}
"""Results recorded in this process (kernel), whatever the destination."""


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
    stored = to_jsonable(value, ndigits=6, max_rows=MAX_TABLE_ROWS)
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
