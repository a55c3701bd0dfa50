"""Ranked lists: the evaluation's per-query records turned into pictures.

Input is :attr:`reidlab.eval.EvalResult.per_query` (one row per query; columns ``query``
= record position in the query split, ``key``, ``pid``, ``camid``, ``ap``, ``inp``,
``first_hit`` (1-based, NaN when skipped), ``skipped``, ``topk`` = gallery record positions
in ranked order *including* junk items, ``topk_dist``, ``topk_match``, ``topk_junk``, and
``trial`` for multi-trial protocols) plus the query and gallery :class:`Record` lists the
positions point into.

* :func:`ranked_items` — the first k items of one query as :class:`RankedItem`;
* :func:`sort_queries` — query positions ordered by AP, INP or failures first;
* :func:`record_tile` — one record's modality images side by side with a coloured border
  (green = same ID, red = wrong ID, grey + faded = junk: shown, not hidden);
* :func:`plot_ranked_lists` — the paper-style figure (rows = queries; the query in each
  modality, then the top-k with distances under each), optionally written to PNG. It is
  the headless counterpart of :class:`reidlab.analysis.browser.RankedListBrowser`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from reidlab import MODALITIES
from reidlab.data.records import Record

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image as PILImage

MATCH_RGB = (0, 160, 60)
WRONG_RGB = (210, 30, 30)
JUNK_RGB = (150, 150, 150)
QUERY_RGB = (40, 90, 200)

SORT_KEYS: dict[str, str] = {
    "AP (worst first)": "ap_asc",
    "AP (best first)": "ap_desc",
    "INP (worst first)": "inp_asc",
    "INP (best first)": "inp_desc",
    "failures first (rank-1 misses)": "failures",
    "query index": "index",
}
"""Dropdown label -> ``sort_queries`` key."""

_REQUIRED = ("query", "pid", "ap", "inp", "first_hit", "skipped", "topk", "topk_dist", "topk_match", "topk_junk")


@dataclass(frozen=True)
class RankedItem:
    """One ranked gallery item: ``rank`` 1-based position in the list shown (junk included),
    ``gallery_index`` record position in the gallery split, ``dist`` the distance (metric units)."""

    rank: int
    gallery_index: int
    match: bool
    junk: bool
    dist: float

    def as_tuple(self) -> tuple[int, bool, bool, float]:
        """``(gallery_index, match, junk, dist)``."""
        return (self.gallery_index, self.match, self.junk, self.dist)


def as_per_query(result: Any) -> pd.DataFrame:
    """The per-query DataFrame of an ``EvalResult`` (or a DataFrame passed through), checked.

    Raises ValueError naming the missing columns.
    """
    df = getattr(result, "per_query", result)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected an EvalResult or a per-query DataFrame, got {type(result).__name__}")
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"per-query table lacks columns {missing}; it must come from reidlab.eval.evaluate "
                         "(EvalResult.per_query)")
    return df


def select_trial(per_query: pd.DataFrame, trial: int | None = 0) -> pd.DataFrame:
    """Rows of one trial (multi-trial protocols); all rows when there is no ``trial`` column."""
    if "trial" not in per_query.columns or trial is None:
        return per_query
    trials = sorted(per_query["trial"].unique().tolist())
    if trial not in trials:
        raise ValueError(f"trial {trial} not in the per-query table (trials {trials})")
    return per_query[per_query["trial"] == trial]


def query_row(per_query: pd.DataFrame, query: int) -> pd.Series:
    """The row of query record ``query`` (the first one if a query has several rows, e.g. several keys)."""
    rows = per_query[per_query["query"] == query]
    if not len(rows):
        raise KeyError(f"query {query} is not in the per-query table ({len(per_query)} rows)")
    return rows.iloc[0]


def ranked_items(row: pd.Series, k: int = 10) -> list[RankedItem]:
    """The first ``k`` ranked gallery items of one per-query row (junk items included)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    idx = np.asarray(row["topk"]).astype(int)[:k]
    dist = np.asarray(row["topk_dist"], dtype=float)[:k]
    match = np.asarray(row["topk_match"]).astype(bool)[:k]
    junk = np.asarray(row["topk_junk"]).astype(bool)[:k]
    return [RankedItem(rank=i + 1, gallery_index=int(g), match=bool(m), junk=bool(j), dist=float(d))
            for i, (g, d, m, j) in enumerate(zip(idx, dist, match, junk))]


