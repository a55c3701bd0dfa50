"""Shared machinery for the layout loaders: the base class, folder scans, header reads.

A layout class only *lists* records; :func:`reidlab.data.registry.load_dataset` then merges
the ``attributes.csv`` sidecar, verifies images on request, numbers records and adds warnings.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from reidlab.data.errors import FilenameError, ImageError, LabelRangeError, LayoutError
from reidlab.data.records import Record

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})


class DatasetLayout:
    """Base class of one native layout.

    Subclasses set the class attributes and implement :meth:`find_root` and
    :meth:`list_splits`. ``notes`` collects counted, non-fatal skips (e.g. junk pid -1);
    they end up in ``ReIDData.warnings``.
    """

    name: ClassVar[str] = ""
    modalities: ClassVar[tuple[str, ...]] = ()
    aligned: ClassVar[bool] = True
    expected_tree: ClassVar[str] = ""
    # (query split, gallery split) pairs checked for query IDs that can never match.
    eval_pairs: ClassVar[tuple[tuple[str, str], ...]] = (("query", "gallery"),)

    def __init__(self, root: str | os.PathLike, *, skip_corrupt: bool = False) -> None:
        self.given_root = Path(root).expanduser().resolve()
        self.skip_corrupt = skip_corrupt
        self.notes: list[str] = []
        self.corrupt: list[str] = []  # paths skipped because unreadable (skip_corrupt=True)
        if not self.given_root.exists():
            raise self.layout_error(f"dataset root {self.given_root} does not exist")
        self.root = self.find_root(self.given_root)

    # -- to implement -------------------------------------------------------------------
    def find_root(self, root: Path) -> Path:
        """Return the folder holding the split folders (may be ``root`` or a child of it)."""
        raise NotImplementedError

    def list_splits(self) -> dict[str, list[Record]]:
        """Return ``{split: [Record]}`` with ``index=-1`` (numbered later)."""
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------------
    def layout_error(self, what: str) -> LayoutError:
        return LayoutError(
            f"{self.name}: {what}.\nExpected this tree (pass its top folder as root):\n"
            f"{self.expected_tree}"
        )

    def require_dir(self, base: Path, candidates: tuple[str, ...], split: str) -> Path:
        """The first existing folder among ``candidates`` under ``base``, else a LayoutError."""
        for c in candidates:
            p = base / c
            if p.is_dir():
                return p
        alts = " or ".join(f"{base / c}" for c in candidates)
        raise self.layout_error(f"missing the {split!r} split folder: expected {alts}")

    def filename_error(self, path: str | Path, pattern: str, example: str, why: str = "") -> FilenameError:
        extra = f" ({why})" if why else ""
        return FilenameError(
            f"{self.name}: cannot parse file name {str(path)!r}{extra}. Expected the pattern "
            f"{pattern}, e.g. {example!r}. Rename the file or move it out of the dataset folder."
        )

    def range_error(self, path: str | Path, what: str, value: int, lo: int, hi: int) -> LabelRangeError:
        return LabelRangeError(
            f"{self.name}: {what} {value} in {str(path)!r} is outside {lo}..{hi}, the range this "
            f"dataset defines. Fix the file name or check that this is really {self.name} data."
        )

    def note_junk(self, split: str, n: int) -> None:
        if n:
            self.notes.append(
                f"{self.name}/{split}: skipped {n} junk image(s) with pid -1 (Market-1501 convention)"
            )


def scan_images(folder: Path) -> list[str]:
    """Sorted file names of images (by extension, case-insensitive) directly inside ``folder``."""
    with os.scandir(folder) as it:
        names = [
            e.name
            for e in it
            if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in IMAGE_EXTS and e.is_file()
        ]
    names.sort()
    return names


def scan_dirs(folder: Path) -> list[str]:
    """Sorted names of the sub-folders of ``folder`` (hidden ones ignored)."""
    with os.scandir(folder) as it:
        names = [e.name for e in it if not e.name.startswith(".") and e.is_dir()]
    names.sort()
    return names


# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_size(path: str) -> tuple[int, int] | None:
    """Walk the JPEG marker segments up to the SOF (~10 us); None if not a well-formed JPEG."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\xff\xd8":
            return None
        while True:
            head = fh.read(4)
            if len(head) < 4 or head[0] != 0xFF:
                return None
            marker = head[1]
            if marker == 0xFF:  # fill byte: step one byte
                fh.seek(-3, 1)
                continue
            length = (head[2] << 8) | head[3]
            if marker in _SOF:
                body = fh.read(5)
                if len(body) < 5:
                    return None
                h, w = (body[1] << 8) | body[2], (body[3] << 8) | body[4]
                return (w, h) if w and h else None
            if length < 2:
                return None
            fh.seek(length - 2, 1)


def read_size(path: str) -> tuple[int, int]:
    """``(width, height)`` in pixels from the file header only; no pixel is decoded.

    JPEGs are parsed directly (~10 us/file, PIL's parser takes ~150 us); other formats and
    JPEGs the fast path cannot read go through PIL, which raises on a corrupt file.
    """
    from PIL import Image

    if path[-4:].lower() in (".jpg", "jpeg"):
        try:
            size = _jpeg_size(path)
        except OSError:
            size = None
        if size is not None:
            return size
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as exc:  # PIL raises many types for a bad file
        raise ImageError(
            f"cannot read the image header of {path!r} ({type(exc).__name__}: {exc}). The file is "
            "corrupt or not an image: replace it, delete it, or pass skip_corrupt=True to skip it."
        ) from exc
