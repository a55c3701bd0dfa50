"""Every bad-input case gives a clear DataError naming the file (or a counted skip)."""
from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fixtures import (  # noqa: E402
    make_hoss, make_msvr310, make_sidebyside, make_ucmveid, make_wmveid863, save_plain, save_sbs, write_manifest,
)

from reidlab.data import (  # noqa: E402
    DataError, DataWarning, FilenameError, ImageError, LabelRangeError, LayoutError, UnpairedModalityError,
    load_dataset,
)
from reidlab.data.image import load_image  # noqa: E402
from reidlab.data.records import ImageRef  # noqa: E402


def test_unknown_dataset_lists_known_names(tmp_path):
    with pytest.raises(DataError, match="known datasets: hoss, manifest, msvr310"):
        load_dataset("market1501", tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(LayoutError, match="does not exist") as e:
        load_dataset("rgbn300", tmp_path / "nope")
    assert "bounding_box_train" in str(e.value)  # shows the expected tree


def test_root_without_layout_shows_expected_tree(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(LayoutError, match="rgbir") as e:
        load_dataset("rgbn300", tmp_path)
    assert "Expected this tree" in str(e.value)


@pytest.mark.parametrize("name,make,folder", [
    ("rgbn300", make_sidebyside, "rgbir/bounding_box_test"),
    ("msvr310", make_msvr310, "query3"),
    ("wmveid863", make_wmveid863, "test"),
    ("hoss", make_hoss, "HOSS/query"),
    ("ucmveid", make_ucmveid, "gallery"),
])
def test_missing_split_folder(tmp_path, name, make, folder):
    make(tmp_path)
    shutil.rmtree(tmp_path / folder)
    with pytest.raises(LayoutError, match="split folder") as e:
        load_dataset(name, tmp_path)
    assert "Expected this tree" in str(e.value)


def test_empty_split_folder(tmp_path):
    make_sidebyside(tmp_path)
    for f in (tmp_path / "rgbir" / "query").iterdir():
        f.unlink()
    with pytest.raises(LayoutError, match="holds no images"):
        load_dataset("rgbn300", tmp_path)


@pytest.mark.parametrize("name,make,bad", [
    ("rgbn300", make_sidebyside, "rgbir/query/car_front.jpg"),
    ("hoss", make_hoss, "HOSS/query/0003_RGB.tif"),
    ("ucmveid", make_ucmveid, "train/rgb/0001_c1.jpg"),
    ("msvr310", make_msvr310, "query3/0004/vis/ab.jpg"),
])
def test_unparseable_file_name(tmp_path, name, make, bad):
    make(tmp_path)
    if name == "msvr310":
        for sub in ("vis", "ni", "th"):
            save_plain(tmp_path / "query3" / "0004" / sub / "ab.jpg")
    elif name == "hoss":
        from test_data_fixtures import save_tif

        save_tif(tmp_path / bad, "rgb")
    elif name == "rgbn300":
        save_sbs(tmp_path / bad, ("rgb", "nir"))
    else:
        save_plain(tmp_path / bad)
    with pytest.raises(FilenameError, match=Path(bad).name) as e:
        load_dataset(name, tmp_path)
    assert "pattern" in str(e.value)


def test_msvr310_pid_disagreeing_with_folder(tmp_path):
    make_msvr310(tmp_path)
    for sub in ("vis", "ni", "th"):
        save_plain(tmp_path / "query3" / "0004" / sub / "0009_s001_v1_0000.jpg")
    with pytest.raises(FilenameError, match="differs from its folder 0004"):
        load_dataset("msvr310", tmp_path)


@pytest.mark.parametrize("name,make", [("msvr310", make_msvr310), ("wmveid863", make_wmveid863)])
def test_unpaired_modality_lists_orphans(tmp_path, name, make):
    make(tmp_path)
    split = "bounding_box_test" if name == "msvr310" else "test"
    th = tmp_path / split / "0005" / "th"
    orphan = sorted(th.iterdir())[0]
    orphan.unlink()
    with pytest.raises(UnpairedModalityError, match="no th partner") as e:
        load_dataset(name, tmp_path)
    assert f"0005/vis/{orphan.name}" in str(e.value)
    data = load_dataset(name, tmp_path, drop_unpaired=True)  # the documented opt-out
    assert len(data.gallery) == 3 and any("unpaired" in w for w in data.warnings)


def test_side_by_side_width_not_multiple(tmp_path):
    make_sidebyside(tmp_path, ("rgb", "nir", "tir"))
    save_sbs(tmp_path / "rgbir" / "bounding_box_train" / "0001_c0002_009.jpg", ("rgb", "nir", "tir"), width=47)
    with pytest.raises(ImageError, match=r"0001_c0002_009.jpg.*not a multiple of 3"):
        load_dataset("rgbnt100", tmp_path)


def _corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")


def test_corrupt_side_by_side_image_named_or_skipped(tmp_path):
    make_sidebyside(tmp_path)
    bad = tmp_path / "rgbir" / "bounding_box_train" / "0002_c0003_000.jpg"
    _corrupt(bad)
    with pytest.raises(ImageError, match="0002_c0003_000.jpg"):
        load_dataset("rgbn300", tmp_path)
    data = load_dataset("rgbn300", tmp_path, skip_corrupt=True)
    assert len(data.train) == 6 and any("skipped 1 corrupt" in w for w in data.warnings)


def test_corrupt_image_in_folder_layout(tmp_path):
    make_msvr310(tmp_path)
    bad = sorted((tmp_path / "bounding_box_train" / "0001" / "ni").iterdir())[0]
    _corrupt(bad)
    data = load_dataset("msvr310", tmp_path)  # listing does not decode
    rec = next(r for r in data.train if r.images["nir"].path == str(bad))
    with pytest.raises(ImageError, match=bad.name):
        load_image(rec.images["nir"])
    with pytest.raises(ImageError, match=bad.name):
        load_dataset("msvr310", tmp_path, verify_images=True)
    data = load_dataset("msvr310", tmp_path, skip_corrupt=True)
    assert len(data.train) == 3 and any("skipped 1 corrupt" in w for w in data.warnings)


def test_truncated_jpeg_fails_full_decode(tmp_path):
    save_plain(tmp_path / "a.jpg", size=(64, 64))
    raw = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ImageError, match="a.jpg"):
        load_image(ImageRef(str(tmp_path / "a.jpg")))


def test_crop_box_outside_image(tmp_path):
    save_plain(tmp_path / "a.png", size=(10, 10))
    with pytest.raises(ImageError, match="outside"):
        load_image(ImageRef(str(tmp_path / "a.png"), (0, 0, 20, 10)))


def test_camera_out_of_range(tmp_path):
    make_sidebyside(tmp_path)
    save_sbs(tmp_path / "rgbir" / "query" / "0004_c0009_000.jpg", ("rgb", "nir"))
    with pytest.raises(LabelRangeError, match=r"camera 9 .*0004_c0009_000.jpg.*1\.\.8"):
        load_dataset("rgbn300", tmp_path)


def test_msvr310_camera_out_of_range(tmp_path):
    make_msvr310(tmp_path)
    for sub in ("vis", "ni", "th"):
        save_plain(tmp_path / "query3" / "0004" / sub / "0004_s001_v9_0000.jpg")
    with pytest.raises(LabelRangeError, match="camera 9"):
        load_dataset("msvr310", tmp_path)


def test_negative_pid_other_than_junk(tmp_path):
    make_sidebyside(tmp_path)
    save_sbs(tmp_path / "rgbir" / "query" / "-2_c0001_000.jpg", ("rgb", "nir"))
    with pytest.raises(LabelRangeError, match="pid -2"):
        load_dataset("rgbn300", tmp_path)


def test_query_ids_absent_from_gallery_warn(tmp_path):
    make_sidebyside(tmp_path)
    save_sbs(tmp_path / "rgbir" / "query" / "0077_c0001_000.jpg", ("rgb", "nir"))
    with pytest.warns(DataWarning, match=r"1 of 3 'query' record\(s\).*never match"):
        data = load_dataset("rgbn300", tmp_path)
    assert any("never match" in w for w in data.warnings)


def test_good_tree_gives_no_warning(tmp_path):
    make_sidebyside(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert load_dataset("rgbn300", tmp_path).warnings == []


def test_ucmveid_image_without_label_row(tmp_path):
    make_ucmveid(tmp_path)
    save_plain(tmp_path / "train" / "ir" / "0002_v04_o1_0009.jpg")
    with pytest.raises(DataError, match="0002_v04_o1_0009.jpg"):
        load_dataset("ucmveid", tmp_path)
    data = load_dataset("ucmveid", tmp_path, skip_corrupt=True)
    assert len(data.train) == 6 and any("without labels.csv row" in w for w in data.warnings)


def test_ucmveid_missing_labels_csv(tmp_path):
    make_ucmveid(tmp_path)
    (tmp_path / "labels.csv").unlink()
    with pytest.raises(LayoutError, match="labels.csv"):
        load_dataset("ucmveid", tmp_path)


def test_sidecar_pid_mismatch(tmp_path):
    make_sidebyside(tmp_path)
    (tmp_path / "attributes.csv").write_text("file,pid\nrgbir/query/0004_c0003_000.jpg,9\n")
    with pytest.raises(DataError, match="gives pid 9"):
        load_dataset("rgbn300", tmp_path)


@pytest.mark.parametrize("header,row,match", [
    ("split,pid,modality,path", "train,1,rgb,a.png", "lacks the column"),
    ("split,pid,camid,modality,path", "train,x,1,rgb,a.png", "must be integers"),
    ("split,pid,camid,modality,path", "train,1,1,uv,a.png", "unknown modality"),
    ("split,pid,camid,modality,path", "train,1,1,rgb,missing.png", "does not exist"),
    ("split,pid,camid,modality,path,tuple", "train,1,1,rgb,a.png,t\ntrain,2,1,nir,a.png,t", "must agree"),
    ("split,pid,camid,modality,path,tuple", "train,1,1,rgb,a.png,t\ntrain,1,1,rgb,a.png,t", "two 'rgb'"),
    ("split,pid,camid,modality,path,x0,y0", "train,1,1,rgb,a.png,0,0", "all four"),
])
def test_manifest_errors_name_the_line(tmp_path, header, row, match):
    save_plain(tmp_path / "a.png")
    csv = write_manifest(tmp_path, row.split("\n"), header=header)
    with pytest.raises(DataError, match=match) as e:
        load_dataset("manifest", csv)
    assert "manifest.csv" in str(e.value)


def test_manifest_missing_file_skipped_with_skip_corrupt(tmp_path):
    save_plain(tmp_path / "a.png")
    csv = write_manifest(tmp_path, ["train,1,1,rgb,a.png,,", "train,1,1,rgb,gone.png,,"])
    data = load_dataset("manifest", csv, skip_corrupt=True)
    assert len(data.train) == 1 and any("skipped 1 corrupt" in w for w in data.warnings)