def sort_queries(per_query: pd.DataFrame, by: str = "ap_asc", *, include_skipped: bool = False) -> list[int]:
    """Query record positions ordered by ``by`` (one of :data:`SORT_KEYS` values).

    ``ap_asc``/``inp_asc`` put the worst queries first; ``failures`` orders by first-hit rank,
    worst first (rank-1 misses lead), then by AP ascending. Ties keep query order (stable).
    Skipped queries (no positive in the gallery) are left out unless ``include_skipped``,
    then they come last.
    """
    if by not in SORT_KEYS.values():
        raise ValueError(f"unknown sort key {by!r}; choose one of {sorted(SORT_KEYS.values())}")
    df = per_query.drop_duplicates("query").sort_values("query", kind="stable")
    skipped = df["skipped"].astype(bool).to_numpy()
    valid = df[~skipped]
    if by == "index":
        order = valid
    elif by in ("ap_asc", "ap_desc", "inp_asc", "inp_desc"):
        col = by[:-4] if by.endswith("_asc") else by[:-5]
        order = valid.sort_values(col, ascending=by.endswith("_asc"), kind="stable")
    else:  # failures: larger first-hit rank = worse
        order = valid.assign(_fh=-valid["first_hit"].astype(float)).sort_values(["_fh", "ap"], kind="stable")
    out = order["query"].astype(int).tolist()
    if include_skipped:
        out += df[skipped]["query"].astype(int).tolist()
    return out


def modalities_of_key(key: str | None) -> tuple[str, ...] | None:
    """Modalities a feature key names: ``rgb`` -> (rgb,), ``fused:rgb+nir`` -> (rgb, nir); else None."""
    if not key or not isinstance(key, str):
        return None
    body = key.split(":", 1)[1] if ":" in key else key
    mods = tuple(m for m in body.split("+") if m in MODALITIES)
    return mods or None


def record_tile(record: Record, modalities: Sequence[str] | None = None, *, height: int = 96,
                border: tuple[int, int, int] | None = None, junk: bool = False,
                border_px: int = 4) -> "PILImage.Image":
    """One record's images (``modalities`` present in it, canonical order) side by side.

    Each modality image is resized to ``height`` pixels keeping its aspect ratio (SAR chips are
    contrast-stretched for display, :func:`reidlab.data.display.sar_display`); ``border``
    is an RGB colour drawn ``border_px`` wide around the tile; ``junk`` fades the tile toward
    grey (visible but clearly not counted). Returns an RGB PIL image.
    Raises ValueError when the record has none of the requested modalities.
    """
    from PIL import Image, ImageOps

    from reidlab.data.display import display_image

    mods = [m for m in (modalities or record.modalities) if m in record.images]
    if not mods:
        raise ValueError(f"record pid={record.pid} index={record.index} has none of the modalities "
                         f"{list(modalities or [])} (it has {list(record.modalities)})")
    parts = []
    for m in mods:
        # display only: /max-scaled SAR is black but for a few bright scatterers
        im = display_image(record.images[m], m)
        w = max(1, round(im.width * height / im.height))
        parts.append(im.resize((w, height), Image.BILINEAR))
    tile = Image.new("RGB", (sum(p.width for p in parts) + 2 * (len(parts) - 1), height), (255, 255, 255))
    x = 0
    for p in parts:
        tile.paste(p, (x, 0))
        x += p.width + 2
    if junk:
        tile = Image.blend(ImageOps.grayscale(tile).convert("RGB"), Image.new("RGB", tile.size, (235, 235, 235)), 0.55)
        border = JUNK_RGB
    if border is not None:
        tile = ImageOps.expand(tile, border=border_px, fill=border)
    return tile


def protocol_records(data: Any, protocol: str) -> tuple[list[Record], list[Record], tuple[str, ...] | None]:
    """``(query records, gallery records, gallery modalities)`` that a protocol's per-query
    positions index in ``data`` (a ReIDData). Unregistered protocol names (hand-made
    results) use the ``query`` / ``gallery`` splits and every modality."""
    qs, gs, gmods = "query", "gallery", None
    try:
        from reidlab.eval.protocols import get_protocol

        p = get_protocol(protocol)
    except (ImportError, KeyError, ValueError):
        p = None
    if p is not None:
        qs = next((s for s in (p.query_split, *p.query_split_aliases) if s in data.splits), p.query_split)
        gs = next((s for s in (p.gallery_split, *p.gallery_split_aliases) if s in data.splits), p.gallery_split)
        gmods = tuple(p.gallery_modalities)
    return data[qs], data[gs], gmods


