"""The records a dataset lists: one capture = identity, camera, scene, attributes, modality images.

A dataset class only knows how to list these; decoding lives in :mod:`reidlab.data.image`
and the torch side in :mod:`reidlab.data.torch_dataset`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from reidlab import MODALITIES


@dataclass(frozen=True)
class ImageRef:
    """One modality image of a capture.

    ``path`` is absolute. ``box`` is ``(left, top, right, bottom)`` in pixels when the
    modality is a crop of a larger file (RGBN300 / RGBNT100 store RGB|NIR|TIR side by side).
    """

    path: str
    box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Record:
    """One capture.

    Aligned datasets give one record per tuple with several ``images``; unaligned datasets
    (UCM-VeID, HOSS) give one record per image with a single key in ``images``.
    ``attrs`` holds what the dataset knows: orientation, colour, type, challenge, daynight...
    """

    pid: int
    camid: int
    images: Mapping[str, ImageRef]
    split: str
    scene: int = -1
    index: int = -1
    attrs: Mapping[str, object] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m in MODALITIES if m in self.images)


@dataclass
class ReIDData:
    """Everything a loader lists for one dataset root.

    ``splits`` maps a split name (``train``, ``query``, ``gallery`` and dataset-specific ones
    such as ``query3`` or ``subset/O2S/query``) to its records, each record's ``index`` being
    its position in that list.
    """

    name: str
    root: Path
    modalities: tuple[str, ...]
    aligned: bool
    splits: dict[str, list[Record]]
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, split: str) -> list[Record]:
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(f"{self.name}: no split {split!r}; available: {sorted(self.splits)}") from None

    @property
    def train(self) -> list[Record]:
        return self["train"]

    @property
    def query(self) -> list[Record]:
        return self["query"]

    @property
    def gallery(self) -> list[Record]:
        return self["gallery"]

    def manifest_checksum(self) -> str:
        """SHA-256 over every split's sorted (split, path, box, pid, camid, scene) lines.

        Identifies the exact list of images a run used; written into run records.
        """
        h = hashlib.sha256()
        for split in sorted(self.splits):
            for r in self.splits[split]:
                for m in r.modalities:
                    ref = r.images[m]
                    rel = _relpath(ref.path, self.root)
                    h.update(f"{split}|{m}|{rel}|{ref.box}|{r.pid}|{r.camid}|{r.scene}\n".encode())
        return h.hexdigest()


def _relpath(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path
