"""UCM-VeID (UAV cross-modality vehicle Re-ID): RGB and IR (thermal, ``tir``), NOT aligned.

The release layout is not public (Baidu download only); reidlab defines the one in
``reidlab/data/synth/UCMVEID_LAYOUT.md``, which the synthetic generator writes::

    ROOT/train/{rgb,ir}/<NAME>.jpg
    ROOT/test/{rgb,ir}/<NAME>.jpg       the paper's test set, divided by modality at evaluation
                                        (or, alternatively, ROOT/{query,gallery}/{rgb,ir}/)
    ROOT/labels.csv        file,pid,video,orientation,type,colour   (required)
    ROOT/attributes.csv    optional sidecar, merged into Record.attrs

``NAME = {pid:04d}_v{video:02d}_o{orientation}_{idx:04d}`` (e.g. ``0603_v03_o5_0012.jpg``),
regex ``^(\\d+)_v(\\d+)_o([0-7])_(\\d+)\\.(jpg|jpeg|png)$``: ``camid`` = the video (UAV
flight, 1-based, as written), ``attrs['orientation']`` = 0..7. ``rgb/`` -> ``rgb``, ``ir/`` ->
``tir``. One record per image; RGB and IR counts differ. ``labels.csv`` adds ``type`` and
``colour`` (and ``orientation``) to ``Record.attrs``; an image without a labels row raises
:class:`DataError` naming it (with ``skip_corrupt=True`` it is skipped and counted); a row
whose pid disagrees with the file name is an error. Split folders ``bounding_box_train`` and
``bounding_box_test`` (for ``gallery``) are accepted as aliases. With ``test/`` the splits are
``train`` and ``test``; the ``ucmveid/*`` protocols take every test image of one modality as
queries and every test image of the other as the gallery. ``test/`` next to ``query/`` or
``gallery/`` is refused (two layouts in one root).

``root`` may instead be a CSV manifest (or a folder holding ``manifest.csv`` and no split
folders); see :mod:`reidlab.data.layouts.manifest` for its columns (``orientation``, ``type``,
``colour`` columns land in ``Record.attrs``). A manifest with a ``test`` split and no ``query``
split gives the paper's ``test`` split.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import replace
from pathlib import Path

from reidlab.data.attributes import convert
from reidlab.data.errors import DataError, first_few
from reidlab.data.layouts._common import DatasetLayout, scan_dirs, scan_images
from reidlab.data.layouts.manifest import read_manifest
from reidlab.data.records import ImageRef, Record
from reidlab.data.registry import register_dataset

SPLITS = {
    "train": ("train", "bounding_box_train"),
    "query": ("query",),
    "gallery": ("gallery", "bounding_box_test"),
}
#: the paper's test set, divided by modality at evaluation time (RGB2IR: test/rgb queries ->
#: test/ir gallery); when present it replaces the query/ + gallery/ folders.
TEST_DIRS = ("test",)
MOD_DIRS = {"rgb": "rgb", "ir": "tir"}
NAME_RE = re.compile(r"^(\d+)_v(\d+)_o([0-7])_(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)
PATTERN = "{pid:04d}_v{video:02d}_o{orientation 0-7}_{idx:04d}.jpg"
LABEL_COLS = ("file", "pid", "video", "orientation", "type", "colour")


@register_dataset("ucmveid")
class UCMVeID(DatasetLayout):
    modalities = ("rgb", "tir")
    aligned = False
    expected_tree = (
        "  UCM-VeID/\n"
        "    train/rgb/0001_v01_o3_0000.jpg   train/ir/0001_v02_o5_0000.jpg\n"
        "    test/{rgb,ir}/...             (the paper's test set, split by modality)\n"
        "    or query/{rgb,ir}/... and gallery/{rgb,ir}/...\n"
        "    labels.csv       file,pid,video,orientation,type,colour\n"
        "    attributes.csv   (optional)\n"
        "  or a CSV manifest (split,pid,camid,modality,path,...)\n"
    )

    def find_root(self, root: Path) -> Path:
        self.csv_path: Path | None = None
        if root.is_file() and root.suffix.lower() == ".csv":
            self.csv_path = root
            return root.parent
        for cand in (root, root / "UCM-VeID", root / "ucmveid"):
            if any((cand / c).is_dir() for c in SPLITS["train"] + SPLITS["query"] + TEST_DIRS):
                return cand
        if (root / "manifest.csv").is_file():
            self.csv_path = root / "manifest.csv"
            return root
        raise self.layout_error(f"{root} holds no train/ or query/ folder and no manifest.csv")

    def read_labels(self) -> dict[str, dict[str, object]]:
        path = self.root / "labels.csv"
        if not path.is_file():
            raise self.layout_error(f"missing {path} (per-image labels: {','.join(LABEL_COLS)})")
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            lacking = [c for c in LABEL_COLS if c not in (reader.fieldnames or [])]
            if lacking:
                raise DataError(f"{self.name}: {path} lacks column(s) {lacking}; needs {','.join(LABEL_COLS)}")
            return {os.path.normpath(os.path.join(self.root, row["file"])): row for row in reader}

    def list_split(self, split: str, folder: Path, labels: dict[str, dict]) -> list[Record]:
        mod_dirs = [d for d in scan_dirs(folder) if d in MOD_DIRS]
        if not mod_dirs:
            raise self.layout_error(f"split folder {folder} has neither rgb/ nor ir/")
        mod_dirs.sort(key=lambda d: self.modalities.index(MOD_DIRS[d]))  # rgb records first
        recs: list[Record] = []
        unlabelled: list[str] = []
        for d in mod_dirs:
            for name in scan_images(folder / d):
                path = os.path.join(folder, d, name)
                m = NAME_RE.match(name)
                if m is None:
                    raise self.filename_error(path, PATTERN, "0603_v03_o5_0012.jpg")
                pid, video, orient = int(m.group(1)), int(m.group(2)), int(m.group(3))
                row = labels.get(os.path.normpath(path))
                if row is None:
                    unlabelled.append(path)
                    continue
                if str(row["pid"]).strip() and int(row["pid"]) != pid:
                    raise DataError(f"{self.name}: labels.csv gives pid {row['pid']} for {path!r}, whose "
                                    f"name says {pid}; fix labels.csv or the file name")
                attrs = {"orientation": orient}
                attrs.update({k: convert(row[k]) for k in ("orientation", "type", "colour") if row.get(k)})
                recs.append(Record(pid=pid, camid=video, images={MOD_DIRS[d]: ImageRef(path)}, split=split, attrs=attrs))
        if unlabelled:
            if not self.skip_corrupt:
                raise DataError(f"{self.name}: {len(unlabelled)} image(s) have no row in {self.root / 'labels.csv'}: "
                                f"{first_few(unlabelled, 3)}. Add their labels, or pass skip_corrupt=True to skip them.")
            self.notes.append(f"{self.name}/{split}: skipped {len(unlabelled)} image(s) without labels.csv row")
        if not recs:
            raise self.layout_error(f"split folder {folder} holds no images")
        return recs

    def list_splits(self) -> dict[str, list[Record]]:
        if self.csv_path is not None:
            splits, notes, skipped = read_manifest(self.csv_path, self.name, skip_corrupt=self.skip_corrupt)
            self.notes.extend(notes)
            self.corrupt.extend(skipped)
            if "gallery" in splits and "query" not in splits:
                # the manifest reads split `test` as `gallery`; without a query split it is the
                # paper's test set, which the ucmveid protocols divide by modality
                splits["test"] = [replace(r, split="test") for r in splits.pop("gallery")]
                self.notes.append(f"{self.name}: manifest split 'test' (no 'query') read as the paper's test set")
            return splits
        labels = self.read_labels()
        test = next((self.root / d for d in TEST_DIRS if (self.root / d).is_dir()), None)
        if test is not None:
            if any((self.root / d).is_dir() for d in SPLITS["query"] + SPLITS["gallery"]):
                raise self.layout_error(f"{self.root} holds both test/ and query/ or gallery/ folders; keep one "
                                        "of the two layouts")
            tr = self.require_dir(self.root, SPLITS["train"], "train")
            return {"train": self.list_split("train", tr, labels), "test": self.list_split("test", test, labels)}
        return {s: self.list_split(s, self.require_dir(self.root, c, s), labels) for s, c in SPLITS.items()}