def item_colour(item: RankedItem) -> tuple[int, int, int]:
    """Border colour of a ranked item: grey junk, green match, red wrong."""
    return JUNK_RGB if item.junk else MATCH_RGB if item.match else WRONG_RGB


def plot_ranked_lists(per_query: Any, query_records: Sequence[Record], gallery_records: Sequence[Record],
                      queries: Sequence[int] | None = None, k: int = 10, out: str | Path | None = None, *,
                      n_queries: int = 4, sort_by: str = "ap_asc", query_modalities: Sequence[str] | None = None,
                      gallery_modalities: Sequence[str] | None = None, trial: int | None = 0,
                      title: str | None = None, tile_height: int = 96, dpi: int = 120) -> "Figure":
    """Paper-style ranked-list figure; rows = queries.

    ``per_query``: ``EvalResult`` or its per-query DataFrame. ``query_records`` /
    ``gallery_records``: the splits its ``query`` / ``topk`` positions index.
    ``queries``: query record positions to show (default: the first ``n_queries`` by
    ``sort_by``, see :func:`sort_queries`). Each row shows the query in every modality it
    has (or ``query_modalities``), then the top-``k`` gallery items in
    ``gallery_modalities`` (default: every modality the record has) with green (same ID) /
    red (wrong ID) borders, junk items greyed, and the distance under each.
    ``out``: PNG path to write (folders created). Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    df = select_trial(as_per_query(per_query), trial)
    qs = list(queries) if queries is not None else sort_queries(df, sort_by)[:n_queries]
    if not qs:
        raise ValueError("no query to show: every query was skipped (no positive in the gallery)")
    rows = []
    for q in qs:
        if not 0 <= q < len(query_records):
            raise IndexError(f"query position {q} outside the query split (0..{len(query_records) - 1})")
        row = query_row(df, q)
        items = ranked_items(row, k)
        qmods = query_modalities or modalities_of_key(row.get("key")) or query_records[q].modalities
        qtile = record_tile(query_records[q], qmods, height=tile_height, border=QUERY_RGB)
        gtiles = []
        for it in items:
            if not 0 <= it.gallery_index < len(gallery_records):
                raise IndexError(f"gallery position {it.gallery_index} outside the gallery split "
                                 f"(0..{len(gallery_records) - 1}); per_query and records do not belong together")
            gtiles.append(record_tile(gallery_records[it.gallery_index], gallery_modalities, height=tile_height,
                                      border=item_colour(it), junk=it.junk))
        rows.append((q, row, items, qtile, gtiles))
    ncol = 1 + max(len(r[2]) for r in rows)
    qw = max(r[3].width for r in rows)
    gw = max([t.width for r in rows for t in r[4]] or [qw])
    th = rows[0][3].height
    widths = [qw / gw] + [1.0] * (ncol - 1)
    inch = tile_height / 60
    fig = plt.figure(figsize=(inch * sum(widths) * gw / th + 0.6, (inch + 0.55) * len(rows) + 0.4), dpi=dpi)
    gs = fig.add_gridspec(len(rows), ncol, width_ratios=widths, wspace=0.08, hspace=0.45)
    for r, (q, row, items, qtile, gtiles) in enumerate(rows):
        ax = fig.add_subplot(gs[r, 0])
        ax.imshow(np.asarray(qtile))
        ap = row["ap"]
        ax.set_title(f"query {q} (ID {int(row['pid'])})", fontsize=7)
        ax.set_xlabel("skipped" if bool(row["skipped"]) else f"AP {ap:.2f}", fontsize=7)
        for c, (it, tile) in enumerate(zip(items, gtiles), start=1):
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(np.asarray(tile))
            ax.set_title(f"{it.rank}" + (" junk" if it.junk else ""), fontsize=7,
                         color=np.array(item_colour(it)) / 255)
            ax.set_xlabel(f"{it.dist:.3f}", fontsize=7)
        for ax in fig.axes[-(len(items) + 1):]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, bbox_inches="tight")
    return fig
