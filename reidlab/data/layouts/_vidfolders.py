"""Aligned layouts with one folder per identity and one sub-folder per modality.

Tree: ``ROOT/<split folder>/<vid>/{vis,ni,th}/<img>``; the three files of a capture share
the same file name. A name present in one modality folder but not in another raises
:class:`UnpairedModalityError` listing the first few orphans, unless the loader option
``drop_unpaired=True`` is given (``load_dataset(name, root, drop_unpaired=True)``), which
drops such captures and counts them in ``ReIDData.warnings``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from reidlab.data.errors import UnpairedModalityError, first_few
from reidlab.data.layouts._common import DatasetLayout, scan_dirs, scan_images
from reidlab.data.records import ImageRef, Record

MOD_FOLDERS: dict[str, str] = {"rgb": "vis", "nir": "ni", "tir": "th"}


class VidFolderLayout(DatasetLayout):
    """Base for MSVR310 / WMVeID863. Subclasses define ``split_folders`` and :meth:`parse`."""

    modalities = ("rgb", "nir", "tir")
    aligned = True
    # split name -> accepted folder names, first existing wins.
    split_folders: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, root, *, skip_corrupt: bool = False, drop_unpaired: bool = False) -> None:
        self.drop_unpaired = drop_unpaired
        super().__init__(root, skip_corrupt=skip_corrupt)

    def find_root(self, root: Path) -> Path:
        first = next(iter(self.split_folders.values()))
        for cand in (root, root / self.name.upper()):
            if any((cand / f).is_dir() for f in first):
                return cand
        raise self.layout_error(f"{root} holds none of the train folders {first}")

    def parse(self, path: str, name: str, vid_folder: str) -> tuple[int, int, int, dict]:
        """``(pid, camid, scene, attrs)`` from a file name; raises FilenameError/LabelRangeError."""
        raise NotImplementedError

    def list_split(self, split: str, folder: Path) -> list[Record]:
        recs: list[Record] = []
        orphans: list[str] = []
        vids = scan_dirs(folder)
        stray = scan_images(folder)
        if stray:
            raise self.layout_error(
                f"{folder} holds image files directly ({first_few(stray, 3)}); images must sit in "
                f"<vid>/vis, <vid>/ni, <vid>/th sub-folders"
            )
        if not vids:
            raise self.layout_error(f"split folder {folder} holds no <vid>/ folders")
        junk = 0
        for vid in vids:
            vdir = folder / vid
            per_mod = {
                m: set(scan_images(vdir / sub)) if (vdir / sub).is_dir() else set()
                for m, sub in MOD_FOLDERS.items()
            }
            names = sorted(set().union(*per_mod.values()))
            for name in names:
                missing = [MOD_FOLDERS[m] for m in self.modalities if name not in per_mod[m]]
                if missing:
                    have = next(MOD_FOLDERS[m] for m in self.modalities if name in per_mod[m])
                    orphans.append(f"{vid}/{have}/{name} (no {', '.join(missing)} partner)")
                    continue
                path = {m: os.path.join(vdir, MOD_FOLDERS[m], name) for m in self.modalities}
                pid, camid, scene, attrs = self.parse(path["rgb"], name, vid)
                if pid == -1:
                    junk += 1
                    continue
                images = {m: ImageRef(path[m]) for m in self.modalities}
                recs.append(Record(pid=pid, camid=camid, images=images, split=split, scene=scene, attrs=attrs))
        if orphans:
            if not self.drop_unpaired:
                raise UnpairedModalityError(
                    f"{self.name}: {len(orphans)} capture(s) in {folder} lack a modality file: "
                    f"{first_few(orphans, 5)}. Each file in vis/ needs a file of the same name in ni/ "
                    "and th/. Restore or delete the orphans, or pass drop_unpaired=True to skip them."
                )
            self.notes.append(f"{self.name}/{split}: dropped {len(orphans)} unpaired capture(s) (drop_unpaired=True)")
        self.note_junk(split, junk)
        if not recs:
            raise self.layout_error(f"split folder {folder} holds no complete vis/ni/th captures")
        return recs

    def list_splits(self) -> dict[str, list[Record]]:
        return {
            split: self.list_split(split, self.require_dir(self.root, cands, split))
            for split, cands in self.split_folders.items()
        }
