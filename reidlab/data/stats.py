"""Dataset statistics: count tables and figures for notebook 01 and ``reidlab data stats``.

Plain functions over a :class:`~reidlab.data.records.ReIDData`. Table functions return pandas
DataFrames; figure functions return matplotlib Figures (the caller saves or shows them).
Counting conventions: a *record* is one capture (an aligned tuple, or one image of unaligned data);
*images* counts modality images (an RGB|NIR pair = 2 images); *IDs* are distinct ``pid`` values.
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm import tqdm

from reidlab import MODALITIES
from reidlab.data.records import Record, ReIDData

SPLIT_ORDER = ("train", "query", "query3", "gallery", "test")
ATTRIBUTES = ("type", "colour", "color", "orientation", "challenge", "daynight")


def _splits(data: ReIDData, splits: Iterable[str] | None = None) -> list[str]:
    """Split names in a readable order: train, query, gallery first, then the rest sorted."""
    names = list(data.splits) if splits is None else list(splits)
    for s in names:
        data[s]  # KeyError naming the available splits
    return sorted(names, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def _mods(data: ReIDData) -> list[str]:
    return [m for m in MODALITIES if m in data.modalities]


# ----------------------------------------------------------------------------------------- tables
def split_counts(data: ReIDData) -> pd.DataFrame:
    """One row per split: ``ids, records, images, cameras`` and images per modality.

    Columns: ``split, ids, records, images, cameras, <mod>...`` (one column per dataset
    modality, counting the records that hold an image of that modality).
    """
    rows = []
    mods = _mods(data)
    for s in _splits(data):
        recs = data[s]
        per_mod = Counter(m for r in recs for m in r.images)
        row: dict[str, Any] = {
            "split": s,
            "ids": len({r.pid for r in recs}),
            "records": len(recs),
            "images": sum(len(r.images) for r in recs),
            "cameras": len({r.camid for r in recs}),
        }
        row.update({m: per_mod.get(m, 0) for m in mods})
        rows.append(row)
    return pd.DataFrame(rows, columns=["split", "ids", "records", "images", "cameras", *mods])


def modality_counts(data: ReIDData) -> pd.DataFrame:
    """Long table ``split, modality, ids, images``: IDs and images seen in each modality."""
    rows = []
    for s in _splits(data):
        for m in _mods(data):
            recs = [r for r in data[s] if m in r.images]
            rows.append({"split": s, "modality": m, "ids": len({r.pid for r in recs}), "images": len(recs)})
    return pd.DataFrame(rows, columns=["split", "modality", "ids", "images"])


def images_per_id(data: ReIDData, splits: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (split, pid): ``records`` and the image count of each modality.

    For unaligned data (UCM-VeID, HOSS) this is the per-ID per-modality count table.
    Columns: ``split, pid, records, <mod>...``.
    """
    mods = _mods(data)
    rows = []
    for s in _splits(data, splits):
        per: dict[int, Counter] = {}
        for r in data[s]:
            c = per.setdefault(r.pid, Counter())
            c["records"] += 1
            c.update(r.images.keys())
        for pid in sorted(per):
            rows.append({"split": s, "pid": pid, "records": per[pid]["records"], **{m: per[pid].get(m, 0) for m in mods}})
    return pd.DataFrame(rows, columns=["split", "pid", "records", *mods])


def camera_coverage(data: ReIDData, split: str = "train") -> pd.DataFrame:
    """Records per identity (rows, sorted pid) and camera (columns, sorted camid); 0 where absent."""
    recs = data[split]
    if not recs:
        return pd.DataFrame()
    df = pd.DataFrame({"pid": [r.pid for r in recs], "camid": [r.camid for r in recs]})
    return pd.crosstab(df["pid"], df["camid"]).sort_index().sort_index(axis=1)


