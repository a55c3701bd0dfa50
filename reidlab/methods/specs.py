"""Paper tables and their headline claims as data, registered by the method file that owns them.

A method module registers, next to its model and default config, the tables of its paper::

    register_table(TableSpec(
        name="kamenou_table1", dataset="rgbn300", paper=("kamenou_icpr2022", "Table I"),
        columns=("rgbn300/rgb-nir", "rgbn300/rgb2nir", "rgbn300/nir2rgb"),
        rows=(TableRow("Baseline + FC_e", "kamenou", {...}), ...),
        claims=(Claim(id="kamenou.lcos_raises_v2i", paper="kamenou_icpr2022",
                      text="L_cos raises V->I mAP", kind="greater",
                      a="Baseline + FC_e + L_cos", b="Baseline + FC_e",
                      protocol="rgbn300/rgb2nir"), ...)))

Notebook 06 runs every registered table of the chosen dataset (:func:`list_tables`), prints the
rows next to the paper's numbers from the data card, and checks each claim with a bootstrap CI
(:mod:`reidlab.analysis.claims`). This module holds data only: no training, no evaluation, so a
method file can import it without cycles.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["CLAIM_KINDS", "Claim", "TableRow", "TableSpec", "get_table", "list_tables", "register_table"]

CLAIM_KINDS: dict[str, str] = {
    "greater": "metric(a @ protocol) > metric(b @ protocol_b, default protocol); delta = A - B",
    "ratio": "metric(a @ protocol) >= factor * metric(b @ protocol_b); delta = A - factor * B",
    "above_chance": "metric(a @ protocol) > factor * chance level of protocol; delta = A - factor * chance",
    "gap_lower": "gap statistic `metric` (centroid_distance, mmd2, probe_accuracy, ...) of row a lower than "
                 "of row b on the modalities of `protocol`; delta = B - A",
    "drop_greater": "drop of metric from queries without attribute `attr` to queries with it: row a's drop "
                    "(@ protocol) > row b's drop (@ protocol_b); delta = drop_A - drop_B",
}


@dataclass(frozen=True)
class Claim:
    """One headline claim of a paper about rows of a table; holds when the 95 % CI of ``delta`` > 0.

    ``a`` / ``b`` are row labels of the table the claim is registered with; ``protocol`` /
    ``protocol_b`` protocol names (columns of that table); ``metric`` an evaluation metric
    (``mAP``, ``R1``...) or, for ``gap_lower``, a gap statistic; ``factor`` the multiplier of
    ``ratio`` / ``above_chance``; ``attr`` the boolean capture attribute of ``drop_greater``
    written as ``name=value`` (e.g. ``daynight=night``). See :data:`CLAIM_KINDS`.
    """

    id: str
    paper: str
    text: str
    kind: str
    a: str
    b: str | None = None
    protocol: str | None = None
    protocol_b: str | None = None
    metric: str = "mAP"
    factor: float = 1.0
    attr: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"claim {self.id!r}: unknown kind {self.kind!r}; kinds: {sorted(CLAIM_KINDS)}")
        if self.kind in ("greater", "ratio", "gap_lower", "drop_greater") and self.b is None:
            raise ValueError(f"claim {self.id!r}: kind {self.kind!r} compares two rows; give b")
        if self.kind != "gap_lower" and self.protocol is None:
            raise ValueError(f"claim {self.id!r}: kind {self.kind!r} needs a protocol")
        if self.kind == "drop_greater" and (self.attr is None or "=" not in self.attr):
            raise ValueError(f"claim {self.id!r}: drop_greater needs attr='name=value' (e.g. 'daynight=night')")


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
    (protocol names), ``paper`` = ``(paper id, table name)`` in ``dataset``'s data card (None when the
    paper prints no such table: reidlab's own ablation), ``claims`` the headline claims on its rows."""

    name: str
    dataset: str
    rows: tuple[TableRow, ...]
    columns: tuple[str, ...]
    paper: tuple[str, str] | None = None
    description: str = ""
    claims: tuple[Claim, ...] = ()

    def __post_init__(self) -> None:
        rows = tuple(r if isinstance(r, TableRow) else TableRow(*r) for r in self.rows)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "claims", tuple(self.claims))
        labels = [r.label for r in rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"table {self.name}: duplicate row labels {labels}")
        for r in rows:
            bad = [p for p in (r.protocols or ()) if p not in self.columns]
            if bad:
                raise ValueError(f"table {self.name}: row {r.label!r} names protocols {bad} that are not columns")
        for c in self.claims:
            missing = [x for x in (c.a, c.b) if x is not None and x not in labels]
            if missing:
                raise ValueError(f"table {self.name}: claim {c.id!r} names rows {missing}; rows are {labels}")
            bad = [p for p in (c.protocol, c.protocol_b) if p is not None and p not in self.columns]
            if bad:
                raise ValueError(f"table {self.name}: claim {c.id!r} names protocols {bad} that are not columns")

    def row_protocols(self, row: TableRow) -> tuple[str, ...]:
        return row.protocols or self.columns

    def row(self, label: str) -> TableRow:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(f"table {self.name}: no row {label!r}; rows are {[r.label for r in self.rows]}")


_TABLES: dict[str, TableSpec] = {}


def register_table(spec: TableSpec) -> TableSpec:
    """Register ``spec`` under ``spec.name`` (called at import by the method file that owns it)."""
    if spec.name in _TABLES and _TABLES[spec.name] != spec:
        raise ValueError(f"table {spec.name!r} is already registered with other content")
    _TABLES[spec.name] = spec
    return spec


def _load_methods() -> None:
    from reidlab.methods.registry import list_methods

    list_methods()  # imports every method file, which registers its tables


def list_tables(dataset: str | None = None) -> list[str]:
    """Registered table names (of ``dataset`` when given), sorted."""
    _load_methods()
    return sorted(n for n, s in _TABLES.items() if dataset is None or s.dataset == dataset)


def get_table(name: str) -> TableSpec:
    """The registered :class:`TableSpec` ``name``; KeyError lists the registered ones."""
    _load_methods()
    if name not in _TABLES:
        raise KeyError(f"unknown table {name!r}; registered: {sorted(_TABLES)}")
    return _TABLES[name]
