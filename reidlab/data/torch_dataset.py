"""The torch ``Dataset`` over records: decodes and transforms jointly; no placeholder images.

Each item is a dict::

    {"images": {mod: Tensor(3, H, W) float32}, "present": {mod: bool},
     "pid": int, "label": int, "camid": int, "scene": int, "index": int, "fields": {name: value}}

``images`` holds only the modalities (of ``modalities``) the record has; ``present`` names every
modality of ``modalities``. A modality the record lacks (unaligned data such as HOSS or
UCM-VeID) is absent, never a zero image. ``label`` is the contiguous class index 0..C-1 over the
sorted pids when ``relabel=True`` (training), else the pid. ``fields`` holds the per-sample fields
named in ``fields=`` (a method's ``sample_fields``; :mod:`reidlab.data.sample_fields`), ``{}`` by default.

:func:`collate_batch` (``ReIDImageDataset.collate``; pass it as the DataLoader's ``collate_fn``)
batches items into ``{"images": {mod: (B_m, 3, H, W)}, "present": {mod: (B,) bool}, "pid": (B,),
...}`` where ``images[mod]`` stacks only the B_m = ``present[mod].sum()`` samples having ``mod``,
in batch order (a modality no sample has is left out of ``images``), and ``fields`` by
:func:`reidlab.data.sample_fields.collate_fields`.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from reidlab import MODALITIES
from reidlab.data.errors import ImageError
from reidlab.data.image import check_file, load_image
from reidlab.data.records import Record
from reidlab.data.sample_fields import collate_fields, read_fields

log = logging.getLogger(__name__)

try:  # torch is imported here, not at `import reidlab.data`
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover - torch is a hard dependency of the training side
    _TorchDataset = object  # type: ignore[assignment,misc]


class ReIDImageDataset(_TorchDataset):
    """Records -> transformed tensors.

    ``records``: a split's records (``data.train``). ``modalities``: the modalities to return,
    e.g. ``("rgb", "nir")``. ``transform``: from :func:`reidlab.data.transforms.build_transforms`.
    ``skip_corrupt``: a verification pass at construction fully decodes every image and drops
    records with an unreadable one (count in ``.skipped``, paths in ``.skipped_paths``,
    logged); without it a corrupt image raises :class:`ImageError` naming the file when read.
    Records holding none of ``modalities`` are dropped (counted in ``.dropped_no_modality``,
    logged) since they would yield an all-zero item. ``fields``: names of per-sample fields each item
    carries under ``"fields"`` (a method's ``sample_fields``; see :mod:`reidlab.data.sample_fields`).
    """

    def __init__(self, records: Sequence[Record], modalities: Sequence[str],
                 transform: Callable[[Mapping[str, Any]], Mapping[str, Any]], *,
                 relabel: bool = False, skip_corrupt: bool = False, fields: Sequence[str] = ()) -> None:
        bad = [m for m in modalities if m not in MODALITIES]
        if bad or not modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {list(modalities)}")
        self.modalities = tuple(m for m in MODALITIES if m in modalities)
        self.transform = transform
        self.relabel = relabel
        self.fields = tuple(fields)
        recs = [r for r in records if any(m in r.images for m in self.modalities)]
        self.dropped_no_modality = len(records) - len(recs)
        if self.dropped_no_modality:
            log.info("ReIDImageDataset: dropped %d record(s) holding none of %s",
                     self.dropped_no_modality, self.modalities)
        self.skipped = 0
        self.skipped_paths: list[str] = []
        if skip_corrupt:
            recs = self._drop_corrupt(recs)
        self.records: list[Record] = recs
        pids = sorted({r.pid for r in recs})
        self.pid2label: dict[int, int] = {p: i for i, p in enumerate(pids)}
        self.num_classes = len(pids)
        self._shape: tuple[int, ...] | None = None

    def _drop_corrupt(self, recs: list[Record]) -> list[Record]:
        from tqdm import tqdm

        status: dict[str, bool] = {}
        keep = []
        for r in tqdm(recs, desc="verifying images", leave=False, mininterval=1.0, disable=None):
            ok = True
            for m in self.modalities:
                if m not in r.images:
                    continue
                p = r.images[m].path
                if p not in status:
                    try:
                        check_file(p, full=True)
                        status[p] = True
                    except ImageError as exc:
                        status[p] = False
                        self.skipped_paths.append(p)
                        log.warning("skipping corrupt image: %s", exc)
                ok = ok and status[p]
            if ok:
                keep.append(r)
        self.skipped = len(recs) - len(keep)
        if self.skipped:
            log.warning("ReIDImageDataset: skipped %d record(s) with corrupt images (%d file(s))",
                        self.skipped, len(self.skipped_paths))
        return keep

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        r = self.records[i]
        pil = {m: load_image(r.images[m]) for m in self.modalities if m in r.images}
        out = dict(self.transform(pil))
        images = {m: out[m] for m in self.modalities if m in out}
        return {
            "images": images,
            "present": {m: m in out for m in self.modalities},
            "pid": r.pid,
            "label": self.pid2label[r.pid] if self.relabel else r.pid,
            "camid": r.camid,
            "scene": r.scene,
            "index": r.index,
            "fields": read_fields(self.fields, r, pil),
        }

    @staticmethod
    def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """See :func:`collate_batch`."""
        return collate_batch(items)


def collate_batch(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Items of :class:`ReIDImageDataset` -> a batch; ``images[m]`` holds only the samples having m.

    Returns
    -------
    dict
        ``images``: {mod: (B_m, 3, H, W) float32}; ``present``: {mod: (B,) bool}; ``pid``,
        ``label``, ``camid``, ``scene``, ``index``: (B,) int64; ``fields`` (when the items carry them):
        per-sample (B,) or per-modality {mod: (B_m, ...)} (:func:`reidlab.data.sample_fields.collate_fields`).
    """
    import torch

    mods = list(items[0]["present"])
    present = {m: torch.tensor([bool(it["present"][m]) for it in items], dtype=torch.bool) for m in mods}
    images = {m: torch.stack([it["images"][m] for it in items if it["present"][m]])
              for m in mods if bool(present[m].any())}
    out: dict[str, Any] = {"images": images, "present": present}
    for k in ("pid", "label", "camid", "scene", "index"):
        if k in items[0]:
            out[k] = torch.tensor([int(it[k]) for it in items], dtype=torch.int64)
    if "fields" in items[0]:
        out["fields"] = collate_fields(items, present)
    return out
