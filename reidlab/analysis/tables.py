"""Paper tables as data: which runs fill them, and reidlab's numbers next to the paper's.

A :class:`TableSpec` lists rows (label, method, config overrides, the protocols the row is
evaluated on, and how to find the paper's row in the data card) and columns (protocols).
:func:`run_table` trains each row once through :func:`reidlab.engine.trainer.train` — or
reuses the run folder ``runs_dir/<method>-<hash>`` whose resolved config hashes the same
(the hash covers every field that changes the numbers; not output paths, device or
worker count) — and returns one row per (table row, protocol). :func:`compare_with_paper`
puts those next to :func:`reidlab.data.cards.paper_results` of ``spec.paper``.

Units: reidlab's evaluation reports fractions in [0, 1]; :func:`run_table` keeps them; the
comparison converts ours to percent, as the papers print.

Registered tables (:data:`TABLES`): ``hamnet_table2`` (ResNet50 column of HAMNet Table 2),
``hamnet_table5`` (HAMNet ablation, rows from ``reidlab.methods.hamnet.TABLE_5_ROWS``),
``kamenou_table1`` (rows from ``reidlab.methods.kamenou.TABLE_I_ROWS``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from reidlab.engine.config import _merge
from reidlab.engine.runs import config_hash, get_or_train

METRICS = ("mAP", "R1", "R5", "R10")
# Fields that do not change a run's numbers: left out of the reuse hash.


@dataclass(frozen=True)
class TableRow:
    """One row: ``overrides`` are :class:`reidlab.engine.config.TrainConfig` fields (method
    switches under ``method_overrides``); ``protocols`` the columns this row fills (None = all);
    ``paper_match`` column -> value that selects the paper's row(s) in the data card."""

    label: str
    method: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    protocols: tuple[str, ...] | None = None
    paper_match: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    """A paper table: ``rows`` (TableRow or ``(label, method, overrides)`` tuples), ``columns``
    (protocol names), ``paper`` = ``(paper id, table name)`` in ``dataset``'s data card."""

    name: str
    dataset: str
    rows: tuple[TableRow, ...]
    columns: tuple[str, ...]
    paper: tuple[str, str] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        rows = tuple(r if isinstance(r, TableRow) else TableRow(*r) for r in self.rows)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "columns", tuple(self.columns))
        for r in rows:
            bad = [p for p in (r.protocols or ()) if p not in self.columns]
            if bad:
                raise ValueError(f"table {self.name}: row {r.label!r} names protocols {bad} that are not columns")

    def row_protocols(self, row: TableRow) -> tuple[str, ...]:
        return row.protocols or self.columns


def _hamnet_rows() -> dict[str, dict[str, Any]]:
    from reidlab.methods.hamnet import TABLE_5_ROWS

    return TABLE_5_ROWS


def _kamenou_rows() -> dict[str, dict[str, Any]]:
    from reidlab.methods.kamenou import TABLE_I_ROWS

    return TABLE_I_ROWS


def _norm(s: Any) -> str:
    """Label comparison that ignores spaces and case (the card writes '+L_hsc', the method '+ L_hsc')."""
    return re.sub(r"\s+", "", str(s)).lower()


def _hamnet_table2() -> TableSpec:
    rgb, nir, rn = "rgbn300/rgb", "rgbn300/nir", "rgbn300/rgb-nir"
    bb = {"backbone": "ResNet50"}
    return TableSpec(
        name="hamnet_table2", dataset="rgbn300", paper=("hamnet_aaai2020", "Table 2"), columns=(rgb, nir, rn),
        description="HAMNet (AAAI 2020) Table 2, ResNet50 column: one-stream RGB / NIR, MSN and HAMNet on RGB-N",
        rows=(TableRow("RGB one-stream", "one_stream", {"modalities": ["rgb"]}, (rgb,), {"method": "one_stream", "protocol": rgb, **bb}),
              TableRow("NIR one-stream", "one_stream", {"modalities": ["nir"]}, (nir,), {"method": "one_stream", "protocol": nir, **bb}),
              TableRow("RGB-N MSN", "msn", {"modalities": ["rgb", "nir"]}, (rn,), {"method": "msn", "protocol": rn, **bb}),
              TableRow("RGB-N HAMNet", "hamnet", {"modalities": ["rgb", "nir"]}, (rn,), {"method": "hamnet", "protocol": rn, **bb})))


def _hamnet_table5() -> TableSpec:
    rn = "rgbn300/rgb-nir"
    rows = []
    for label, switches in _hamnet_rows().items():
        rows.append(TableRow(label, "hamnet", {"modalities": ["rgb", "nir"], "method_overrides": dict(switches)}, (rn,),
                             {"ablation": label}))
    return TableSpec(name="hamnet_table5", dataset="rgbn300", paper=("hamnet_aaai2020", "Table 5"), columns=(rn,),
                     rows=tuple(rows), description="HAMNet Table 5 ablation on RGBN300 (ResNet50): L_hsc / L_caid switches")


def _kamenou_table1() -> TableSpec:
    cols = ("rgbn300/rgb-nir", "rgbn300/rgb2nir", "rgbn300/nir2rgb")
    # The card transcribes the last row as "... + L_cd-rl" (the paper's spelling); the method says L_cd-rll.
    card_label = {"Baseline + FC_e + L_cos + L_cd-rll": "Baseline + FC_e + L_cos + L_cd-rl"}
    rows = [TableRow(label, "kamenou", {"modalities": ["rgb", "nir"], "method_overrides": dict(sw)}, cols,
                     {"ablation": card_label.get(label, label)}) for label, sw in _kamenou_rows().items()]
    return TableSpec(name="kamenou_table1", dataset="rgbn300", paper=("kamenou_icpr2022", "Table I"), columns=cols,
                     rows=tuple(rows), description="Kamenou et al. (ICPR 2022) Table I: IV-IV, V-I, I-V on RGBN300")


_BUILDERS: dict[str, Callable[[], TableSpec]] = {
    "hamnet_table2": _hamnet_table2, "hamnet_table5": _hamnet_table5, "kamenou_table1": _kamenou_table1}


class _Tables(Mapping[str, TableSpec]):
    """Lazy registry: a table is built on first access (its rows come from the method modules)."""

    def __init__(self) -> None:
        self._built: dict[str, TableSpec] = {}

    def __getitem__(self, name: str) -> TableSpec:
        if name not in _BUILDERS:
            raise KeyError(f"unknown table {name!r}; registered: {sorted(_BUILDERS)}")
        if name not in self._built:
            self._built[name] = _BUILDERS[name]()
        return self._built[name]

    def __iter__(self):
        return iter(_BUILDERS)

    def __len__(self) -> int:
        return len(_BUILDERS)


TABLES: Mapping[str, TableSpec] = _Tables()
"""name -> :class:`TableSpec` for ``hamnet_table2``, ``hamnet_table5``, ``kamenou_table1``."""


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
    """Fill ``spec``: train (or reuse, :func:`reidlab.engine.runs.get_or_train`) one run per row, read its results.

    ``rows``: labels to run (default all). ``train_overrides``: TrainConfig fields for every
    row (the smoke settings: ``epochs``, ``backbone``, ``height`` ...); the injectable
    functions are passed to :func:`reidlab.engine.runs.get_or_train` (tests use fakes).

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
    Raises ValueError when a row's ``paper_match`` selects several paper rows for one protocol.
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
        for col, val in row.paper_match.items():
            sel = sel[sel[col].map(_norm) == _norm(val)]
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
