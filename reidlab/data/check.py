"""``reidlab data check``: list a dataset, verify every image, compare counts with its data card.

:func:`check_dataset` never raises on bad data: loader errors, unreadable images and
impossible sizes become ``CheckReport.errors`` (the CLI then exits 1); counted skips and
query IDs without a gallery match become ``warnings``; differences from the data card
(expected for synthetic trees, which are smaller) are ``card_notes``.
"""
from __future__ import annotations

import importlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from reidlab.data.errors import DataError, ImageError
from reidlab.data.records import ReIDData


@dataclass
class CheckReport:
    """Outcome of :func:`check_dataset`. ``counts`` rows: ``split, records, ids, images, per_mod, per_cam``;
    ``orientation`` rows (datasets with orientation labels): ``split, modality, counts {class: n}``."""

    name: str
    root: Path
    counts: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    card_notes: list[str] = field(default_factory=list)
    files_checked: int = 0
    full: bool = False
    orientation: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        lines = [f"dataset {self.name} at {self.root}"]
        if self.counts:
            lines.append(f"{'split':<22}{'records':>9}{'IDs':>7}{'images':>9}  per modality / per camera")
            for c in self.counts:
                mods = " ".join(f"{m}={n}" for m, n in c["per_mod"].items())
                cams = " ".join(f"c{k}={n}" for k, n in sorted(c["per_cam"].items()))
                lines.append(f"{c['split']:<22}{c['records']:>9}{c['ids']:>7}{c['images']:>9}  {mods} | {cams}")
        if self.orientation:
            lines.append("orientation classes (records) per split and modality")
            for o in self.orientation:
                counts = " ".join(f"o{k}={n}" for k, n in o["counts"].items())
                lines.append(f"  {o['split']:<20}{o['modality']:<6}{counts}")
        what = "decoded" if self.full else "header-checked"
        lines.append(f"{self.files_checked} image file(s) {what}")
        lines += [f"card: {n}" for n in self.card_notes]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines += [f"ERROR: {e}" for e in self.errors]
        lines.append("OK" if self.ok else f"FAILED with {len(self.errors)} error(s)")
        return "\n".join(lines)


def count_splits(data: ReIDData) -> list[dict]:
    """One row per split: record / ID / image counts, images per modality and per camera."""
    rows = []
    for split, recs in data.splits.items():
        per_mod: Counter = Counter(m for r in recs for m in r.modalities)  # canonical order
        per_cam: Counter = Counter(r.camid for r in recs)
        rows.append({"split": split, "records": len(recs), "ids": len({r.pid for r in recs}),
                     "images": sum(per_mod.values()), "per_mod": dict(per_mod), "per_cam": dict(per_cam)})
    return rows


def orientation_counts(data: ReIDData) -> list[dict]:
    """Records per orientation class, per split and modality (empty when no record has one)."""
    rows = []
    for split, recs in data.splits.items():
        for m in data.modalities:
            c: Counter = Counter(int(r.attrs["orientation"]) for r in recs
                                 if m in r.images and r.attrs.get("orientation") is not None)
            if c:
                rows.append({"split": split, "modality": m, "counts": dict(sorted(c.items()))})
    return rows


def check_dataset(name: str, root: str | os.PathLike, *, full: bool = False, max_errors: int = 20) -> CheckReport:
    """Check the dataset ``name`` at ``root``; ``full`` decodes every image (slow), else headers."""
    from tqdm import tqdm

    from reidlab.data.image import check_file
    from reidlab.data.registry import load_dataset

    report = CheckReport(name=name, root=Path(root), full=full)
    import warnings as _w

    try:
        with _w.catch_warnings():
            _w.simplefilter("ignore")  # the same messages land in data.warnings
            data = load_dataset(name, root, skip_corrupt=True)
    except DataError as exc:
        report.errors.append(str(exc))
        return report
    report.root = data.root
    report.counts = count_splits(data)
    report.orientation = orientation_counts(data)
    # Files load_dataset skipped are errors here; the remaining notes are warnings.
    report.warnings = [w for w in data.warnings if "corrupt/unreadable" not in w]
    paths = sorted({r.images[m].path for recs in data.splits.values() for r in recs for m in r.images})
    bad: list[str] = []
    for p in tqdm(paths, desc=f"checking {name}", leave=False, mininterval=1.0, disable=None):
        try:
            check_file(p, full=full)
        except ImageError as exc:
            bad.append(str(exc))
    skipped = [w for w in data.warnings if "corrupt/unreadable" in w]
    report.files_checked = len(paths)
    report.errors += skipped + bad[:max_errors]
    if len(bad) > max_errors:
        report.errors.append(f"... and {len(bad) - max_errors} more unreadable image(s)")
    report.card_notes = compare_with_card(name, data)
    return report


def compare_with_card(name: str, data: ReIDData) -> list[str]:
    """Compare split counts with the data card (``reidlab.data.cards.load_card``) when there is one."""
    try:
        cards = importlib.import_module("reidlab.data.cards")
    except ImportError:
        return ["reidlab.data.cards is not available: no comparison with a data card"]
    try:
        card = cards.load_card(name)
    except Exception as exc:  # no card for this name, or a card that does not parse
        return [f"no data card for {name!r} ({type(exc).__name__}: {exc})"]
    expected = _card_split_counts(card)
    if not expected:
        return [f"the {name} data card gives no per-split counts to compare"]
    found = {c["split"]: c for c in count_splits(data)}
    notes = []
    for split, exp in expected.items():
        got = found.get(split)
        if got is None:
            notes.append(f"{split}: on the card, not in this tree")
            continue
        keys = [k for k in ("ids", "records", "images") if k in exp]
        if any(int(exp[k]) != got[k] for k in keys):
            label = {"ids": "IDs", "records": "records", "images": "images"}
            card = " / ".join(f"{exp[k]} {label[k]}" for k in keys)
            tree = " / ".join(f"{got[k]}" for k in keys)
            notes.append(f"{split}: differs from the card ({card}); this tree has {tree}")
    if not notes:
        notes.append("split counts match the data card")
    elif any("differs" in n for n in notes):
        notes.append("(differences are expected for synthetic or partial trees)")
    return notes


def _card_split_counts(card: dict) -> dict[str, dict]:
    """``{split: {"ids"?, "records"?, "images"?}}`` from a card's ``splits`` (or ``counts``) mapping."""
    block = card.get("splits") or card.get("counts") or {}
    out: dict[str, dict] = {}
    if not isinstance(block, dict):
        return out
    aliases = {"ids": ("ids", "identities", "num_ids"), "records": ("records", "tuples", "pairs", "captures"),
               "images": ("images", "num_images")}
    for split, val in block.items():
        if not isinstance(val, dict):
            continue
        row = {}
        for key, names in aliases.items():
            for n in names:
                if isinstance(val.get(n), (int, float)):
                    row[key] = int(val[n])
                    break
        if row:
            out[str(split)] = row
    return out
