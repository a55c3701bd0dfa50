"""Dataset registry and :func:`load_dataset`, the one entry point that turns a root into records.

``load_dataset`` runs the layout's listing, then (the same for every layout):
1. merges the optional sidecar ``attributes.csv`` (column ``file`` = path relative to the
   folder holding the CSV, looked for in the resolved root and in the given root; other
   columns -> ``Record.attrs``, numbers converted);
2. with ``skip_corrupt`` / ``verify_images``: checks every image (header, or full decode with
   ``verify_images``), dropping unreadable ones when ``skip_corrupt`` (counted in warnings) or
   raising :class:`ImageError` naming the file;
3. numbers each split's records (``Record.index``);
4. warns (``DataWarning`` + ``ReIDData.warnings``) when query IDs have no gallery match.
"""
from __future__ import annotations

import importlib
import logging
import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Callable, TypeVar

from reidlab.data.attributes import SIDECAR, merge_attributes
from reidlab.data.errors import DataError, DataWarning, ImageError
from reidlab.data.names import LAYOUTS
from reidlab.data.records import Record, ReIDData

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type] = {}
_BUILTIN = LAYOUTS
T = TypeVar("T", bound=type)


def register_dataset(name: str) -> Callable[[T], T]:
    """Class decorator: ``@register_dataset("rgbn300")`` registers a layout class under ``name``."""

    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"dataset {name!r} is already registered by {_REGISTRY[name]!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    for mod in _BUILTIN:
        importlib.import_module(f"reidlab.data.layouts.{mod}")


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def get_layout(name: str) -> type:
    """The registered layout class; unknown names raise a DataError listing the known ones."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(_REGISTRY))}") from None


def load_dataset(
    name: str,
    root: str | os.PathLike,
    *,
    skip_corrupt: bool = False,
    verify_images: bool = False,
    **options: object,
) -> ReIDData:
    """List every record of dataset ``name`` stored under ``root`` (its native layout).

    ``skip_corrupt``: unreadable images are dropped (with their whole record) and counted in
    ``ReIDData.warnings`` instead of raising; implies a header check of every image.
    ``verify_images``: fully decode every image (slow: minutes on a full benchmark).
    ``options`` go to the layout (e.g. ``drop_unpaired=True`` for msvr310 / wmveid863).
    Raises a :class:`DataError` subclass naming the file and the fix on bad input.
    """
    layout = get_layout(name)(root, skip_corrupt=skip_corrupt, **options)
    splits = layout.list_splits()
    notes = list(layout.notes)
    for sidecar_dir in dict.fromkeys((layout.root, layout.given_root)):
        sidecar = Path(sidecar_dir) / SIDECAR
        if sidecar.is_file():
            splits = merge_attributes(splits, sidecar)
            break
    if skip_corrupt or verify_images:
        splits = _verify(name, splits, full=verify_images, skip=skip_corrupt, skipped=layout.corrupt)
    if layout.corrupt:
        msg = f"{name}: skipped {len(layout.corrupt)} corrupt/unreadable image(s), e.g. {layout.corrupt[0]}"
        log.warning(msg)
        notes.append(msg)
    splits = {s: [replace(r, index=i) for i, r in enumerate(recs)] for s, recs in splits.items()}
    data = ReIDData(
        name=name, root=layout.root, modalities=tuple(layout.modalities), aligned=bool(layout.aligned),
        splits=splits, warnings=notes,
    )
    for q, g in layout.eval_pairs:
        if q in splits and g in splits:
            _check_query_ids(data, q, g)
    return data


def _verify(name: str, splits: dict[str, list[Record]], *, full: bool, skip: bool,
            skipped: list[str]) -> dict[str, list[Record]]:
    """Open (header, or full decode when ``full``) every distinct file once."""
    from tqdm import tqdm

    from reidlab.data.image import check_file

    paths = sorted({r.images[m].path for recs in splits.values() for r in recs for m in r.images})
    bad: set[str] = set()
    for p in tqdm(paths, desc=f"{name}: {'decoding' if full else 'checking'} images", leave=False,
                  mininterval=1.0, disable=None):
        try:
            check_file(p, full=full)
        except ImageError:
            if not skip:
                raise
            bad.add(p)
    if not bad:
        return splits
    skipped.extend(sorted(bad))
    return {s: [r for r in recs if not any(r.images[m].path in bad for m in r.images)]
            for s, recs in splits.items()}


def _check_query_ids(data: ReIDData, q: str, g: str) -> None:
    gallery_ids = {r.pid for r in data.splits[g]}
    lost = [r for r in data.splits[q] if r.pid not in gallery_ids]
    if lost:
        ids = sorted({r.pid for r in lost})
        msg = (f"{data.name}: {len(lost)} of {len(data.splits[q])} {q!r} record(s) ({len(ids)} ID(s), e.g. "
               f"{ids[:5]}) have no image of their ID in {g!r}: they can never match (evaluation skips them)")
        warnings.warn(msg, DataWarning, stacklevel=3)
        log.warning(msg)
        data.warnings.append(msg)
