"""reidlab.data.stats on hand-made data (exact counts known) and on the synthetic layouts."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from reidlab.data import stats
from reidlab.data.records import ImageRef, Record, ReIDData


@pytest.fixture()
def aligned(tmp_path) -> ReIDData:
    """3 train IDs (2, 3, 4 pairs; side-by-side 32x16 files), 2 query, 3 gallery pairs; attrs on train."""
    def pair(name, pid, cam, split, attrs=None):
        p = tmp_path / f"{name}.png"
        Image.new("RGB", (32, 16), (pid * 40, cam * 20, 0)).save(p)
        return Record(pid, cam, {"rgb": ImageRef(str(p), (0, 0, 16, 16)), "nir": ImageRef(str(p), (16, 0, 32, 16))},
                      split, attrs=attrs or {})
    train = [pair(f"t{pid}_{k}", pid, 1 + k % 3, "train", {"type": "sedan" if pid < 3 else "bus", "daynight": "day",
                                                           "yaw": 10.0 * k})
             for pid in (1, 2, 3) for k in range(pid + 1)]
    query = [pair("q1", 5, 1, "query"), pair("q2", 6, 2, "query")]
    gallery = [pair("g1", 5, 2, "gallery"), pair("g2", 6, 1, "gallery"), pair("g3", 6, 3, "gallery")]
    return ReIDData("handmade", tmp_path, ("rgb", "nir"), True, {"train": train, "query": query, "gallery": gallery})


@pytest.fixture()
def unaligned(tmp_path) -> ReIDData:
    """ID 1: 3 rgb + 1 tir images; ID 2: 2 rgb only; rgb 20x10, tir 10x10 (one file per image)."""
    recs = []
    for i, (pid, mod, size) in enumerate([(1, "rgb", (20, 10))] * 3 + [(1, "tir", (10, 10))] + [(2, "rgb", (20, 10))] * 2):
        p = tmp_path / f"u{i}.png"
        Image.new("RGB", size, (i * 30, 0, 0)).save(p)
        recs.append(Record(pid, 1 + i % 2, {mod: ImageRef(str(p))}, "train"))
    return ReIDData("unaligned", tmp_path, ("rgb", "tir"), False, {"train": recs, "query": recs[:1], "gallery": recs[1:]})


def test_counts_aligned(aligned):
    sc = stats.split_counts(aligned).set_index("split")
    assert list(sc.index) == ["train", "query", "gallery"]
    assert sc.loc["train"].to_dict() == {"ids": 3, "records": 9, "images": 18, "cameras": 3, "rgb": 9, "nir": 9}
    assert sc.loc["gallery", "ids"] == 2 and sc.loc["gallery", "images"] == 6
    per = stats.images_per_id(aligned, ["train"])
    assert list(per["records"]) == [2, 3, 4]
    pair = stats.modality_pairing(aligned)
    assert set(pair["combination"]) == {"rgb+nir"} and pair["records"].sum() == 14
    cov = stats.camera_coverage(aligned, "train")
    assert cov.loc[3].tolist() == [2, 1, 1] and cov.values.sum() == 9
    cs = stats.camera_summary(aligned).set_index("split")
    assert cs.loc["train", "cams_per_id_min"] == 2 and cs.loc["train", "cams_per_id_max"] == 3


def test_counts_unaligned(unaligned):
    per = stats.images_per_id(unaligned, ["train"]).set_index("pid")
    assert per.loc[1, "rgb"] == 3 and per.loc[1, "tir"] == 1 and per.loc[2, "tir"] == 0
    cov = stats.id_modality_coverage(unaligned).set_index("split")
    assert cov.loc["train"].to_dict() == {"ids": 2, "ids_all_modalities": 1, "ids_rgb_only": 1, "ids_tir_only": 0}
    mc = stats.modality_counts(unaligned)
    assert mc[(mc.split == "train") & (mc.modality == "tir")]["images"].item() == 1
    pair = stats.modality_pairing(unaligned)
    assert pair[pair.split == "train"].set_index("combination")["records"].to_dict() == {"rgb": 5, "tir": 1}


def test_image_sizes_and_attributes(aligned, unaligned):
    s = stats.image_sizes(aligned, max_per_split=None)
    assert len(s) == 28 and set(zip(s.width, s.height)) == {(16, 16)}  # boxes, not the 32-wide file
    s = stats.image_sizes(unaligned, max_per_split=None)
    assert set(zip(s.modality, s.width, s.height)) == {("rgb", 20, 10), ("tir", 10, 10)}
    sub = stats.image_sizes(aligned, max_per_split=2, seed=0)
    assert len(sub) == 3 * 2 * 2  # 2 records per split x 2 modalities
    summ = stats.image_size_summary(stats.image_sizes(unaligned, max_per_split=None)).set_index("modality")
    assert summ.loc["rgb", "width_median"] == 20 and summ.loc["tir", "distinct_sizes"] == 1
    a = stats.attribute_counts(aligned)
    assert set(a["attribute"]) == {"type", "daynight"}  # 'yaw' is not a categorical label
    assert a[(a.attribute == "type") & (a.value == "sedan")]["records"].item() == 5
    assert stats.attribute_counts(unaligned).empty
    with pytest.raises(ValueError, match="no record carries attributes"):
        stats.fig_attributes(unaligned)


def test_bad_image_is_named(aligned, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    data = ReIDData("bad", tmp_path, ("rgb",), True, {"train": [Record(1, 1, {"rgb": ImageRef(str(bad))}, "train")]})
    from reidlab.data.errors import ImageError
    with pytest.raises(ImageError, match="bad.png"):
        stats.image_sizes(data)


def test_compare_with_card(aligned):
    card = {"splits": {"train": {"ids": 3, "records": 9, "images": 20}, "query": {"ids": None, "records": 2, "images": 4},
                       "query3": {"ids": 1, "records": 1, "images": 2}}}
    cmp = stats.compare_with_card(aligned, card).set_index(["split", "quantity"])["status"].to_dict()
    assert cmp[("train", "ids")] == "match" and cmp[("train", "images")] == "differs"
    assert cmp[("query", "ids")] == "unknown" and cmp[("query3", "records")] == "missing"


def test_figures_and_report(aligned, unaligned, tmp_path):
    for data in (aligned, unaligned):
        rep = stats.dataset_report(data, None, grid_ids=2, grid_captures=2)
        assert all(isinstance(f, Figure) for f in rep["figures"].values())
        assert all(isinstance(t, pd.DataFrame) for t in rep["tables"].values())
        assert ("attributes" in rep["figures"]) == (data is aligned)
    grid = stats.fig_sample_grid(aligned, "train", n_ids=3, n_captures=2)
    axes = grid.get_axes()
    assert len(axes) == 3 * 2 * 2 and sum(bool(ax.images) for ax in axes) == 12  # every ID has >= 2 pairs
    grid = stats.fig_sample_grid(unaligned, "train", n_ids=2, n_captures=2)
    assert sum(bool(ax.images) for ax in grid.get_axes()) == 2 + 1 + 2  # ID 1: 2 rgb + 1 tir; ID 2: 2 rgb
    paths = stats.write_report(rep, tmp_path / "out")
    names = {p.name for p in paths}
    assert {"split_counts.csv", "tables.md", "sample_grid.png", "camera_coverage.png"} <= names
    png = (tmp_path / "out" / "sample_grid.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    back = pd.read_csv(tmp_path / "out" / "split_counts.csv")
    assert back.equals(stats.split_counts(unaligned))
    assert "| split | ids |" in (tmp_path / "out" / "tables.md").read_text()


@pytest.mark.parametrize("layout", ["rgbnt100", "ucmveid", "hoss"])
def test_synthetic_layouts(synth_root, layout, tmp_path):
    from reidlab.data import load_dataset
    from reidlab.data.cards import load_card

    data = load_dataset(layout, synth_root(layout))
    rep = stats.dataset_report(data, load_card(layout), size_sample=50)
    sc = rep["tables"]["split_counts"].set_index("split")
    # records and images agree with the loader's own lists
    for s in data.splits:
        assert sc.loc[s, "records"] == len(data[s])
        assert sc.loc[s, "images"] == sum(len(r.images) for r in data[s])
    pairing = rep["tables"]["modality_pairing"]
    if data.aligned:
        assert set(pairing["combination"]) == {"+".join(data.modalities)}
    else:
        assert set(pairing["combination"]) <= set(data.modalities)
    assert "card_comparison" in rep["tables"] and "attributes" in rep["tables"]


def test_cli(synth_root, tmp_path, capsys):
    from reidlab.cli import main

    out = tmp_path / "st"
    assert main(["data", "stats", str(synth_root("rgbn300")), "--dataset", "rgbn300", "--out", str(out),
                 "--size-sample", "20"]) == 0
    assert (out / "split_counts.csv").is_file() and (out / "card_comparison.csv").is_file()
    assert (out / "sample_grid.png").is_file()
    assert "| train |" in capsys.readouterr().out
    assert main(["data", "stats", str(tmp_path / "missing"), "--dataset", "rgbn300", "--out", str(out)]) == 1
    assert "missing" in capsys.readouterr().err
