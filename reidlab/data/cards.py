"""Data cards: ``data_cards/<name>.md`` = YAML front matter (machine-readable facts) + a readable body.

The front matter holds what is known about a dataset (modalities, layout, split sizes, protocols,
licence, citation) and ``paper_results``: published numbers transcribed from the seed papers, one
entry per (paper, table, method, setting, backbone) with ``mAP, R1, R5, R10`` in percent (null where
the paper does not report them). ``reidlab data check`` and notebook 01 compare observed counts
with :func:`expected_counts`.

Split entries are ``{ids, records, images, verified[, note]}``: ``records`` counts captures (an
aligned tuple is one record, an unaligned image is one record), ``images`` counts modality images.
``verified: true`` means the number is stated by the dataset's own paper (not checked against files);
``false`` marks figures inferred from loaders or secondary sources; null means unknown.
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

import reidlab

REQUIRED_KEYS: tuple[str, ...] = (
    "name", "full_name", "modalities", "aligned", "layout", "splits", "cameras", "protocols",
    "licence", "citation", "homepage", "download", "paper_results",
)
SYNTHETIC_REQUIRED_KEYS: tuple[str, ...] = (
    "name", "full_name", "kind", "layouts", "presets", "realism", "licence", "citation",
)
RESULT_KEYS: tuple[str, ...] = (
    "paper", "table", "method", "backbone", "setting", "protocol", "mAP", "R1", "R5", "R10",
)
SPLIT_KEYS: tuple[str, ...] = ("ids", "records", "images")
_FRONT_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)


class CardError(ValueError):
    """A data card is missing or malformed; the message names the file and the fix."""


def cards_dir() -> Path:
    """The repository's ``data_cards/`` folder (next to the ``reidlab`` package)."""
    return Path(reidlab.__file__).resolve().parents[1] / "data_cards"


def card_path(name: str) -> Path:
    """Path of ``data_cards/<name>.md``; :class:`CardError` listing the cards when absent."""
    path = cards_dir() / f"{name}.md"
    if not path.is_file():
        raise CardError(f"no data card {str(path)!r} for dataset {name!r}; available cards: {list_cards()}. "
                        f"Write data_cards/{name}.md (see data_cards/rgbn300.md for the format).")
    return path


def list_cards(kind: str | None = None) -> list[str]:
    """Names of the cards in ``data_cards/`` (sorted), e.g. ``['hoss', 'msvr310', ...]``.

    ``kind``: ``"dataset"`` (the six benchmarks) or ``"synthetic"`` (the generator's presets);
    None lists every card.
    """
    d = cards_dir()
    names = sorted(p.stem for p in d.glob("*.md")) if d.is_dir() else []
    if kind is None:
        return names
    return [n for n in names if load_card(n).get("kind", "dataset") == kind]


def _split_text(path: Path) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8")
    m = _FRONT_RE.match(text)
    if m is None:
        raise CardError(f"{str(path)!r} has no YAML front matter: the file must start with a '---' line, "
                        f"the YAML, and a closing '---' line")
    return m.group(1), text[m.end():]


@lru_cache(maxsize=None)
def _load(path_str: str, mtime_ns: int) -> dict[str, Any]:
    path = Path(path_str)
    front, _ = _split_text(path)
    try:
        card = yaml.safe_load(front)
    except yaml.YAMLError as e:
        raise CardError(f"{path_str!r}: front matter is not valid YAML ({e}); fix the YAML between the '---' lines") from e
    validate_card(card, path)
    return card


