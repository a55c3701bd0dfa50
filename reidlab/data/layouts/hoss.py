"""HOSS ReID (ICCV 2025): optical (``rgb``) and SAR (``sar``) ship images, not aligned.

Tree (pass ``HOSS/`` or its parent)::

    HOSS/bounding_box_train/*.tif      -> split 'train'
    HOSS/query/*.tif                   -> split 'query'
    HOSS/bounding_box_test/*.tif       -> split 'gallery'
    HOSS/subset/{O2S,S2O}/query/*.tif             -> 'subset/O2S/query', 'subset/S2O/query'
    HOSS/subset/{O2S,S2O}/bounding_box_test/*.tif -> 'subset/O2S/gallery', 'subset/S2O/gallery'

Names: ``{pid:04d}_s{seq:02d}c{k}_{RGB|SAR}.tif`` (e.g. ``0318_s02c3_RGB.tif``): modality from
the suffix (``RGB`` -> ``rgb``, ``SAR`` -> ``sar``), ``camid = k`` (the satellite/sensor
number as written), ``attrs['seq'] = seq``; ``scene = -1``. One record per image. The
official TransOSS loader uses camid 0 = RGB, 1 = SAR instead; HOSS protocols drop nothing
by camera so this does not change any metric. A missing ``subset/`` folder is noted in
``ReIDData.warnings`` (the O2S / S2O protocols then cannot run).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from reidlab.data.layouts._common import DatasetLayout, scan_images
from reidlab.data.records import ImageRef, Record
from reidlab.data.registry import register_dataset

NAME_RE = re.compile(r"^(\d+)_s(\d+)c(\d+)_(RGB|SAR)\.tiff?$", re.IGNORECASE)
PATTERN = "{pid:04d}_s{seq:02d}c{k}_{RGB|SAR}.tif"
MAIN = {"train": ("bounding_box_train",), "query": ("query",), "gallery": ("bounding_box_test",)}
SUBSETS = ("O2S", "S2O")


@register_dataset("hoss")
class HOSS(DatasetLayout):
    modalities = ("rgb", "sar")
    aligned = False
    eval_pairs = (
        ("query", "gallery"),
        ("subset/O2S/query", "subset/O2S/gallery"),
        ("subset/S2O/query", "subset/S2O/gallery"),
    )
    expected_tree = (
        "  HOSS/\n"
        "    bounding_box_train/0001_s01c1_RGB.tif, 0001_s02c2_SAR.tif, ...\n"
        "    query/...\n"
        "    bounding_box_test/...\n"
        "    subset/O2S/{query,bounding_box_test}/...   (optional)\n"
        "    subset/S2O/{query,bounding_box_test}/...   (optional)\n"
    )

    def find_root(self, root: Path) -> Path:
        for cand in (root / "HOSS", root):
            if (cand / "bounding_box_train").is_dir() or (cand / "query").is_dir():
                return cand
        raise self.layout_error(f"{root} holds neither HOSS/ nor bounding_box_train/ and query/")

    def list_folder(self, split: str, folder: Path) -> list[Record]:
        names = scan_images(folder)
        if not names:
            raise self.layout_error(f"split folder {folder} holds no images")
        recs = []
        for name in names:
            path = os.path.join(folder, name)
            m = NAME_RE.match(name)
            if m is None:
                raise self.filename_error(path, PATTERN, "0318_s02c3_RGB.tif")
            pid, seq, cam, mod = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4).lower()
            mod = "rgb" if mod == "rgb" else "sar"
            recs.append(Record(pid=pid, camid=cam, images={mod: ImageRef(path)}, split=split, attrs={"seq": seq}))
        return recs

    def list_splits(self) -> dict[str, list[Record]]:
        splits = {s: self.list_folder(s, self.require_dir(self.root, c, s)) for s, c in MAIN.items()}
        sub = self.root / "subset"
        for name in SUBSETS:
            base = sub / name
            if not base.is_dir():
                self.notes.append(f"hoss: no {base} folder: the {name} cross-modal protocol cannot run")
                continue
            splits[f"subset/{name}/query"] = self.list_folder(
                f"subset/{name}/query", self.require_dir(base, ("query",), f"subset/{name}/query"))
            splits[f"subset/{name}/gallery"] = self.list_folder(
                f"subset/{name}/gallery", self.require_dir(base, ("bounding_box_test",), f"subset/{name}/gallery"))
        return splits