def camera_summary(data: ReIDData) -> pd.DataFrame:
    """Per split: cameras per ID (mean, min, max) and records per camera (min, max)."""
    rows = []
    for s in _splits(data):
        cov = camera_coverage(data, s)
        if cov.empty:
            continue
        per_id = (cov > 0).sum(axis=1)
        per_cam = cov.sum(axis=0)
        rows.append({"split": s, "cameras": cov.shape[1], "cams_per_id_mean": round(float(per_id.mean()), 2),
                     "cams_per_id_min": int(per_id.min()), "cams_per_id_max": int(per_id.max()),
                     "records_per_cam_min": int(per_cam.min()), "records_per_cam_max": int(per_cam.max())})
    return pd.DataFrame(rows)


def modality_pairing(data: ReIDData) -> pd.DataFrame:
    """Which modality combinations the records hold: ``split, combination, records, ids``.

    Aligned data should show one combination (e.g. ``rgb+nir``) per split; unaligned data one
    row per single modality. For unaligned data also see :func:`id_modality_coverage`.
    """
    rows = []
    for s in _splits(data):
        combos: dict[str, list[Record]] = {}
        for r in data[s]:
            combos.setdefault("+".join(r.modalities), []).append(r)
        for combo in sorted(combos):
            recs = combos[combo]
            rows.append({"split": s, "combination": combo, "records": len(recs), "ids": len({r.pid for r in recs})})
    return pd.DataFrame(rows, columns=["split", "combination", "records", "ids"])


