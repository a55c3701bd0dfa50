"""The dataset explorer's filter and paging logic on every synthetic layout and a manifest."""
from __future__ import annotations

from pathlib import Path

import pytest

from reidlab.analysis.explorer import (ANY, DatasetExplorer, capture_label, facets, filter_records, paginate)
from reidlab.data import load_dataset
from reidlab.data.synth import LAYOUTS


@pytest.fixture(scope="module")
def datasets(synth_root):
    """The session's cached synthetic smoke trees (conftest), loaded once per layout."""
    cache = {}

    def get(layout: str):
        if layout not in cache:
            cache[layout] = load_dataset(layout, synth_root(layout))
        return cache[layout]

    return get


@pytest.mark.parametrize("layout", LAYOUTS)
def test_filters_on_every_layout(datasets, layout: str) -> None:
    data = datasets(layout)
    f = facets(data)
    total = sum(len(v) for v in data.splits.values())
    assert len(filter_records(data)) == total
    split = f["split"][0]
    assert all(r.split == split or r in data.splits[split] for r in filter_records(data, split=split))
    assert len(filter_records(data, split=split)) == len(data.splits[split])
    pid = data.splits[split][0].pid
    by_id = filter_records(data, split=split, pid=pid)
    assert by_id and all(r.pid == pid for r in by_id)
    assert len(by_id) == sum(r.pid == pid for r in data.splits[split])
    cam = by_id[0].camid
    assert all(r.camid == cam and r.pid == pid for r in filter_records(data, split=split, pid=pid, camid=cam))
    for m in data.modalities:
        got = filter_records(data, modality=m)
        assert got and all(m in r.images for r in got)
    if not data.aligned:  # unaligned: each record holds one modality, so the modalities partition it
        assert sum(len(filter_records(data, modality=m)) for m in data.modalities) == total
    # every attribute offered as a facet filters exactly
    attrs = [k for k in f if k not in ("split", "pid", "camid", "modality")]
    assert {"daynight", "type", "colour"} <= set(attrs), attrs
    for k in attrs:
        v = f[k][0]
        got = filter_records(data, **{k: v})
        assert got and all(r.attrs[k] == v for r in got)
        assert len(got) == sum(r.attrs.get(k) == v for s in data.splits.values() for r in s)
    # a collection of values is a union; a value given as text matches
    two = f["pid"][:2]
    assert len(filter_records(data, pid=two)) == sum(len(filter_records(data, pid=p)) for p in two)
    assert filter_records(data, pid=str(two[0])) == filter_records(data, pid=two[0])


def test_unknown_split_or_modality_is_an_error(datasets) -> None:
    data = datasets("rgbn300")
    with pytest.raises(ValueError, match="nosuch.*train"):
        filter_records(data, split="nosuch")
    with pytest.raises(ValueError, match="tir"):
        filter_records(data, modality="tir")
    assert filter_records(data, daynight="no such value") == []


def test_paginate_covers_every_item_once() -> None:
    items = list(range(25))
    pages = [paginate(items, p, 10) for p in range(3)]
    assert [n for _, _, n in pages] == [3, 3, 3]
    assert sum((p for p, _, _ in pages), []) == items
    assert paginate(items, 99, 10)[1] == 2 and paginate(items, -1, 10)[1] == 0
    assert paginate([], 0, 10) == ([], 0, 1)
    with pytest.raises(ValueError, match="per_page"):
        paginate(items, 0, 0)


@pytest.mark.parametrize("layout", ["rgbnt100", "ucmveid"])
def test_explorer_widget_filters_and_pages(datasets, layout: str) -> None:
    data = datasets(layout)
    ex = DatasetExplorer(data, per_page=5)
    assert len(ex.matches) == sum(len(v) for v in data.splits.values())
    assert len(ex.shown) == 5 and ex.prev.disabled and not ex.next.disabled
    ex.controls["split"].value = "query"
    assert ex.matches == data.splits["query"] and ex.page == 0
    first = list(ex.shown)
    ex.next.click()
    assert ex.page == 1 and ex.shown == data.splits["query"][5:10] and ex.shown != first
    ex.controls["daynight"].value = "night" if "night" in [v for _, v in ex.controls["daynight"].options] else "day"
    assert ex.page == 0 and all(r.attrs["daynight"] == ex.controls["daynight"].value for r in ex.matches)
    ex.controls["modality"].value = data.modalities[-1]
    assert all(data.modalities[-1] in r.images for r in ex.matches)
    labels = [c.children[1].value for c in ex._grid.children]
    assert len(labels) == len(ex.shown) and all(Path(r.images[data.modalities[-1]].path).name in lab
                                                for r, lab in zip(ex.shown, labels))
    ex.controls["daynight"].value = ANY
    n = len(ex.matches)
    ex.controls["pid"].value = ex.matches[0].pid
    assert 0 < len(ex.matches) < n and len({r.pid for r in ex.matches}) == 1
    ex.controls["pid"].value = ANY
    assert ex.controls["pid"].label == ANY and len(ex.matches) == n


def test_explorer_on_a_manifest(datasets, tmp_path: Path) -> None:
    """A manifest written from the synthetic MSVR310 tree (tuples + attribute columns) filters the same."""
    src = datasets("msvr310")
    rows = ["split,pid,camid,modality,path,tuple,daynight,colour"]
    for split, recs in src.splits.items():
        for r in recs:
            for m, ref in r.images.items():
                rows.append(f"{split},{r.pid},{r.camid},{m},{ref.path},{split}-{r.index},"
                            f"{r.attrs['daynight']},{r.attrs['colour']}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    data = load_dataset("manifest", tmp_path)
    assert data.aligned
    night = filter_records(data, daynight="night")
    assert len(night) == len(filter_records(src, daynight="night"))
    assert "nir:" in capture_label(night[0])
