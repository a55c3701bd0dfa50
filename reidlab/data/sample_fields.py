"""Per-sample fields a method asks for (``ReIDMethod.sample_fields``): read, batched, moved, sliced.

A method that needs more than images and labels per sample (HWDNet's orientation labels,
TransOSS's original image sizes) declares the names in ``sample_fields``; the dataset item then
carries ``item["fields"][name]``, :func:`collate_fields` batches them into ``batch["fields"][name]``
and the trainer / feature extractor move them to the device and hand them to the method. No
engine module names a field: a new method declares a new name and receives it.

Two kinds of field:

* **per sample**: a 0-d float32 tensor per item -> (B,) in the batch. Every name without its own
  reader is one: ``Record.attrs[name]`` as a number, NaN when the record lacks it or it is not a
  number (``orientation`` of UCM-VeID is one; :func:`class_labels` turns it into class indices).
* **per modality**: ``{mod: Tensor(...)}`` holding only the modalities the record has ->
  ``{mod: (B_m, ...)}`` in the batch, rows in the order of ``batch["images"][mod]`` (the samples
  having ``mod``). ``size`` is one: (2,) float32 (width, height) in pixels of the image as decoded,
  before any transform (TransOSS's ship-size embedding).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import torch

from reidlab.data.records import Record

__all__ = ["FIELD_READERS", "class_labels", "collate_fields", "fields_to", "read_fields", "select_fields"]


def _image_size(record: Record, pil: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """{mod: (2,) float32 (width, height)} of each decoded image (before transforms)."""
    return {m: torch.tensor(im.size, dtype=torch.float32) for m, im in pil.items()}


#: Fields with their own reader ``(record, {mod: PIL image as decoded}) -> value``; any other name is
#: read from ``Record.attrs`` (per sample, see the module docstring).
FIELD_READERS: dict[str, Callable[[Record, Mapping[str, Any]], Any]] = {
    "size": _image_size,
}


def _attr_number(record: Record, name: str) -> torch.Tensor:
    v = record.attrs.get(name)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    return torch.tensor(float(v) if ok else math.nan, dtype=torch.float32)


def read_fields(names: Sequence[str], record: Record, pil: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: value}`` of one record: per-sample 0-d tensors or per-modality ``{mod: tensor}``.

    Parameters
    ----------
    names : sequence of str
        Field names (``ReIDMethod.sample_fields``).
    record : Record
        The record (its ``attrs`` feed the per-sample fields).
    pil : dict
        ``{mod: PIL image}`` as decoded, for the modalities loaded (before any transform).
    """
    return {n: (FIELD_READERS[n](record, pil) if n in FIELD_READERS else _attr_number(record, n)) for n in names}


def collate_fields(items: Sequence[Mapping[str, Any]], present: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Batch the items' ``fields``: per sample -> (B,); per modality -> {mod: (B_m, ...)} over the items
    having ``mod`` (``present[mod]``), in batch order, matching ``images[mod]``'s rows."""
    names = list(items[0].get("fields", {}))
    out: dict[str, Any] = {}
    for n in names:
        first = items[0]["fields"][n]
        if isinstance(first, Mapping) or any(isinstance(it["fields"][n], Mapping) for it in items):
            out[n] = {m: torch.stack([it["fields"][n][m] for i, it in enumerate(items) if bool(present[m][i])])
                      for m in present if bool(present[m].any())}
        else:
            out[n] = torch.stack([torch.as_tensor(it["fields"][n]) for it in items])
    return out


def fields_to(fields: Mapping[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The batch's fields on ``device`` (tensors and {mod: tensor} alike)."""
    return {n: ({m: t.to(device, non_blocking=True) for m, t in v.items()} if isinstance(v, Mapping)
                else v.to(device, non_blocking=True)) for n, v in fields.items()}


def select_fields(fields: Mapping[str, Any], sel: Any, rows: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a sub-batch: per sample ``v[sel]``; per modality ``{m: v[m][rows[m]]}`` for the
    modalities in ``rows`` (row indices into ``images[m]`` of the selected samples)."""
    return {n: ({m: v[m][torch.as_tensor(r)] for m, r in rows.items()} if isinstance(v, Mapping)
                else v[torch.as_tensor(sel)]) for n, v in fields.items()}


def class_labels(values: torch.Tensor) -> torch.Tensor:
    """A per-sample field as class indices: int64, -1 where the value is NaN or not an integer."""
    ok = torch.isfinite(values) & (values == values.round())
    return torch.where(ok, values, torch.full_like(values, -1.0)).long()