def id_modality_coverage(data: ReIDData) -> pd.DataFrame:
    """Per split: how many IDs have images in every modality, and in only some.

    Columns: ``split, ids, ids_all_modalities, ids_<mod>_only...`` — for cross-modal
    retrieval an ID needs images in both the query and the gallery modality.
    """
    per = images_per_id(data)
    mods = _mods(data)
    rows = []
    for s, g in per.groupby("split", sort=False):
        present = g[mods] > 0
        row = {"split": s, "ids": len(g), "ids_all_modalities": int(present.all(axis=1).sum())}
        for m in mods:
            row[f"ids_{m}_only"] = int((present[m] & (present.sum(axis=1) == 1)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def image_sizes(data: ReIDData, max_per_split: int | None = 300, seed: int = 0) -> pd.DataFrame:
    """Width and height (pixels) of modality images: ``split, modality, width, height``.

    Reads file headers only (no decoding); crops (``ImageRef.box``) give the box size.
    ``max_per_split`` records are sampled per split with ``seed`` (None = all records).
    """
    from PIL import Image

    from reidlab.data.errors import ImageError

    rng = np.random.default_rng(seed)
    todo: list[tuple[str, str, Any]] = []
    for s in _splits(data):
        recs = data[s]
        idx = np.arange(len(recs))
        if max_per_split is not None and len(recs) > max_per_split:
            idx = np.sort(rng.choice(len(recs), size=max_per_split, replace=False))
        todo += [(s, m, recs[i].images[m]) for i in idx for m in recs[i].modalities]
    rows = []
    for s, m, ref in tqdm(todo, desc="image sizes", leave=False, mininterval=1.0, disable=None):
        if ref.box is not None:
            w, h = ref.box[2] - ref.box[0], ref.box[3] - ref.box[1]
        else:
            try:
                with Image.open(ref.path) as im:
                    w, h = im.size
            except Exception as exc:  # PIL raises many types for a bad file
                raise ImageError(f"cannot read the header of {ref.path!r} ({type(exc).__name__}: {exc}); "
                                 "replace or delete the file") from exc
        rows.append({"split": s, "modality": m, "width": int(w), "height": int(h)})
    return pd.DataFrame(rows, columns=["split", "modality", "width", "height"])


def image_size_summary(sizes: pd.DataFrame) -> pd.DataFrame:
    """Per modality: sampled images, distinct sizes, median / min / max width and height (px)."""
    if sizes.empty:
        return pd.DataFrame()
    g = sizes.groupby("modality", sort=False)
    out = g.agg(images=("width", "size"), width_median=("width", "median"), width_min=("width", "min"),
                width_max=("width", "max"), height_median=("height", "median"), height_min=("height", "min"),
                height_max=("height", "max"))
    out["distinct_sizes"] = g.apply(lambda d: len(set(zip(d["width"], d["height"]))))
    return out.reset_index()


def attribute_counts(data: ReIDData, attributes: Iterable[str] | None = None) -> pd.DataFrame:
    """Records per attribute value: ``split, attribute, value, records`` (long; empty if none known).

    ``attributes``: names to count; default :data:`ATTRIBUTES` (categorical labels: type, colour,
    orientation, challenge, daynight) — other keys of ``Record.attrs`` (yaw, heat...) are ignored.
    """
    attributes = ATTRIBUTES if attributes is None else tuple(attributes)
    rows: Counter = Counter()
    for s in _splits(data):
        for r in data[s]:
            for k, v in r.attrs.items():
                if k in attributes and v is not None and v == v:  # v == v drops NaN
                    rows[(s, k, str(v))] += 1
    df = pd.DataFrame([(s, k, v, n) for (s, k, v), n in rows.items()], columns=["split", "attribute", "value", "records"])
    return df.sort_values(["attribute", "value", "split"], ignore_index=True)


def orientation_by_modality(data: ReIDData) -> pd.DataFrame:
    """Records per orientation class, split and modality: ``split, modality, orientation, records``
    (long; empty when no record carries ``attrs['orientation']``). UCM-VeID: 8 classes, 45° bins."""
    rows: Counter = Counter()
    for s in _splits(data):
        for r in data[s]:
            o = r.attrs.get("orientation")
            if o is None or o != o:
                continue
            for m in r.modalities:
                rows[(s, m, int(o))] += 1
    df = pd.DataFrame([(s, m, o, n) for (s, m, o), n in rows.items()],
                      columns=["split", "modality", "orientation", "records"])
    return df.sort_values(["split", "modality", "orientation"], ignore_index=True)


def compare_with_card(data: ReIDData, card: Mapping[str, Any]) -> pd.DataFrame:
    """Observed vs expected counts per split: ``split, quantity, expected, observed, status``.

    ``status`` is ``match``, ``differs`` or ``unknown`` (the card gives null) or ``missing`` (the
    card names a split the data lacks). Synthetic data is much smaller than the real card sizes:
    there every known quantity ``differs`` — the table says by how much.
    """
    from reidlab.data.cards import expected_counts

    observed = split_counts(data).set_index("split")
    rows = []
    for s, exp in expected_counts(dict(card)).items():
        for q in ("ids", "records", "images"):
            e = exp.get(q)
            o = int(observed.loc[s, q]) if s in observed.index else None
            if o is None:
                status = "missing"
            elif e is None:
                status = "unknown"
            else:
                status = "match" if e == o else "differs"
            rows.append({"split": s, "quantity": q, "expected": e, "observed": o, "status": status})
    df = pd.DataFrame(rows, columns=["split", "quantity", "expected", "observed", "status"])
    return df.astype({"expected": "Int64", "observed": "Int64"})


# ---------------------------------------------------------------------------------------- figures
def _fig(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    return fig


def fig_split_counts(data: ReIDData) -> Figure:
    """Grouped bars: IDs, records and images per split (log scale when counts span decades)."""
    df = split_counts(data)
    fig = _fig(7, 3.5)
    ax = fig.add_subplot()
    x = np.arange(len(df))
    for i, q in enumerate(("ids", "records", "images")):
        bars = ax.bar(x + (i - 1) * 0.27, df[q], width=0.27, label=q)
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(x, df["split"])
    ax.set_ylabel("count")
    ax.set_title(f"{data.name}: counts per split")
    ax.legend()
    return fig


def fig_images_per_id(data: ReIDData) -> Figure:
    """Histogram of records per identity, one panel per split (unaligned: one bar colour per modality)."""
    per = images_per_id(data)
    splits = list(dict.fromkeys(per["split"]))
    mods = _mods(data)
    fig = _fig(3.2 * max(1, len(splits)), 3)
    axes = fig.subplots(1, max(1, len(splits)), squeeze=False)[0]
    for ax, s in zip(axes, splits):
        g = per[per["split"] == s]
        cols = ["records"] if data.aligned else mods
        lo, hi = int(g[cols].min().min()), int(g[cols].max().max())
        step = max(1, math.ceil((hi - lo + 1) / 30))  # integer-aligned bins, at most ~30
        bins = np.arange(lo, hi + step + 1, step) - 0.5
        if data.aligned:
            ax.hist(g["records"], bins=bins, color="C0")
        else:
            ax.hist([g[m] for m in mods], bins=bins, label=mods)
            ax.legend(fontsize=7)
        ax.set_title(f"{s} ({len(g)} IDs)", fontsize=9)
        ax.set_xlabel("images per ID" if not data.aligned else "tuples per ID")
    axes[0].set_ylabel("IDs")
    fig.suptitle(f"{data.name}: samples per identity")
    return fig


def fig_camera_coverage(data: ReIDData, split: str = "train", max_ids: int = 60) -> Figure:
    """Heatmap of records per (identity, camera) for the first ``max_ids`` IDs of ``split``."""
    import seaborn as sns

    cov = camera_coverage(data, split)
    if cov.empty:
        raise ValueError(f"{data.name}: split {split!r} has no records; pick one of {list(data.splits)}")
    shown = cov.iloc[:max_ids]
    fig = _fig(min(12, 2 + 0.5 * shown.shape[1]), min(10, 1.5 + 0.14 * len(shown)))
    ax = fig.add_subplot()
    # zero cells masked (drawn as background) so the gaps in coverage stand out
    sns.heatmap(shown, ax=ax, cmap="viridis", cbar_kws={"label": "records"}, linewidths=0.2, mask=shown == 0,
                annot=shown.size <= 200, fmt="d", annot_kws={"fontsize": 7},
                yticklabels=max(1, len(shown) // 30))
    ax.set_xlabel("camera")
    ax.set_ylabel("identity")
    more = f" (first {len(shown)} of {len(cov)} IDs)" if len(cov) > len(shown) else ""
    ax.set_title(f"{data.name}/{split}: camera x identity coverage{more}", fontsize=10)
    return fig


def fig_modality_pairing(data: ReIDData) -> Figure:
    """Aligned data: records per modality combination. Unaligned: per-ID image counts, one modality
    against another (each dot an ID; IDs on an axis lack the other modality)."""
    fig = _fig(6, 4)
    ax = fig.add_subplot()
    mods = _mods(data)
    if data.aligned or len(mods) < 2:
        pair = modality_pairing(data)
        piv = pair.pivot_table(index="split", columns="combination", values="records", fill_value=0)
        piv = piv.loc[[s for s in _splits(data) if s in piv.index]]
        piv.plot.bar(ax=ax, stacked=True, rot=0)
        ax.set_ylabel("records")
        ax.set_title(f"{data.name}: modality combinations per record")
    else:
        per = images_per_id(data)
        a, b = mods[0], mods[1]
        for i, (s, g) in enumerate(per.groupby("split", sort=False)):
            ax.scatter(g[a], g[b], s=14, alpha=0.7, label=s, color=f"C{i}")
        ax.set_xlabel(f"{a} images per ID")
        ax.set_ylabel(f"{b} images per ID")
        ax.legend(fontsize=8)
        ax.set_title(f"{data.name}: per-ID images by modality (unaligned)")
    return fig


def fig_image_sizes(sizes: pd.DataFrame, title: str = "") -> Figure:
    """Scatter of width vs height (pixels) per modality from :func:`image_sizes`."""
    if sizes.empty:
        raise ValueError("no image sizes to plot: image_sizes() returned an empty table")
    fig = _fig(5, 4)
    ax = fig.add_subplot()
    for i, (m, g) in enumerate(sizes.groupby("modality", sort=False)):
        c = g.groupby(["width", "height"]).size().reset_index(name="n")
        ax.scatter(c["width"], c["height"], s=12 + 60 * c["n"] / c["n"].max(), alpha=0.6, label=f"{m} ({len(g)})",
                   color=f"C{i}")
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.legend(fontsize=8, title="modality (images)")
    ax.set_title(title or "image sizes (dot area = how many)")
    return fig


def fig_attributes(data: ReIDData, attributes: Iterable[str] | None = None) -> Figure:
    """One bar panel per attribute: records per value, stacked by split. ValueError if none known."""
    df = attribute_counts(data, attributes)
    if df.empty:
        raise ValueError(f"{data.name}: no record carries attributes (Record.attrs is empty everywhere); "
                         "a ROOT/attributes.csv sidecar adds them")
    names = sorted(df["attribute"].unique(), key=lambda a: (ATTRIBUTES.index(a) if a in ATTRIBUTES else 99, a))
    ncol = min(3, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig = _fig(4.2 * ncol, 3 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax, a in zip(axes, names):
        piv = df[df["attribute"] == a].pivot_table(index="value", columns="split", values="records", fill_value=0)
        piv = piv[[c for c in _splits(data) if c in piv.columns]]
        piv.plot.bar(ax=ax, stacked=True, legend=ax is axes[0], rot=45, fontsize=7)
        ax.set_title(a, fontsize=10)
        ax.set_xlabel("")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{data.name}: attribute distributions (records)")
    return fig


def fig_sample_grid(data: ReIDData, split: str = "train", n_ids: int = 4, n_captures: int = 3,
                    seed: int = 0, thumb_height: int = 64) -> Figure:
    """Rows = ``n_ids`` random identities; columns = ``n_captures`` captures x modalities.

    Aligned data: the modalities of one capture sit side by side (one tuple). Unaligned data:
    ``n_captures`` separate images of each modality. An empty cell means the ID has fewer images.
    SAR chips are contrast-stretched for display (:func:`reidlab.data.display.display_image`).
    """
    from reidlab.data.display import display_image

    recs = data[split]
    if not recs:
        raise ValueError(f"{data.name}: split {split!r} has no records")
    rng = np.random.default_rng(seed)
    by_id: dict[int, list[Record]] = {}
    for r in recs:
        by_id.setdefault(r.pid, []).append(r)
    pids = sorted(by_id)
    pids = [pids[i] for i in np.sort(rng.choice(len(pids), size=min(n_ids, len(pids)), replace=False))]
    mods = _mods(data)
    ncols = n_captures * len(mods)
    thumbs: dict[tuple[int, int, str], np.ndarray] = {}
    for i, pid in enumerate(pids):
        own = by_id[pid]
        if data.aligned:
            pick = [own[j] for j in np.sort(rng.choice(len(own), size=min(n_captures, len(own)), replace=False))]
            refs = {(c, m): pick[c].images.get(m) for c in range(len(pick)) for m in mods}
        else:
            refs = {}
            for m in mods:
                have = [r for r in own if m in r.images]
                sel = np.sort(rng.choice(len(have), size=min(n_captures, len(have)), replace=False)) if have else []
                refs.update({(c, m): have[j].images[m] for c, j in enumerate(sel)})
        for (c, m), ref in refs.items():
            if ref is not None:
                im = display_image(ref, m)
                w = max(1, round(im.width * thumb_height / im.height))
                thumbs[(i, c, m)] = np.asarray(im.resize((w, thumb_height)))
    # figure height follows the thumbnails' aspect so rows are not padded with white space
    aspect = float(np.median([t.shape[0] / t.shape[1] for t in thumbs.values()])) if thumbs else 0.5
    fig_w = min(16.0, 1.0 * ncols + 0.8)
    fig = _fig(fig_w, len(pids) * (fig_w - 0.8) / ncols * aspect * 1.25 + 0.8)
    axes = fig.subplots(len(pids), ncols, squeeze=False)
    for i, pid in enumerate(pids):
        for c in range(n_captures):
            for k, m in enumerate(mods):
                ax = axes[i, c * len(mods) + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if (i, c, m) in thumbs:
                    ax.imshow(thumbs[(i, c, m)])
                else:
                    ax.set_facecolor("0.92")
                if i == 0:
                    ax.set_title(f"{m} #{c + 1}", fontsize=8)
                if c == 0 and k == 0:
                    ax.set_ylabel(f"id {pid}", fontsize=8)
    fig.suptitle(f"{data.name}/{split}: sample {'tuples' if data.aligned else 'images'} per identity", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------- bundle
def dataset_report(data: ReIDData, card: Mapping[str, Any] | None = None, *, size_sample: int | None = 300,
                   seed: int = 0, coverage_split: str | None = None, grid_split: str | None = None,
                   grid_ids: int = 4, grid_captures: int = 3) -> dict[str, dict[str, Any]]:
    """Every table and figure for one dataset: ``{"tables": {name: DataFrame}, "figures": {name: Figure}}``.

    ``card``: the front matter from :func:`reidlab.data.cards.load_card` (adds ``card_comparison``).
    Attribute tables/figures appear only when records carry attributes.
    """
    first = "train" if "train" in data.splits else _splits(data)[0]
    sizes = image_sizes(data, max_per_split=size_sample, seed=seed)
    tables: dict[str, pd.DataFrame] = {
        "split_counts": split_counts(data),
        "modality_counts": modality_counts(data),
        "modality_pairing": modality_pairing(data),
        "id_modality_coverage": id_modality_coverage(data),
        "camera_summary": camera_summary(data),
        "image_sizes": image_size_summary(sizes),
        "images_per_id": images_per_id(data),
    }
    attrs = attribute_counts(data)
    if not attrs.empty:
        tables["attributes"] = attrs
    orient = orientation_by_modality(data)
    if not orient.empty:
        tables["orientation"] = orient
    if card is not None:
        tables["card_comparison"] = compare_with_card(data, card)
    figures: dict[str, Figure] = {
        "split_counts": fig_split_counts(data),
        "images_per_id": fig_images_per_id(data),
        "camera_coverage": fig_camera_coverage(data, coverage_split or first),
        "modality_pairing": fig_modality_pairing(data),
        "image_sizes": fig_image_sizes(sizes, f"{data.name}: image sizes (sampled)"),
        "sample_grid": fig_sample_grid(data, grid_split or first, grid_ids, grid_captures, seed),
    }
    if not attrs.empty:
        figures["attributes"] = fig_attributes(data)
    return {"tables": tables, "figures": figures}


def to_markdown(df: pd.DataFrame, max_rows: int = 200) -> str:
    """A GitHub markdown table (no extra dependency); rows beyond ``max_rows`` are elided."""
    shown = df.head(max_rows)
    cells = [[str(c) for c in shown.columns]] + [["" if pd.isna(v) else str(v) for v in row] for row in shown.itertuples(index=False)]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows in the CSV._")
    return "\n".join(lines) + "\n"


def write_report(report: Mapping[str, Mapping[str, Any]], out_dir: str | Path, *, dpi: int = 110) -> list[Path]:
    """Write tables as ``<name>.csv`` + one ``tables.md``, figures as ``<name>.png``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    md = []
    for name, df in report["tables"].items():
        p = out / f"{name}.csv"
        df.to_csv(p, index=False)
        written.append(p)
        if name != "images_per_id":  # one row per ID: CSV only
            md.append(f"## {name}\n\n{to_markdown(df)}")
    p = out / "tables.md"
    p.write_text("\n".join(md), encoding="utf-8")
    written.append(p)
    for name, fig in report["figures"].items():
        p = out / f"{name}.png"
        fig.savefig(p, dpi=dpi)
        written.append(p)
    return written


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of ``fig`` (for ``IPython.display.Image``; works under any matplotlib backend)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
