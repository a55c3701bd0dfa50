"""The attribute sidecar ``attributes.csv`` and the cell conversion shared by every CSV reader.

The sidecar has a column ``file`` (image path relative to the folder holding the CSV) and any
attribute columns; :func:`merge_attributes` puts those into ``Record.attrs``. It is read by
:func:`reidlab.data.registry.load_dataset` (every layout) only: tools read ``Record.attrs``.
:func:`convert` is the one cell parser of the manifest, UCM-VeID's labels and the sidecar.
"""
from __future__ import annotations

import csv
import os
from dataclasses import replace
from pathlib import Path

from reidlab.data.errors import DataError
from reidlab.data.records import Record

SIDECAR = "attributes.csv"


def convert(value: str) -> object:
    """``'3'`` -> 3, ``'0.5'`` -> 0.5, anything else unchanged."""
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def merge_attributes(splits: dict[str, list[Record]], sidecar: Path) -> dict[str, list[Record]]:
    """Merge ``sidecar`` rows into the attrs of the records whose image files they name.

    For a record with several files the rows of its files are merged in modality order;
    sidecar values override values parsed from file names.
    """
    base = sidecar.parent
    table: dict[str, dict[str, object]] = {}
    with open(sidecar, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if "file" not in (reader.fieldnames or []):
            raise DataError(f"{sidecar}: the attributes sidecar needs a 'file' column (path relative to "
                            f"{base}); found columns {reader.fieldnames}")
        for row in reader:
            f = os.path.normpath(os.path.join(base, row.pop("file")))
            table[f] = {k: convert(v) for k, v in row.items() if k and v not in (None, "")}
    # Columns that duplicate Record fields are checked, not copied into attrs.
    fields = ("split", "pid", "camid", "scene", "modalities")
    if not table:
        return splits
    out: dict[str, list[Record]] = {}
    for split, recs in splits.items():
        new = []
        for r in recs:
            extra: dict[str, object] = {}
            for m in r.modalities:
                row = table.get(os.path.normpath(r.images[m].path))
                if row is None:
                    continue
                if "pid" in row and row["pid"] != r.pid:
                    raise DataError(f"{sidecar}: gives pid {row['pid']} for {r.images[m].path!r}, whose name "
                                    f"says {r.pid}; fix or delete the sidecar")
                extra.update({k: v for k, v in row.items() if k not in fields})
            new.append(replace(r, attrs={**r.attrs, **extra}) if extra else r)
        out[split] = new
    return out
