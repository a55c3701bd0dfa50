"""An interactive dataset explorer (notebook 01): filter captures, see them, page through them.

::

    from reidlab.analysis.explorer import DatasetExplorer, filter_records
    DatasetExplorer(data)                                   # widgets in Jupyter / Voila
    filter_records(data, split="train", pid=12, daynight="night")   # the same filter in code

Filters: ``split``, ``pid`` (ID), ``camid`` (camera), ``modality`` (records holding an image
of it) and any attribute the records carry (``daynight``, ``orientation``, ``challenge``,
``type``, ``colour``...: whatever :attr:`Record.attrs` holds, from the layout's file names or
an ``attributes.csv`` sidecar or manifest columns). A filter value may be one value or a
collection of accepted values; ``None`` means "any". A record without the attribute does not
match a filter on it. The explorer offers the attributes with at most
:data:`MAX_ATTRIBUTE_VALUES` distinct values as drop-downs (continuous ones such as ``yaw``
stay available to :func:`filter_records`).

Aligned data show each capture as its tuple (one image per modality, side by side); unaligned
data (UCM-VeID, HOSS) show the one image each record holds; with a modality chosen, only that
modality's image. Under each tile: ID, camera, split and the image file name(s).
"""
from __future__ import annotations

import io
import math
from collections.abc import Collection
from pathlib import Path
from typing import Any, Iterable

from reidlab.data.records import Record, ReIDData

ANY = "(any)"
MAX_ATTRIBUTE_VALUES = 24


def _records(data: ReIDData, split: Any = None) -> Iterable[Record]:
    for name, recs in data.splits.items():
        if _accepts(split, name):
            yield from recs


def _accepts(wanted: Any, value: Any) -> bool:
    """``wanted`` None: anything; a collection (not a string): membership; else equality.
    Values are compared as given and as text, so "3" from a widget matches 3 from a file name."""
    if wanted is None:
        return True
    options = wanted if isinstance(wanted, Collection) and not isinstance(wanted, (str, bytes)) else [wanted]
    return any(value == w or str(value) == str(w) for w in options)


def attribute_values(data: ReIDData, max_values: int | None = MAX_ATTRIBUTE_VALUES) -> dict[str, list[Any]]:
    """Attribute name -> its sorted distinct values over all splits (names with more than
    ``max_values`` values left out; ``None`` keeps every name)."""
    seen: dict[str, set] = {}
    for r in _records(data):
        for k, v in r.attrs.items():
            seen.setdefault(k, set()).add(v)
    return {k: sorted(vs, key=lambda v: (str(type(v)), v)) for k, vs in sorted(seen.items())
            if max_values is None or len(vs) <= max_values}


def facets(data: ReIDData) -> dict[str, list[Any]]:
    """Every filter the explorer offers and its values: split, pid, camid, modality, attributes."""
    recs = list(_records(data))
    return {"split": list(data.splits), "pid": sorted({r.pid for r in recs}), "camid": sorted({r.camid for r in recs}),
            "modality": list(data.modalities), **attribute_values(data)}


def filter_records(data: ReIDData, *, split: Any = None, pid: Any = None, camid: Any = None, modality: Any = None,
                   **attrs: Any) -> list[Record]:
    """Records matching every given filter, in split order then the split's own order.

    Raises ValueError naming the filter when ``split`` or ``modality`` is not in the dataset
    (a typo would otherwise read as "no match").
    """
    for name, wanted, known in (("split", split, list(data.splits)), ("modality", modality, list(data.modalities))):
        if wanted is not None and not any(_accepts(wanted, k) for k in known):
            raise ValueError(f"{data.name}: no {name} {wanted!r}; the dataset has {known}")
    out = []
    for r in _records(data, split):
        if not (_accepts(pid, r.pid) and _accepts(camid, r.camid)):
            continue
        if modality is not None and not any(_accepts(modality, m) for m in r.images):
            continue
        if all(k in r.attrs and _accepts(v, r.attrs[k]) for k, v in attrs.items() if v is not None):
            out.append(r)
    return out


def paginate(items: list, page: int, per_page: int) -> tuple[list, int, int]:
    """``(items on page, page, n_pages)``; ``page`` counts from 0 and is clamped into range
    (an empty list has one empty page)."""
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    n_pages = max(1, math.ceil(len(items) / per_page))
    page = min(max(0, int(page)), n_pages - 1)
    return items[page * per_page:(page + 1) * per_page], page, n_pages


