"""Loaders of the six native layouts + the CSV manifest, on tiny hand-made trees and on the
synthetic smoke preset."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fixtures import (  # noqa: E402
    PH, PW, make_hoss, make_msvr310, make_sidebyside, make_ucmveid, make_wmveid863, save_plain, write_manifest,
)

from reidlab.data import ImageRef, ReIDData, list_datasets, load_dataset  # noqa: E402
from reidlab.data.image import load_image, load_modalities  # noqa: E402


def test_list_datasets_names_all_layouts():
    assert list_datasets() == sorted(["rgbn300", "rgbnt100", "msvr310", "wmveid863", "ucmveid", "hoss", "manifest"])


def test_import_is_torch_free():
    import subprocess

    code = "import sys, reidlab.data; reidlab.data.list_datasets(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("nested", [True, False])
def test_rgbn300_parses_pid_cam_and_crop_boxes(tmp_path, nested):
    root = make_sidebyside(tmp_path, ("rgb", "nir"), nested=nested)
    given = root if nested else root  # parent of rgbir/ or the split folders themselves
    data = load_dataset("rgbn300", given)
    assert isinstance(data, ReIDData) and data.aligned and data.modalities == ("rgb", "nir")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 6, "query": 2, "gallery": 4}
    r = data.train[0]
    assert (r.pid, r.camid, r.index, r.split) == (1, 1, 0, "train")
    assert [x.index for x in data.gallery] == [0, 1, 2, 3]
    assert sorted({x.camid for x in data.gallery}) == [1, 8]
    assert r.images["rgb"] == ImageRef(r.images["rgb"].path, (0, 0, PW, PH))
    assert r.images["nir"].box == (PW, 0, 2 * PW, PH)
    imgs = load_modalities(r)
    assert imgs["rgb"].size == (PW, PH) and imgs["rgb"].mode == "RGB"
    red, green = imgs["rgb"].getpixel((PW // 2, PH // 2)), imgs["nir"].getpixel((PW // 2, PH // 2))
    assert red[0] > 150 > red[1] and green[1] > 150 > green[0]


def test_rgbn300_accepts_the_rgbir_folder_itself(tmp_path):
    make_sidebyside(tmp_path)
    a = load_dataset("rgbn300", tmp_path)
    b = load_dataset("rgbn300", tmp_path / "rgbir")
    assert a.root == b.root and a.manifest_checksum() == b.manifest_checksum()


def test_rgbnt100_three_panels(tmp_path):
    data = load_dataset("rgbnt100", make_sidebyside(tmp_path, ("rgb", "nir", "tir")))
    r = data.query[1]
    assert (r.pid, r.camid) == (5, 3)
    assert [r.images[m].box for m in ("rgb", "nir", "tir")] == [
        (0, 0, PW, PH), (PW, 0, 2 * PW, PH), (2 * PW, 0, 3 * PW, PH)]
    assert load_image(r.images["tir"]).getpixel((3, 3))[2] > 150


def test_junk_pid_minus_one_is_skipped_and_counted(tmp_path):
    from test_data_fixtures import save_sbs

    make_sidebyside(tmp_path)
    save_sbs(tmp_path / "rgbir" / "bounding_box_test" / "-1_c0001_000.jpg", ("rgb", "nir"))
    save_sbs(tmp_path / "rgbir" / "bounding_box_test" / "0000_c0001_000.jpg", ("rgb", "nir"))
    data = load_dataset("rgbn300", tmp_path)
    assert len(data.gallery) == 5  # 4 + the pid-0 distractor; pid -1 dropped
    assert any("1 junk" in w and "gallery" in w for w in data.warnings)


@pytest.mark.parametrize("porsche", [False, True])
def test_msvr310_triples_scene_cam_and_query3_alias(tmp_path, porsche):
    data = load_dataset("msvr310", make_msvr310(tmp_path, porsche=porsche))
    assert list(data.splits) == ["train", "query", "query3", "gallery"]
    assert len(data.train) == 4 and len(data.gallery) == 4
    assert [r.pid for r in data.query] == [r.pid for r in data["query3"]] == [4]
    assert data.query[0].split == "query" and data["query3"][0].split == "query3"
    r = data.train[1]
    assert (r.pid, r.camid, r.scene) == (1, 1, 11)
    assert Path(r.images["nir"].path).parent.name == "ni" and Path(r.images["tir"].path).parent.name == "th"
    assert Path(r.images["rgb"].path).name == Path(r.images["tir"].path).name


def test_wmveid863_cam_scene_daynight(tmp_path):
    data = load_dataset("wmveid863", make_wmveid863(tmp_path))
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 4, "query": 1, "gallery": 4}
    by_name = {Path(r.images["rgb"].path).name: r for r in data.train}
    r = by_name["v2_n1_s021_0001.jpg"]
    assert (r.pid, r.camid, r.scene) == (1, 2, 21)
    assert r.attrs["daynight"] == "night" and by_name["v1_n0_s020_0001.jpg"].attrs["daynight"] == "day"


def test_hoss_modalities_from_suffix_and_subsets(tmp_path):
    data = load_dataset("hoss", make_hoss(tmp_path))
    assert not data.aligned and data.modalities == ("rgb", "sar")
    assert set(data.splits) == {"train", "query", "gallery", "subset/O2S/query", "subset/O2S/gallery",
                                "subset/S2O/query", "subset/S2O/gallery"}
    mods = [r.modalities for r in data.train]
    assert mods == [("rgb",), ("sar",), ("rgb",), ("sar",)]
    sar = data.train[1]
    assert (sar.pid, sar.camid, sar.attrs["seq"]) == (1, 2, 2)
    img = load_image(sar.images["sar"])  # float32 tif scaled by its max to uint8, 3 channels
    assert img.mode == "RGB" and img.size == (PW, PH)
    import numpy as np

    px = np.asarray(img)
    assert px.max() == 255 and px.min() == 0 and (px[..., 0] == px[..., 2]).all()
    assert data["subset/S2O/query"][0].modalities == ("sar",)


def test_hoss_without_subsets_notes_it(tmp_path):
    data = load_dataset("hoss", make_hoss(tmp_path, subsets=False) / "HOSS")
    assert set(data.splits) == {"train", "query", "gallery"}
    assert any("O2S" in w for w in data.warnings)


def test_ucmveid_unaligned_rgb_ir(tmp_path):
    data = load_dataset("ucmveid", make_ucmveid(tmp_path))
    assert data.modalities == ("rgb", "tir") and not data.aligned
    assert len(data.train) == 6 and sum(r.modalities == ("tir",) for r in data.train) == 2
    assert {(r.pid, r.camid) for r in data.gallery if "tir" in r.images} == {(3, 3), (4, 3)}
    r = data.train[1]
    assert (r.pid, r.camid, r.modalities) == (1, 2, ("rgb",))
    assert r.attrs == {"orientation": 5, "type": "suv", "colour": "white"}


def test_attributes_sidecar_is_merged(tmp_path):
    make_ucmveid(tmp_path)
    (tmp_path / "attributes.csv").write_text(
        "file,pid,challenge,daynight\ntrain/rgb/0001_v01_o0_0000.jpg,1,glare,night\n")
    data = load_dataset("ucmveid", tmp_path)
    r = data.train[0]
    assert r.images["rgb"].path.endswith("0001_v01_o0_0000.jpg")
    assert r.attrs == {"orientation": 0, "type": "suv", "colour": "white", "challenge": "glare", "daynight": "night"}
    assert sum("challenge" in r.attrs for r in data.train) == 1


def test_attributes_sidecar_merged_for_side_by_side_parent_root(tmp_path):
    make_sidebyside(tmp_path)
    (tmp_path / "attributes.csv").write_text("file,challenge\nrgbir/query/0004_c0003_000.jpg,glare\n")
    data = load_dataset("rgbn300", tmp_path)
    assert data.query[0].attrs == {"challenge": "glare"} and data.query[1].attrs == {}


def test_manifest_tuples_boxes_and_attrs(tmp_path):
    for n in ("a", "b", "c", "d"):
        save_plain(tmp_path / "img" / f"{n}.png", size=(40, 20))
    rows = [
        "train,7,1,vis,img/a.png,,,,,t1,red",
        "train,7,1,ni,img/b.png,,,,,t1,red",
        "bounding_box_test,7,2,rgb,img/c.png,0,0,20,20,,blue",
        "query,7,3,th,img/d.png,,,,,,",
    ]
    csv = write_manifest(tmp_path, rows, header="split,pid,camid,modality,path,x0,y0,x1,y1,tuple,colour")
    data = load_dataset("manifest", csv)
    assert data.modalities == ("rgb", "nir", "tir") and not data.aligned
    assert len(data.train) == 1 and data.train[0].modalities == ("rgb", "nir")
    assert data.train[0].attrs == {"colour": "red"}
    g = data.gallery[0]
    assert g.images["rgb"].box == (0, 0, 20, 20) and load_image(g.images["rgb"]).size == (20, 20)
    assert data.query[0].modalities == ("tir",)
    assert load_dataset("manifest", tmp_path).manifest_checksum() == data.manifest_checksum()


def test_ucmveid_accepts_a_manifest(tmp_path):
    save_plain(tmp_path / "x.jpg")
    save_plain(tmp_path / "y.jpg")
    csv = write_manifest(tmp_path, ["train,1,1,rgb,x.jpg,,", "train,1,2,ir,y.jpg,,"])
    data = load_dataset("ucmveid", csv)
    assert [r.modalities for r in data.train] == [("rgb",), ("tir",)]


# ---- the synthetic smoke preset (written by reidlab.data.synth.generate) -------------------
def _needs_generator():
    try:
        from reidlab.data.synth import generate  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"synthetic generator not available yet: {exc}")


@pytest.mark.parametrize("layout", ["rgbn300", "rgbnt100", "msvr310", "wmveid863", "ucmveid", "hoss"])
def test_loaders_on_synthetic_smoke(synth_root, layout):
    _needs_generator()
    data = load_dataset(layout, synth_root(layout))
    assert data.name == layout and len(data.train) > 0 and len(data.query) > 0 and len(data.gallery) > 0
    train_ids, test_ids = {r.pid for r in data.train}, {r.pid for r in data.gallery}
    assert not train_ids & {r.pid for r in data.query}, "train and query IDs must be disjoint"
    assert {r.pid for r in data.query} <= test_ids
    for split, recs in data.splits.items():
        assert [r.index for r in recs] == list(range(len(recs)))
    r = data.train[0]
    imgs = load_modalities(r)
    sizes = {im.size for im in imgs.values()}
    if data.aligned:
        assert set(r.modalities) == set(data.modalities)
    if layout in ("rgbn300", "rgbnt100"):
        n = len(data.modalities)
        assert len(sizes) == 1  # equal panels
        box = r.images["rgb"].box
        assert box[0] == 0 and r.images[data.modalities[-1]].box[2] == box[2] * n