def validate_card(card: Any, path: str | Path = "<card>") -> None:
    """Raise :class:`CardError` naming ``path`` if ``card`` lacks a required key or is mistyped."""
    where = str(path)
    if not isinstance(card, dict):
        raise CardError(f"{where!r}: front matter must be a YAML mapping, got {type(card).__name__}")
    kind = card.get("kind", "dataset")
    if kind == "synthetic":
        missing = [k for k in SYNTHETIC_REQUIRED_KEYS if k not in card]
        if missing:
            raise CardError(f"{where!r}: synthetic card lacks required key(s) {missing}; add them")
        return
    if kind != "dataset":
        raise CardError(f"{where!r}: kind {kind!r} is neither 'dataset' nor 'synthetic'")
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise CardError(f"{where!r}: front matter lacks required key(s) {missing}; add them (null where unknown)")
    if card["name"] != Path(where).stem and where != "<card>":
        raise CardError(f"{where!r}: name {card['name']!r} differs from the file name; rename one of them")
    bad_mods = [m for m in card["modalities"] if m not in reidlab.MODALITIES]
    if bad_mods:
        raise CardError(f"{where!r}: modalities {bad_mods} are not reidlab names {list(reidlab.MODALITIES)}")
    if not isinstance(card["aligned"], bool):
        raise CardError(f"{where!r}: 'aligned' must be true or false, got {card['aligned']!r}")
    if not isinstance(card["splits"], dict):
        raise CardError(f"{where!r}: 'splits' must map a split name to {{ids, records, images}}")
    for split, sizes in card["splits"].items():
        if not isinstance(sizes, dict) or any(k not in sizes for k in SPLIT_KEYS):
            raise CardError(f"{where!r}: split {split!r} must give {list(SPLIT_KEYS)} (null where unknown)")
        for k in SPLIT_KEYS:
            v = sizes[k]
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise CardError(f"{where!r}: split {split!r} {k} = {v!r}; use a non-negative integer or null")
    if not isinstance(card["protocols"], list):
        raise CardError(f"{where!r}: 'protocols' must be a list of reidlab protocol names")
    if not isinstance(card["paper_results"], list):
        raise CardError(f"{where!r}: 'paper_results' must be a list of entries")
    for i, e in enumerate(card["paper_results"]):
        lacking = [k for k in RESULT_KEYS if not isinstance(e, dict) or k not in e]
        if lacking:
            raise CardError(f"{where!r}: paper_results[{i}] lacks {lacking}; every entry needs {list(RESULT_KEYS)}")
        for k in ("mAP", "R1", "R5", "R10", "R20"):
            v = e.get(k)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 100):
                raise CardError(f"{where!r}: paper_results[{i}] {k} = {v!r}; use a percentage in [0, 100] or null")


def load_card(name: str) -> dict[str, Any]:
    """Front matter of ``data_cards/<name>.md`` as a dict, validated (a fresh copy per call)."""
    path = card_path(name)
    card = _load(str(path), path.stat().st_mtime_ns)
    return copy.deepcopy(card)  # callers may mutate


def card_body(name: str) -> str:
    """The markdown body of the card (everything after the front matter)."""
    return _split_text(card_path(name))[1]


def _table_matches(value: str, wanted: str | int) -> bool:
    w = str(wanted).strip().lower()
    v = str(value).strip().lower()
    return v == w or v == f"table {w}"


def paper_results(card: str | dict[str, Any], table: str | int | None = None,
                  paper: str | None = None) -> pd.DataFrame:
    """Published numbers as a DataFrame, one row per entry.

    ``card``: a dataset name or a loaded card. ``table``: ``"Table 2"`` or just ``2`` / ``"I"``.
    ``paper``: e.g. ``"hamnet_aaai2020"``. Columns: ``paper, table, method, ablation, backbone,
    setting, protocol, mAP, R1, R5, R10, R20, note`` (metrics in %, NaN where not reported).
    """
    c = load_card(card) if isinstance(card, str) else card
    if "paper_results" not in c:
        raise CardError(f"card {c.get('name')!r} has no paper_results (a {c.get('kind', 'dataset')} card)")
    rows = [dict(e) for e in c["paper_results"]]
    if table is not None:
        rows = [r for r in rows if _table_matches(r["table"], table)]
    if paper is not None:
        rows = [r for r in rows if r["paper"] == paper]
    cols = ["paper", "table", "method", "ablation", "backbone", "setting", "protocol",
            "mAP", "R1", "R5", "R10", "R20", "note"]
    df = pd.DataFrame(rows, columns=cols)
    for k in ("mAP", "R1", "R5", "R10", "R20"):
        df[k] = pd.to_numeric(df[k], errors="raise").astype(float)
    return df


def expected_counts(name: str | dict[str, Any]) -> dict[str, dict[str, int | None]]:
    """``{split: {"ids", "records", "images"}}`` from the card (None where unknown)."""
    c = load_card(name) if isinstance(name, str) else name
    if "splits" not in c:
        raise CardError(f"card {c.get('name')!r} gives no split sizes (a {c.get('kind', 'dataset')} card)")
    return {s: {k: v.get(k) for k in SPLIT_KEYS} for s, v in c["splits"].items()}
