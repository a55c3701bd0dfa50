"""Feature sets: what any model (reidlab's or another codebase's) hands to the evaluation engine.

Long format, so that aligned tuples, unaligned single-modality images and a method's own
fused embedding all fit one structure. For each split (``query``, ``gallery``, ...):

* per record (length N): ``pid``, ``camid``, ``scene``, ``index`` (the record's index in
  its split);
* per feature row (length R): ``feats`` (R x D float32), ``record`` (row -> record position
  0..N-1), ``key`` (the modality the row was computed from: ``rgb``, ``nir``, ``tir``,
  ``sar``; or a method's own fused embedding of a modality set, written
  ``fused:rgb+nir`` with modalities in canonical order).

On disk (``.npz``) each array is stored as ``"<split>/<name>"``; ``meta/dataset`` names the
dataset so that ``reidlab eval FEATURES.npz --protocol NAME`` can check they agree.
"""
from __future__ import annotations

import zipfile

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from reidlab import MODALITIES

_PER_RECORD = ("pid", "camid", "scene", "index")
_PER_ROW = ("feats", "record", "key")


def fused_key(modalities: Iterable[str]) -> str:
    """Key of a method's own fused embedding of ``modalities``, e.g. ``fused:rgb+nir``."""
    mods = set(modalities)
    unknown = mods - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; known: {MODALITIES}")
    return "fused:" + "+".join(m for m in MODALITIES if m in mods)


@dataclass
class SplitFeatures:
    """Features of one split. Shapes: per-record arrays (N,), ``feats`` (R, D), ``record``/``key`` (R,)."""

    pid: np.ndarray
    camid: np.ndarray
    scene: np.ndarray
    index: np.ndarray
    feats: np.ndarray
    record: np.ndarray
    key: np.ndarray

    def __post_init__(self) -> None:
        for name in _PER_RECORD + ("record",):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        self.feats = np.asarray(self.feats, dtype=np.float32)
        self.key = np.asarray(self.key).astype(str)
        n = len(self.pid)
        for name in _PER_RECORD:
            if len(getattr(self, name)) != n:
                raise ValueError(f"SplitFeatures: {name} has {len(getattr(self, name))} entries, pid has {n}")
        r = len(self.feats)
        if self.feats.ndim != 2:
            raise ValueError(f"SplitFeatures: feats must be 2-D (rows x dim), got shape {self.feats.shape}")
        if len(self.record) != r or len(self.key) != r:
            raise ValueError("SplitFeatures: feats, record and key must have the same number of rows")
        if r and (self.record.min() < 0 or self.record.max() >= n):
            raise ValueError("SplitFeatures: record indices out of range 0..N-1")
        if not np.isfinite(self.feats).all():
            bad = int((~np.isfinite(self.feats)).any(axis=1).sum())
            raise ValueError(f"SplitFeatures: {bad} feature rows contain NaN/Inf")

    @property
    def keys(self) -> list[str]:
        return sorted(set(self.key.tolist()))

    def rows(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(record_positions, feats)`` of the rows computed from ``key``."""
        sel = np.flatnonzero(self.key == key)
        return self.record[sel], self.feats[sel]


@dataclass
class FeatureSet:
    """Features of several splits of one dataset."""

    dataset: str
    splits: dict[str, SplitFeatures]
    meta: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, split: str) -> SplitFeatures:
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(f"feature set has no split {split!r}; it has {sorted(self.splits)}") from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"meta/dataset": np.array(self.dataset)}
        for k, v in self.meta.items():
            arrays[f"meta/{k}"] = np.array(str(v))
        for split, sf in self.splits.items():
            for name in _PER_RECORD + _PER_ROW:
                arrays[f"{split}/{name}"] = getattr(sf, name)
        np.savez(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"features file {path} does not exist")
        if path.is_dir() or not zipfile.is_zipfile(path):
            # np.load would try pickle on it and talk about allow_pickle: the wrong fix
            raise ValueError(f"{path}: not a reidlab features file (a .npz archive written by `reidlab extract` "
                             "or FeatureSet.save); see reidlab.eval.features for the format")
        try:
            with np.load(path, allow_pickle=False) as z:
                names = list(z.keys())
                if "meta/dataset" not in names:
                    raise ValueError(f"{path}: not a reidlab features file (no 'meta/dataset' array); "
                                     "see reidlab.eval.features for the format")
                meta = {k[5:]: str(z[k]) for k in names if k.startswith("meta/")}
                dataset = meta.pop("dataset")
                split_names = sorted({k.rsplit("/", 1)[0] for k in names if not k.startswith("meta/")})
                splits = {}
                for s in split_names:
                    missing = [n for n in _PER_RECORD + _PER_ROW if f"{s}/{n}" not in names]
                    if missing:
                        raise ValueError(f"{path}: split {s!r} lacks arrays {missing}")
                    splits[s] = SplitFeatures(**{n: z[f"{s}/{n}"] for n in _PER_RECORD + _PER_ROW})
        except ValueError as e:
            if "pickle" not in str(e):
                raise
            raise ValueError(f"{path}: holds pickled Python objects, which a reidlab features file never does; "
                             "pass the .npz written by `reidlab extract` (see reidlab.eval.features)") from e
        return cls(dataset=dataset, splits=splits, meta=meta)
