"""CSV manifest: any dataset described by one table (``load_dataset("manifest", CSV_OR_FOLDER)``).

``root`` is the CSV file itself or a folder holding ``manifest.csv``. One row per image::

    split,pid,camid,modality,path[,scene][,x0,y0,x1,y1][,tuple][,<attribute columns>...]
    train,12,3,rgb,images/0012_c3_001_rgb.jpg,,,,,,t0001,day
    train,12,3,nir,images/0012_c3_001_nir.jpg,,,,,,t0001,day

- ``split``: any name; ``bounding_box_train`` -> ``train``, ``bounding_box_test`` and
  ``test`` -> ``gallery``; others (``query``, ``query3``, ``subset/O2S/query``...) kept.
- ``pid``, ``camid``: integers; ``pid == -1`` marks junk and is skipped and counted.
- ``modality``: ``rgb`` (aliases vis, visible, optical, opt), ``nir`` (ni), ``tir``
  (th, thermal, ir: UCM-VeID's IR is thermal), ``sar``.
- ``path``: absolute, or relative to the CSV's folder. Every path must exist (an error
  naming the row, or a counted skip with ``skip_corrupt=True``).
- ``scene``: integer, default -1. ``x0,y0,x1,y1``: optional crop box in pixels
  (left, top, right, bottom), all four or none (empty cells = no box).
- ``tuple``: rows of one split sharing a non-empty tuple id form ONE aligned record
  (one image per modality; their pid, camid and scene must agree). Rows without a tuple id
  are one record each (unaligned data).
- Every other column goes into ``Record.attrs`` (integers and floats converted, empty cells
  left out).

The dataset counts as aligned when every record holds every modality of the manifest and
there are at least two modalities.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from reidlab import MODALITIES
from reidlab.data.attributes import convert
from reidlab.data.errors import DataError, ImageError, LayoutError
from reidlab.data.layouts._common import DatasetLayout
from reidlab.data.records import ImageRef, Record
from reidlab.data.registry import register_dataset

REQUIRED = ("split", "pid", "camid", "modality", "path")
BOX = ("x0", "y0", "x1", "y1")
RESERVED = set(REQUIRED) | set(BOX) | {"scene", "tuple"}
SPLIT_ALIASES = {"bounding_box_train": "train", "bounding_box_test": "gallery", "test": "gallery"}
MOD_ALIASES = {
    "rgb": "rgb", "vis": "rgb", "visible": "rgb", "optical": "rgb", "opt": "rgb",
    "nir": "nir", "ni": "nir", "tir": "tir", "th": "tir", "thermal": "tir", "ir": "tir", "sar": "sar",
}


def read_manifest(
    csv_path: Path, dataset: str, *, skip_corrupt: bool = False
) -> tuple[dict[str, list[Record]], list[str], list[str]]:
    """Parse a manifest into ``({split: [Record]}, notes, skipped_missing_paths)``."""
    base = csv_path.parent
    where = f"{dataset}: manifest {str(csv_path)!r}"
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in cols]
        if missing:
            raise LayoutError(
                f"{where} lacks the column(s) {missing}; the header must contain "
                f"{','.join(REQUIRED)} (optional: scene, x0,y0,x1,y1, tuple, attribute columns)"
            )
        reader.fieldnames = cols
        rows = list(reader)
    if not rows:
        raise LayoutError(f"{where} has a header but no rows")
    has_box = [c in cols for c in BOX]
    if any(has_box) and not all(has_box):
        raise LayoutError(f"{where}: give all four crop columns x0,y0,x1,y1 or none")
    attr_cols = [c for c in cols if c not in RESERVED]

    # key -> [pid, camid, scene, images, attrs, split, first line]
    groups: dict[tuple, list] = {}
    notes: list[str] = []
    skipped: list[str] = []
    junk: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        at = f"{where}, line {line}"
        try:
            pid, camid = int(row["pid"]), int(row["camid"])
            scene = int(row["scene"]) if row.get("scene") not in (None, "") else -1
        except ValueError:
            raise DataError(f"{at}: pid, camid and scene must be integers, got {row['pid']!r}, "
                            f"{row['camid']!r}, {row.get('scene')!r}") from None
        split = (row["split"] or "").strip()
        split = SPLIT_ALIASES.get(split, split)
        if not split:
            raise DataError(f"{at}: empty split")
        mod = MOD_ALIASES.get((row["modality"] or "").strip().lower())
        if mod is None:
            raise DataError(f"{at}: unknown modality {row['modality']!r}; use one of {sorted(MOD_ALIASES)}")
        if pid == -1:
            junk[split] = junk.get(split, 0) + 1
            continue
        if pid < 0 or camid < 0:
            raise DataError(f"{at}: pid and camid must be >= 0 (or pid -1 for junk), got {pid}, {camid}")
        path = (row["path"] or "").strip()
        if not path:
            raise DataError(f"{at}: empty path")
        full = path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))
        if not os.path.isfile(full):
            if not skip_corrupt:
                raise ImageError(f"{at}: image {full!r} does not exist. Fix the path (relative paths "
                                 "are relative to the CSV's folder) or pass skip_corrupt=True to skip it.")
            skipped.append(full)
            continue
        box = None
        if all(has_box) and any(row[c] not in (None, "") for c in BOX):
            try:
                box = tuple(int(float(row[c])) for c in BOX)
            except (TypeError, ValueError):
                raise DataError(f"{at}: crop box x0,y0,x1,y1 must be 4 numbers, got "
                                f"{[row[c] for c in BOX]}") from None
            if not (box[2] > box[0] >= 0 and box[3] > box[1] >= 0):
                raise DataError(f"{at}: empty or negative crop box {box}")
        attrs = {c: convert(row[c]) for c in attr_cols if row.get(c) not in (None, "")}
        tup = (row.get("tuple") or "").strip()
        key = (split, tup) if tup else (split, None, line)
        g = groups.get(key)
        if g is None:
            groups[key] = [pid, camid, scene, {mod: ImageRef(full, box)}, attrs, split, line]
            continue
        if (g[0], g[1], g[2]) != (pid, camid, scene):
            raise DataError(f"{at}: tuple {tup!r} already has pid/camid/scene {g[:3]} (line {g[6]}), "
                            f"this row says {[pid, camid, scene]}; rows of one tuple must agree")
        if mod in g[3]:
            raise DataError(f"{at}: tuple {tup!r} has two {mod!r} images (first at line {g[6]})")
        g[3][mod] = ImageRef(full, box)
        g[4].update(attrs)

    splits: dict[str, list[Record]] = {}
    for pid, camid, scene, images, attrs, split, _ in groups.values():
        splits.setdefault(split, []).append(
            Record(pid=pid, camid=camid, images=images, split=split, scene=scene, attrs=attrs))
    for split, n in junk.items():
        notes.append(f"{dataset}/{split}: skipped {n} junk row(s) with pid -1")
    return splits, notes, skipped


@register_dataset("manifest")
class Manifest(DatasetLayout):
    modalities = ()
    aligned = False
    expected_tree = "  a CSV file (or a folder holding manifest.csv); see reidlab.data.layouts.manifest\n"

    def find_root(self, root: Path) -> Path:
        if root.is_file():
            self.csv_path = root
            return root.parent
        if (root / "manifest.csv").is_file():
            self.csv_path = root / "manifest.csv"
            return root
        raise self.layout_error(f"{root} is neither a CSV file nor a folder holding manifest.csv")

    def list_splits(self) -> dict[str, list[Record]]:
        splits, notes, skipped = read_manifest(self.csv_path, self.name, skip_corrupt=self.skip_corrupt)
        self.notes.extend(notes)
        self.corrupt.extend(skipped)
        mods = {m for recs in splits.values() for r in recs for m in r.images}
        self.modalities = tuple(m for m in MODALITIES if m in mods)
        self.aligned = len(self.modalities) > 1 and all(
            len(r.images) == len(self.modalities) for recs in splits.values() for r in recs)
        if "query" in splits and "gallery" not in splits:
            self.notes.append(f"{self.name}: a query split but no gallery split in {self.csv_path}")
        return splits
