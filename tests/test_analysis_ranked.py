"""Ranked-list helpers and the static figure on a hand-made per-query table and tiny images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reidlab.analysis.ranked import (JUNK_RGB, MATCH_RGB, WRONG_RGB, modalities_of_key, plot_ranked_lists,
                                     ranked_items, record_tile, select_trial, sort_queries)
from reidlab.data.records import ImageRef, Record, ReIDData

# Colours are per identity so a test can tell which record a tile shows.
PID_COLOURS = {1: (200, 40, 40), 2: (40, 200, 40), 3: (40, 40, 200), 4: (200, 200, 40)}


def make_data(root: Path) -> ReIDData:
    """4 query tuples (pid 1..4, cam 0) and 8 gallery tuples (pid 1..4 x cams 0/1), RGB+NIR 16x32."""
    root.mkdir(parents=True, exist_ok=True)

    def rec(split: str, i: int, pid: int, cam: int) -> Record:
        images = {}
        for m, shade in (("rgb", 1.0), ("nir", 0.5)):
            p = root / f"{split}_{i}_{m}.png"
            Image.new("RGB", (16, 32), tuple(int(c * shade) for c in PID_COLOURS[pid])).save(p)
            images[m] = ImageRef(str(p))
        return Record(pid=pid, camid=cam, images=images, split=split, index=i)

    query = [rec("query", i, pid, 0) for i, pid in enumerate((1, 2, 3, 4))]
    gallery = [rec("gallery", i, pid, cam) for i, (pid, cam) in enumerate((p, c) for p in (1, 2, 3, 4) for c in (0, 1))]
    return ReIDData(name="tiny", root=root, modalities=("rgb", "nir"), aligned=True,
                    splits={"query": query, "gallery": gallery, "train": []})


def make_per_query(data: ReIDData, seed: int = 0) -> pd.DataFrame:
    """Per-query table in the evaluation engine's format, ranks from seeded random distances.

    Junk rule: same ID and same camera. AP/INP/first_hit computed here by the definitions so
    that sorting tests see consistent numbers.
    """
    rng = np.random.default_rng(seed)
    rows = []
    g = data.gallery
    for qi, q in enumerate(data.query):
        d = rng.random(len(g))
        order = np.argsort(d, kind="stable")
        match = np.array([g[j].pid == q.pid for j in order])
        junk = np.array([g[j].pid == q.pid and g[j].camid == q.camid for j in order])
        rel = match & ~junk
        ranks = np.flatnonzero(rel[~junk]) + 1
        n_pos = len(ranks)
        ap = float(np.mean(np.arange(1, n_pos + 1) / ranks)) if n_pos else np.nan
        rows.append(dict(query=qi, key="fused:rgb+nir", pid=q.pid, camid=q.camid, scene=-1, ap=ap,
                         inp=n_pos / ranks[-1] if n_pos else np.nan, first_hit=float(ranks[0]) if n_pos else np.nan,
                         n_pos=n_pos, n_junk=int(junk.sum()), skipped=n_pos == 0, topk=order.tolist(),
                         topk_dist=d[order].tolist(), topk_match=match.tolist(), topk_junk=junk.tolist()))
    return pd.DataFrame(rows)


@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[ReIDData, pd.DataFrame]:
    data = make_data(tmp_path / "imgs")
    return data, make_per_query(data)


def test_ranked_items_follow_the_row(tiny) -> None:
    data, pq = tiny
    row = pq.iloc[2]
    items = ranked_items(row, k=5)
    assert [it.rank for it in items] == [1, 2, 3, 4, 5]
    assert [it.gallery_index for it in items] == row["topk"][:5]
    for it in items:
        g = data.gallery[it.gallery_index]
        assert it.match == (g.pid == row["pid"])
        assert it.junk == (g.pid == row["pid"] and g.camid == row["camid"])
    assert all(a.dist <= b.dist for a, b in zip(items, items[1:]))
    with pytest.raises(ValueError):
        ranked_items(row, k=0)


def test_sort_queries_orders_and_skips(tiny) -> None:
    _, pq = tiny
    pq = pq.copy()
    pq.loc[1, ["ap", "inp", "first_hit", "skipped"]] = [np.nan, np.nan, np.nan, True]
    asc = sort_queries(pq, "ap_asc")
    assert 1 not in asc and len(asc) == 3
    aps = pq.set_index("query")["ap"]
    assert list(aps[asc]) == sorted(aps[asc])
    assert sort_queries(pq, "ap_desc") == sorted(asc, key=lambda q: -aps[q])
    fails = sort_queries(pq, "failures")
    fh = pq.set_index("query")["first_hit"]
    assert list(fh[fails]) == sorted(fh[fails], reverse=True)
    assert sort_queries(pq, "index", include_skipped=True) == [0, 2, 3, 1]
    with pytest.raises(ValueError, match="unknown sort key"):
        sort_queries(pq, "nope")


def test_select_trial() -> None:
    df = pd.DataFrame({"query": [0, 0], "trial": [0, 1]})
    assert len(select_trial(df, 1)) == 1
    with pytest.raises(ValueError, match="trial 5"):
        select_trial(df, 5)


def test_modalities_of_key() -> None:
    assert modalities_of_key("fused:rgb+nir") == ("rgb", "nir")
    assert modalities_of_key("nir") == ("nir",)
    assert modalities_of_key("weird") is None


def test_record_tile_borders_and_junk(tiny) -> None:
    data, _ = tiny
    rec = data.gallery[0]  # pid 1
    t = record_tile(rec, ["rgb", "nir"], height=32, border=MATCH_RGB, border_px=3)
    a = np.asarray(t)
    assert t.height == 32 + 6 and t.width == 16 + 2 + 16 + 6
    assert tuple(a[0, 0]) == MATCH_RGB
    assert tuple(a[10, 5]) == PID_COLOURS[1]  # RGB image inside
    assert tuple(a[10, 3 + 16 + 2 + 5]) == tuple(int(c * 0.5) for c in PID_COLOURS[1])  # NIR next to it
    j = np.asarray(record_tile(rec, ["rgb"], height=32, border=WRONG_RGB, junk=True, border_px=3))
    assert tuple(j[0, 0]) == JUNK_RGB
    inner = j[10, 5].astype(int)
    assert inner.max() - inner.min() <= 1  # greyed
    with pytest.raises(ValueError, match="none of the modalities"):
        record_tile(rec, ["tir"])


def test_plot_ranked_lists_writes_png(tiny, tmp_path: Path) -> None:
    data, pq = tiny
    out = tmp_path / "fig" / "ranked.png"
    fig = plot_ranked_lists(pq, data.query, data.gallery, k=5, out=out, n_queries=3, tile_height=32)
    assert out.exists() and out.stat().st_size > 1000
    # 3 rows x (1 query + 5 results) axes, each result titled with rank and distance label.
    assert len(fig.axes) == 3 * 6
    worst = sort_queries(pq, "ap_asc")[0]
    assert fig.axes[0].get_title().startswith(f"query {worst} ")
    row = pq.set_index("query").loc[worst]
    assert fig.axes[1].get_xlabel() == f"{row['topk_dist'][0]:.3f}"
    junk_titles = [ax.get_title() for ax in fig.axes[1:6] if "junk" in ax.get_title()]
    assert len(junk_titles) == sum(row["topk_junk"][:5])
    # Explicit queries, and errors for positions that do not belong to the records.
    fig2 = plot_ranked_lists(pq, data.query, data.gallery, queries=[0], k=3, tile_height=32)
    assert len(fig2.axes) == 4
    with pytest.raises(IndexError, match="query split"):
        plot_ranked_lists(pq, data.query[:2], data.gallery, queries=[3], k=3)
    with pytest.raises(IndexError, match="gallery split"):
        plot_ranked_lists(pq, data.query, data.gallery[:2], queries=[0], k=8)
    import matplotlib.pyplot as plt

    plt.close("all")
