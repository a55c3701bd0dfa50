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

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from reidlab.methods.specs import Claim, TableRow, TableSpec, get_table, list_tables  # noqa: F401 (re-exported)

METRICS = ("mAP", "R1", "R5", "R10")
# Fields that do not change a run's numbers: left out of the reuse hash.
_NOT_HASHED = ("out_dir", "run_name", "device", "num_workers", "eval_batch_size", "eval_every")


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


def _merge(base: dict[str, Any], upd: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in upd.items():
        out[k] = _merge(dict(out[k]), v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def row_config(spec: TableSpec, row: TableRow, *, preset: str, seed: int, runs_dir: str | Path,
               **train_overrides: Any) -> dict[str, Any]:
    """The TrainConfig fields of one row: table defaults < ``train_overrides`` < row overrides.

    Row overrides win because they *define* the row (its modalities, its switches);
    ``method_overrides`` dicts are merged key by key.
    """
    d: dict[str, Any] = {"method": row.method, "dataset": spec.dataset, "preset": preset, "seed": seed,
                         "eval_protocols": list(spec.row_protocols(row)), "out_dir": str(runs_dir)}
    d = _merge(d, train_overrides)
    d = _merge(d, row.overrides)
    d["method"], d["eval_protocols"] = row.method, list(spec.row_protocols(row))
    return d


def config_hash(cfg: Mapping[str, Any]) -> str:
    """12 hex digits of SHA-256 over the (resolved) config, without the fields in ``_NOT_HASHED``.

    The config is first made canonical, so that spellings of the same run hash alike:
    ``modalities: null`` becomes the dataset layout's modalities, and ``method_overrides``
    entries equal to the method's default are dropped.
    """
    d = _canonical({k: v for k, v in cfg.items() if k not in _NOT_HASHED})
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _canonical(d: dict[str, Any]) -> dict[str, Any]:
    from reidlab.data.errors import DataError
    from reidlab.data.registry import get_layout
    from reidlab.methods.registry import default_config

    d = dict(d)
    if d.get("modalities") is None and d.get("dataset"):
        try:
            mods = tuple(get_layout(d["dataset"]).modalities)
        except DataError:  # not a registered layout: keep as given
            mods = ()
        if mods:
            d["modalities"] = list(mods)
    if d.get("method_overrides") and d.get("method"):
        try:
            defaults = default_config(d["method"])
        except (ValueError, NotImplementedError):  # a method outside the registry: keep as given
            defaults = {}
        d["method_overrides"] = {k: v for k, v in d["method_overrides"].items()
                                 if k not in defaults or defaults[k] != v}
    return d


def _resolve(d: Mapping[str, Any]) -> dict[str, Any]:
    from reidlab.engine.config import config_from_dict, resolve_config

    return resolve_config(config_from_dict(d)).to_dict()


def _results_of(run: Any) -> pd.DataFrame:
    res = getattr(run, "results", None)
    if not isinstance(res, pd.DataFrame) or "protocol" not in getattr(res, "columns", ()):
        raise ValueError(f"run {getattr(run, 'run_dir', run)!r} has no results table with a 'protocol' column "
                         "(was it trained with final_eval=False?)")
    return res


def ensure_run(cfg: Mapping[str, Any], runs_dir: str | Path, *, reuse: bool = True,
               train_fn: Callable[[Any], Any] | None = None, load_fn: Callable[[Path], Any] | None = None,
               resolve_fn: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
               progress: bool = True) -> tuple[Any, bool, str]:
    """Train ``cfg`` (TrainConfig fields) into ``runs_dir/<method>-<hash>`` or reuse that folder.

    Returns ``(run, reused, config_hash)``. The hash is over the resolved config (see
    :func:`config_hash`); a reused folder whose config.yaml hashes differently raises
    ValueError (stale or edited folder). ``train_fn(cfg_dict)`` / ``load_fn(run_dir)`` /
    ``resolve_fn(cfg_dict)`` default to the engine's ``train`` / ``load_run`` / ``resolve_config``.
    """
    if train_fn is None:
        from reidlab.engine.trainer import train as _train

        train_fn = lambda d: _train(d, progress=progress)  # noqa: E731
    if load_fn is None:
        from reidlab.engine.runs import load_run as load_fn
    resolve_fn = resolve_fn or _resolve
    runs_dir = Path(runs_dir)
    d = {**dict(cfg), "out_dir": str(runs_dir)}
    h = config_hash(resolve_fn(d))
    name = f"{d['method'].replace(':', '.')}-{h}"
    run_dir = runs_dir / name
    if reuse and (run_dir / "results.csv").exists():
        run = load_fn(run_dir)
        got_cfg = getattr(run, "config", None)
        got = config_hash(got_cfg.to_dict() if hasattr(got_cfg, "to_dict") else dict(got_cfg or {}))
        if got != h:
            raise ValueError(f"{run_dir}: its config.yaml hashes to {got}, not {h}: a stale or edited run "
                             "folder; delete it or pass reuse=False")
        return run, True, h
    return train_fn({**d, "run_name": name}), False, h


def run_table(spec: TableSpec, preset: str = "smoke", seed: int = 0, runs_dir: str | Path = "runs/tables",
              reuse: bool = True, *, rows: Sequence[str] | None = None,
              train_fn: Callable[[Any], Any] | None = None, load_fn: Callable[[Path], Any] | None = None,
              resolve_fn: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
              progress: bool = True, **train_overrides: Any) -> pd.DataFrame:
    """Fill ``spec``: train (or reuse, :func:`ensure_run`) one run per row, read its results.

    ``rows``: labels to run (default all). ``train_overrides``: TrainConfig fields for every
    row (the smoke settings: ``epochs``, ``backbone``, ``height`` ...); the injectable
    functions are passed to :func:`ensure_run` (tests use fakes).

    Returns one row per (table row, protocol): ``row, method, protocol, mAP, R1, R5, R10,
    mINP`` (fractions), ``run_dir``, ``reused`` (bool), ``config_hash``.
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
        run, reused, h = ensure_run(d, runs_dir, reuse=reuse, train_fn=train_fn, load_fn=load_fn,
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
