"""Layouts that store the modalities of a capture side by side in one file (RGBN300, RGBNT100).

Tree: ``[ROOT/]rgbir/{bounding_box_train,query,bounding_box_test}/*.jpg``; each file is
``n`` modality images of equal width concatenated horizontally (RGB | NIR [| TIR]).
Every file's header is read at listing time (~30 us per file, ~2 s for 55k files) because
the crop boxes depend on the width; no pixel is decoded.

File names parse with ``([-\\d]+)_c([-\\d]+)`` -> ``pid``, camera. ``camid`` is the camera
number as written in the name (1..8). pid ``-1`` marks Market-style junk images: they are
skipped and counted in ``ReIDData.warnings``; pid ``0`` (Market's distractors) is kept.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import ClassVar

from tqdm import tqdm

from reidlab.data.errors import ImageError
from reidlab.data.layouts._common import DatasetLayout, read_size, scan_images
from reidlab.data.records import ImageRef, Record

SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("bounding_box_train",),
    "query": ("query",),
    "gallery": ("bounding_box_test",),
}
NAME_RE = re.compile(r"([-\d]+)_c([-\d]+)")


class SideBySideLayout(DatasetLayout):
    """Base for RGBN300 / RGBNT100. Subclasses set ``name``, ``modalities``, ``expected_tree``."""

    aligned = True
    cam_range: ClassVar[tuple[int, int]] = (1, 8)
    sub_folder: ClassVar[str] = "rgbir"

    def find_root(self, root: Path) -> Path:
        if (root / self.sub_folder).is_dir():
            return root / self.sub_folder
        if any((root / f[0]).is_dir() for f in SPLIT_FOLDERS.values()):
            return root
        raise self.layout_error(f"{root} holds neither {self.sub_folder}/ nor the split folders")

    def list_splits(self) -> dict[str, list[Record]]:
        n = len(self.modalities)
        splits: dict[str, list[Record]] = {}
        for split, cands in SPLIT_FOLDERS.items():
            folder = self.require_dir(self.root, cands, split)
            names = scan_images(folder)
            if not names:
                raise self.layout_error(f"split folder {folder} holds no images")
            recs: list[Record] = []
            junk = 0
            lo, hi = self.cam_range
            for name in tqdm(names, desc=f"{self.name}/{split}", leave=False, mininterval=1.0, disable=None):
                path = os.path.join(folder, name)
                m = NAME_RE.search(name)
                if m is None:
                    raise self.filename_error(path, "([-\\d]+)_c([-\\d]+) -> pid, camera", "0001_c0003_012.jpg")
                pid, cam = int(m.group(1)), int(m.group(2))
                if pid == -1:
                    junk += 1
                    continue
                if pid < 0:
                    raise self.range_error(path, "pid", pid, -1, 10**9)
                if not lo <= cam <= hi:
                    raise self.range_error(path, "camera", cam, lo, hi)
                try:
                    w, h = read_size(path)
                except ImageError:
                    if not self.skip_corrupt:
                        raise
                    self.corrupt.append(path)
                    continue
                if w % n:
                    raise ImageError(
                        f"{self.name}: {path!r} is {w}x{h} pixels; its width is not a multiple of "
                        f"{n}, the number of modalities ({' | '.join(self.modalities)}) stored side "
                        f"by side (e.g. {256 * n}x128). Re-export the file with equal-width panels."
                    )
                mw = w // n
                images = {mod: ImageRef(path, (k * mw, 0, (k + 1) * mw, h)) for k, mod in enumerate(self.modalities)}
                recs.append(Record(pid=pid, camid=cam, images=images, split=split))
            self.note_junk(split, junk)
            splits[split] = recs
        return splits


def tree(top: str, n_mod: int, mods: str) -> str:
    return (
        f"  {top}/                  (or pass rgbir/ itself)\n"
        f"    rgbir/\n"
        f"      bounding_box_train/0001_c0001_000.jpg   ({256 * n_mod}x128: {mods})\n"
        f"      query/...\n"
        f"      bounding_box_test/...\n"
    )
