"""Fill paper tables with runs, and put reidlab's numbers next to the paper's.

The tables themselves are data registered by the method file that owns them
(:func:`reidlab.methods.specs.register_table`; :class:`TableSpec`, :class:`TableRow` and
:class:`Claim` are re-exported here). A :class:`TableSpec` lists rows (label, method, config overrides, the protocols the row is
evaluated on, and how to find the paper's row in the data card) and columns (protocols).
:func:`run_table` trains each row once through :func:`reidlab.engine.trainer.train` — or
reuses the run folder ``runs_dir/<method>-<hash>`` whose resolved config hashes the same
(the hash covers every field that changes the numbers; not output paths, device or
worker count) — and returns one row per (table row, protocol). :func:`compare_with_paper`
puts those next to :func:`reidlab.data.cards.paper_results` of ``spec.paper``.

Units: reidlab's evaluation reports fractions in [0, 1]; :func:`run_table` keeps them; the
comparison converts ours to percent, as the papers print.

Registered tables: :func:`list_tables` (``list_tables("rgbn300")`` for one dataset),
:func:`get_table`; :data:`TABLES` is a read-only mapping over the same registry.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from reidlab.methods.specs import Claim, TableRow, TableSpec, get_table, list_tables  # noqa: F401 (re-exported)
from reidlab.engine.config import _merge
from reidlab.engine.run_cache import config_hash, get_or_train

METRICS = ("mAP", "R1", "R5", "R10")
# Fields that do not change a run's numbers: left out of the reuse hash.


class _Tables(Mapping[str, TableSpec]):
    """Read-only view of :func:`reidlab.methods.specs.list_tables` / :func:`~reidlab.methods.specs.get_table`
    (kept for ``TABLES[name]`` callers; the registry lives with the method files)."""

    def __getitem__(self, name: str) -> TableSpec:
        return get_table(name)

    def __iter__(self):
        return iter(list_tables())

    def __len__(self) -> int:
        return len(list_tables())


TABLES: Mapping[str, TableSpec] = _Tables()
"""name -> :class:`TableSpec` of every registered table (see :func:`list_tables`)."""


def row_config(spec: TableSpec, row: TableRow, *, preset: str, seed: int, runs_dir: str | Path,
               **train_overrides: Any) -> dict[str, Any]:
    """The TrainConfig fields of one row: table defaults < ``train_overrides`` < row overrides.

    Row overrides win because they *define* the row (its modalities, its switches);
    ``method_overrides`` dicts are merged key by key. ``eval_protocols`` is left unset: a run is
    scored under every protocol of its dataset, so one run (one config hash) serves every table
    and notebook that trains the same configuration.
    """
    d: dict[str, Any] = {"method": row.method, "dataset": spec.dataset, "preset": preset, "seed": seed,
                         "out_dir": str(runs_dir)}
    d = _merge(d, train_overrides)
    d = _merge(d, row.overrides)
    d["method"] = row.method
    d.pop("eval_protocols", None)
    return d


def _results_of(run: Any) -> pd.DataFrame:
    res = getattr(run, "results", None)
    if not isinstance(res, pd.DataFrame) or "protocol" not in getattr(res, "columns", ()):
        raise ValueError(f"run {getattr(run, 'run_dir', run)!r} has no results table with a 'protocol' column "
                         "(was it trained with final_eval=False?)")
    return res


def run_table(spec: TableSpec, preset: str = "smoke", seed: int = 0, runs_dir: str | Path = "runs/tables",
              reuse: bool = True, *, rows: Sequence[str] | None = None,
              train_fn: Callable[[Any], Any] | None = None, load_fn: Callable[[Path], Any] | None = None,
              resolve_fn: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
              progress: bool = True, **train_overrides: Any) -> pd.DataFrame:
    """Fill ``spec``: train (or reuse) one run per row, read its results.

    Parameters
    ----------
    spec : TableSpec
        The table (rows, protocols, dataset), e.g. ``get_table("msn_table2")``.
    preset : str
        Synthetic-data and training preset of every row (``smoke``, ``demo``, ``paper``).
    seed : int
        Training seed of every row.
    runs_dir : str or Path
        Where the run folders live (``<runs_dir>/<method>-<config hash>``).
    reuse : bool
        Reuse a finished run folder of the same config (False: train again).
    rows : sequence of str, optional
        Row labels to run (default: all); unknown labels raise ValueError.
    train_fn, load_fn, resolve_fn : callable, optional
        Passed to :func:`reidlab.engine.run_cache.get_or_train` (tests use fakes).
    progress : bool
        Show tqdm progress bars.
    **train_overrides
        TrainConfig fields for every row (the smoke settings: ``epochs``, ``backbone``,
        ``height`` ...); a row's own overrides win (see :func:`row_config`).

    Returns
    -------
    pandas.DataFrame
        One row per (table row, protocol): ``row, method, protocol, mAP, R1, R5, R10, mINP``
        (fractions in [0, 1]), ``run_dir``, ``reused`` (bool), ``config_hash``.
    """
    chosen = list(spec.rows)
    if rows is not None:
        unknown = sorted(set(rows) - {r.label for r in spec.rows})
        if unknown:
            raise ValueError(f"table {spec.name}: unknown rows {unknown}; rows are {[r.label for r in spec.rows]}")
        chosen = [r for r in spec.rows if r.label in rows]
    out = []
    for row in tqdm(chosen, desc=spec.name, unit="row", disable=not progress):
        d = row_config(spec, row, preset=preset, seed=seed, runs_dir=runs_dir, **train_overrides)
        run, reused, h = get_or_train(d, runs_dir, reuse=reuse, train_fn=train_fn, load_fn=load_fn,
                                      resolve_fn=resolve_fn, progress=progress)
        run_dir = getattr(run, "run_dir", "?")
        res = _results_of(run).set_index("protocol")
        for p in spec.row_protocols(row):
            if p not in res.index:
                raise ValueError(f"{run_dir}: no result for protocol {p!r} (it has {list(res.index)})")
            r = res.loc[p]
            out.append({"row": row.label, "method": row.method, "protocol": p,
                        **{m: float(r[m]) if m in r else float("nan") for m in METRICS + ("mINP",)},
                        "run_dir": str(run_dir), "reused": bool(reused), "config_hash": h})
    return pd.DataFrame(out)


def as_wide(df: pd.DataFrame, metrics: Iterable[str] = ("mAP", "R1")) -> pd.DataFrame:
    """Rows = table rows (in order), columns = (protocol, metric)."""
    order = list(dict.fromkeys(df["row"]))
    wide = df.pivot_table(index="row", columns="protocol", values=list(metrics), sort=False)
    wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0, sort_remaining=False)
    return wide.reindex(order)


def compare_with_paper(ours_df: pd.DataFrame, spec: TableSpec, *, metrics: Sequence[str] = METRICS,
                       paper_df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Side by side, one line per (row, protocol, metric): ``ours`` (percent), ``paper`` (percent,
    NaN where the paper has no number), ``diff`` = ours - paper.

    ``paper_df`` defaults to ``reidlab.data.cards.paper_results(spec.dataset, table, paper)``.
    A row with an empty ``paper_match`` (not in the paper) gets NaN. Raises ValueError when a row's ``paper_match`` selects several paper rows for one protocol.
    """
    if spec.paper is None:
        raise ValueError(f"table {spec.name} names no paper table to compare with")
    if paper_df is None:
        from reidlab.data.cards import paper_results

        paper_df = paper_results(spec.dataset, table=spec.paper[1], paper=spec.paper[0])
    by_label = {r.label: r for r in spec.rows}
    lines = []
    for _, o in ours_df.iterrows():
        row = by_label.get(o["row"])
        if row is None:
            raise ValueError(f"row {o['row']!r} is not in table {spec.name}")
        sel = paper_df[paper_df["protocol"] == o["protocol"]] if "protocol" in paper_df else paper_df
        if not row.paper_match:  # a row of reidlab's own, not printed in the paper
            sel = sel.iloc[:0]
        for col, val in row.paper_match.items():
            sel = sel[sel[col].astype(str) == str(val)]  # exact: the card writes the row labels
        if len(sel) > 1:
            raise ValueError(f"table {spec.name}, row {row.label!r}, {o['protocol']}: {len(sel)} paper rows match "
                             f"{dict(row.paper_match)}; make paper_match more specific")
        for m in metrics:
            ours = 100.0 * float(o[m]) if m in o and pd.notna(o[m]) else float("nan")
            paper = float(sel.iloc[0][m]) if len(sel) and m in sel and pd.notna(sel.iloc[0][m]) else float("nan")
            lines.append({"row": row.label, "protocol": o["protocol"], "metric": m, "ours": ours, "paper": paper,
                          "diff": ours - paper})
    return pd.DataFrame(lines)


def comparison_wide(cmp: pd.DataFrame) -> pd.DataFrame:
    """``compare_with_paper`` output pivoted: rows = table rows, columns = (protocol, metric, ours|paper)."""
    order = list(dict.fromkeys(cmp["row"]))
    w = cmp.pivot_table(index="row", columns=["protocol", "metric"], values=["ours", "paper"], sort=False, dropna=False)
    w = w.reorder_levels([1, 2, 0], axis=1).sort_index(axis=1, level=[0, 1], sort_remaining=False)
    return w.reindex(order).round(1)