def capture_label(rec: Record, modalities: Iterable[str] | None = None) -> str:
    """``ID 12 · cam 3 · train`` and the image file name of each shown modality."""
    mods = [m for m in (modalities or rec.modalities) if m in rec.images]
    files = ", ".join(f"{m}: {Path(rec.images[m].path).name}" for m in mods)
    return f"ID {rec.pid} · cam {rec.camid} · {rec.split} — {files}"


class DatasetExplorer:
    """ipywidgets explorer over ``data`` (see the module docstring).

    State for tests and scripts: :attr:`matches` (all matching records), :attr:`shown` (this
    page's), :attr:`page`, :attr:`n_pages`, and the controls :attr:`controls` (name ->
    Dropdown; the value ``"(any)"`` = no filter), :attr:`prev` / :attr:`next` buttons.
    """

    def __init__(self, data: ReIDData, *, per_page: int = 12, tile_height: int = 72, columns: int = 4) -> None:
        import ipywidgets as w

        self.data = data
        self.per_page = per_page
        self.tile_height = tile_height
        self.columns = columns
        self.page = 0
        self.n_pages = 1
        self.matches: list[Record] = []
        self.shown: list[Record] = []
        self._tiles: dict[tuple, bytes] = {}
        self.controls: dict[str, Any] = {}
        for name, values in facets(data).items():
            label = {"pid": "ID", "camid": "camera"}.get(name, name)
            self.controls[name] = w.Dropdown(options=[(ANY, ANY)] + [(str(v), v) for v in values], value=ANY,
                                             description=label, layout=w.Layout(width="220px"))
            self.controls[name].observe(self._on_filter, names="value")
        self.prev = w.Button(description="◀ previous", layout=w.Layout(width="auto"))
        self.next = w.Button(description="next ▶", layout=w.Layout(width="auto"))
        self.prev.on_click(lambda _b: self.go(self.page - 1))
        self.next.on_click(lambda _b: self.go(self.page + 1))
        self._count = w.HTML()
        self._grid = w.GridBox(layout=w.Layout(grid_template_columns=f"repeat({columns}, auto)", grid_gap="6px"))
        boxes = list(self.controls.values())
        rows = [w.HBox(boxes[i:i + 4]) for i in range(0, len(boxes), 4)]
        self.widget = w.VBox([*rows, w.HBox([self.prev, self.next, self._count]), self._grid])
        self.refresh()

    def filters(self) -> dict[str, Any]:
        """The current filter values (only those set)."""
        return {k: c.value for k, c in self.controls.items() if c.value != ANY}

    def _on_filter(self, _change=None) -> None:
        self.page = 0
        self.refresh()

    def refresh(self) -> None:
        """Recompute the matches for the current filters and draw the current page."""
        self.matches = filter_records(self.data, **self.filters())
        self.go(self.page)

    def go(self, page: int) -> None:
        """Show page ``page`` (clamped) of the matches."""
        import ipywidgets as w

        self.shown, self.page, self.n_pages = paginate(self.matches, page, self.per_page)
        mods = [self.controls["modality"].value] if self.controls["modality"].value != ANY else None
        cells = []
        for r in self.shown:
            img = w.Image(value=self._tile(r, mods), format="png")
            cells.append(w.VBox([img, w.HTML(f"<small>{capture_label(r, mods)}</small>",
                                              layout=w.Layout(max_width=f"{self.tile_height * 5}px"))]))
        self._grid.children = cells
        self.prev.disabled = self.page == 0
        self.next.disabled = self.page >= self.n_pages - 1
        self._count.value = (f"{len(self.matches)} capture(s) match · page {self.page + 1} / {self.n_pages}"
                             if self.matches else "<i>no capture matches these filters</i>")

    def _tile(self, rec: Record, mods: list[str] | None) -> bytes:
        from reidlab.analysis.ranked import record_tile

        key = (rec.split, rec.index, tuple(mods or ()))
        if key not in self._tiles:
            buf = io.BytesIO()
            record_tile(rec, mods, height=self.tile_height).save(buf, format="PNG")
            self._tiles[key] = buf.getvalue()
        return self._tiles[key]

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a front end
        from IPython.display import display

        display(self.widget)
