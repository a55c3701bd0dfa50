"""The synthetic generator: native layouts, determinism, and the properties that keep it honest."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from reidlab.data.synth import LAYOUTS, PRESETS, ensure_synthetic, generate, resolve_params
from reidlab.data.synth.identity import COLOURS, sample_vehicle
from reidlab.data.synth.properties import GAP_CHECK_OVERRIDES, average_precision, descriptor_retrieval_report

SMOKE = PRESETS["smoke"]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _attrs(root: Path) -> list[dict[str, str]]:
    with open(root / "attributes.csv") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ layouts
def test_rgbn300_rgbnt100_packed_files(synth_root):
    for layout, n_mod in (("rgbn300", 2), ("rgbnt100", 3)):
        root = synth_root(layout)
        h, w = resolve_params(layout, "smoke", 0, {})["size"]
        counts = {}
        for split, folder in (("train", "bounding_box_train"), ("query", "query"), ("gallery", "bounding_box_test")):
            files = sorted((root / "rgbir" / folder).glob("*.jpg"))
            counts[split] = len(files)
            for f in files:
                pid, cam = map(int, re.search(r"([-\d]+)_c([-\d]+)", f.name).groups())
                assert 1 <= cam <= 8 and pid >= 1
            im = Image.open(files[0])
            assert im.size == (n_mod * w, h) and im.mode == "RGB"
        assert counts == {"train": SMOKE["train_images"], "query": SMOKE["query_images"], "gallery": SMOKE["gallery_images"]}
        # NIR / TIR pieces are grey stored in 3 channels
        arr = np.asarray(Image.open(files[0]), dtype=float)
        for k in range(1, n_mod):
            piece = arr[:, k * w : (k + 1) * w]
            assert np.abs(piece[..., 0] - piece[..., 1]).mean() < 3.0


def test_msvr310_wmveid863_slices(synth_root):
    root = synth_root("msvr310")
    names = {p.relative_to(root).parts[-1] for p in root.glob("*/*/vis/*.jpg")}
    assert {p.parts[0] for p in (x.relative_to(root) for x in root.glob("*/*/vis/*.jpg"))} == {"bounding_box_train", "query3", "bounding_box_test"}
    for p in root.glob("*/*/vis/*.jpg"):
        n = p.name
        assert n[0:4] == p.parent.parent.name and n[6:9].isdigit() and 0 <= int(n[11]) <= 7
        for folder in ("ni", "th"):  # aligned triple: the same name in every modality folder
            assert (p.parent.parent / folder / n).exists()
    assert len(names) > 0
    root = synth_root("wmveid863")
    files = list(root.glob("*/*/vis/*.jpg"))
    assert {f.relative_to(root).parts[0] for f in files} == {"train", "query", "test"}
    for p in files:
        n = p.name
        assert 1 <= int(n[1]) <= 8 and n[7:10].isdigit() and re.search(r"n(\d)", n)
        assert int(re.search(r"v(\d)", n).group(1)) == int(n[1])
    night = [r for r in _attrs(root) if "_n1_" in r["file"]]
    assert night and all(r["daynight"] == "night" for r in night)


def test_ucmveid_unaligned_with_labels(synth_root):
    root = synth_root("ucmveid")
    rgb = list(root.glob("train/rgb/*.jpg"))
    ir = list(root.glob("train/ir/*.jpg"))
    assert len(ir) < len(rgb)  # unequal counts, as in the real data
    pat = re.compile(r"^(\d+)_v(\d+)_o([0-7])_(\d+)\.jpg$")
    assert all(pat.match(p.name) for p in rgb + ir)
    with open(root / "labels.csv") as fh:
        labels = {r["file"]: r for r in csv.DictReader(fh)}
    for p in rgb + ir:
        row = labels[str(p.relative_to(root))]
        assert int(row["orientation"]) == int(pat.match(p.name).group(3))
    assert (Path(__file__).parents[1] / "reidlab/data/synth/UCMVEID_LAYOUT.md").exists()


def test_hoss_tifs_and_subsets(synth_root):
    root = synth_root("hoss")
    pat = re.compile(r"^(\d{4})_s(\d{2})c(\d)_(RGB|SAR)\.tif$")
    files = list((root / "HOSS").rglob("*.tif"))
    assert files and all(pat.match(f.name) for f in files)
    opt = tifffile.imread(next(f for f in files if f.name.endswith("RGB.tif")))
    sar = tifffile.imread(next(f for f in files if f.name.endswith("SAR.tif")))
    assert opt.dtype == np.uint8 and opt.ndim == 3 and opt.shape[2] == 3
    assert sar.dtype == np.float32 and sar.ndim == 2 and sar.shape != opt.shape[:2]
    assert len(list((root / "HOSS/query").glob("*.tif"))) == SMOKE["num_test_ids"]  # one query per ID
    for sub, q, g in (("O2S", "RGB", "SAR"), ("S2O", "SAR", "RGB")):
        qf = list((root / f"HOSS/subset/{sub}/query").glob("*.tif"))
        gf = list((root / f"HOSS/subset/{sub}/bounding_box_test").glob("*.tif"))
        assert qf and gf and all(f.name.endswith(f"{q}.tif") for f in qf) and all(f.name.endswith(f"{g}.tif") for f in gf)
        assert {f.name[:4] for f in qf} <= {f.name[:4] for f in gf}  # every query has a cross-modal match


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sidecars_and_loader(synth_root, layout):
    root = synth_root(layout)
    meta = json.loads((root / "reidlab_synth.json").read_text())
    assert meta["layout"] == layout and meta["seed"] == 0 and len(meta["params_hash"]) == 12
    rows = _attrs(root)
    assert rows and all((root / r["file"]).is_file() for r in rows)
    assert {r["challenge"] for r in rows} <= {"normal", "low_light", "night", "glare", "shadow", "occlusion", "cloud", "glint"}
    from reidlab.data import load_dataset

    data = load_dataset(layout, root)
    assert len(data.train) > 0 and len(data.query) > 0 and len(data.gallery) > 0
    assert "challenge" in data.query[0].attrs
    # Market-style split: every query identity has a gallery image from another camera
    gal = {(r.pid, r.camid) for r in data.gallery}
    for q in data.query:
        assert any(p == q.pid and c != q.camid for p, c in gal) or not data.aligned


# ------------------------------------------------------------------ determinism and caching
def test_same_seed_byte_identical(tmp_path):
    for layout in ("rgbnt100", "hoss"):
        kw = dict(num_train_ids=3, num_test_ids=3, train_images=6, query_images=3, gallery_images=6)
        a = _files(generate(layout, tmp_path / f"a_{layout}", seed=5, **kw))
        b = _files(generate(layout, tmp_path / f"b_{layout}", seed=5, **kw))
        c = _files(generate(layout, tmp_path / f"c_{layout}", seed=6, **kw))
        assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
        imgs = [k for k in a if k.endswith((".jpg", ".tif"))]
        assert imgs and sum(a[k] != c.get(k) for k in imgs) > len(imgs) // 2


def test_ensure_synthetic_reuses_and_keys_on_params(tmp_path):
    kw = dict(num_train_ids=2, num_test_ids=2, train_images=2, query_images=2, gallery_images=4)
    r1 = ensure_synthetic("rgbn300", cache_dir=tmp_path, **kw)
    stamp = (r1 / "reidlab_synth.json").stat().st_mtime_ns
    assert ensure_synthetic("rgbn300", cache_dir=tmp_path, **kw) == r1
    assert (r1 / "reidlab_synth.json").stat().st_mtime_ns == stamp
    r2 = ensure_synthetic("rgbn300", cache_dir=tmp_path, gap=0.5, **kw)
    assert r2 != r1 and r2.name.startswith("rgbn300-smoke-s0-")


def test_bad_knobs_raise(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic layout"):
        generate("market", tmp_path / "x")
    with pytest.raises(ValueError, match="unknown synthetic knob"):
        generate("rgbn300", tmp_path / "y", colour_count=3)
    with pytest.raises(ValueError, match="gap"):
        generate("rgbn300", tmp_path / "z", gap=1.5)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "other.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        generate("rgbn300", tmp_path / "full")


# ------------------------------------------------------------------ properties
def test_identities_fine_grained_and_nir_partly_predictable_from_pigment():
    ids = [sample_vehicle(0, pid) for pid in range(1, 301)]
    combos = {(v.type, v.colour) for v in ids}
    assert len(combos) < 150  # many IDs share type and colour
    colour = np.array([v.colour for v in ids])
    lum = np.array([np.dot(COLOURS[v.colour], [0.299, 0.587, 0.114]) for v in ids])
    nir = np.array([v.nir_paint for v in ids])
    # partly predictable: carbon-black paints are darker in NIR than white ones ...
    assert nir[colour == "black"].mean() < nir[colour == "white"].mean() - 0.15
    # ... but NIR is not a function of colour: the colour class explains well under all of its variance
    means = {c: nir[colour == c].mean() for c in set(colour)}
    resid = nir - np.array([means[c] for c in colour])
    assert (resid**2).sum() / ((nir - nir.mean()) ** 2).sum() > 0.3
    assert min(nir[colour == c].std() for c in ("white", "black", "silver")) > 0.07
    # with the knob at 0 NIR is independent of colour (generator version 1)
    nir0 = np.array([sample_vehicle(0, pid, nir_paint_predictability=0.0).nir_paint for pid in range(1, 301)])
    assert abs(np.corrcoef(lum, nir0)[0, 1]) < 0.2  # colour cannot be read back from NIR
    with pytest.raises(ValueError, match="nir_paint_predictability"):
        sample_vehicle(0, 1, nir_paint_predictability=1.0)


def test_average_precision_hand_computed():
    # matches at ranks 1 and 3 -> AP = (1/1 + 2/3) / 2
    assert average_precision(np.array([0.1, 0.2, 0.3, 0.4]), np.array([True, False, True, False])) == pytest.approx(5 / 6)
    assert np.isnan(average_precision(np.array([0.1]), np.array([False])))


_PROP = GAP_CHECK_OVERRIDES


def test_modality_gap_and_night(tmp_path):
    rep = descriptor_retrieval_report(generate("rgbnt100", tmp_path / "d", **_PROP), "rgbnt100")
    p = rep["pairs"]
    chance = p["rgb->rgb"]["chance_mAP"]
    assert p["rgb->rgb"]["n_skipped"] == 0
    assert p["rgb->rgb"]["mAP"] > 2.0 * chance  # same-modal: far above chance ...
    assert p["rgb->rgb"]["mAP"] < 0.6  # ... and far below perfect
    for cross in ("rgb->nir", "rgb->tir", "nir->rgb"):
        assert p[cross]["mAP"] < 0.65 * p["rgb->rgb"]["mAP"]  # the gap is real
        assert p[cross]["mAP"] < 1.5 * chance  # near chance with an untrained descriptor
    dn = rep["by_daynight"]
    rgb_drop = dn["rgb->rgb"]["day"] - dn["rgb->rgb"]["night"]
    assert rgb_drop > 0.05
    assert rgb_drop > dn["nir->nir"]["day"] - dn["nir->nir"]["night"] + 0.05  # active IR reads at night
    assert rgb_drop > dn["tir->tir"]["day"] - dn["tir->tir"]["night"] + 0.05


def test_gap_zero_makes_cross_modal_as_easy(tmp_path):
    rep = descriptor_retrieval_report(generate("rgbn300", tmp_path / "d", gap=0.0, **_PROP), "rgbn300")
    p = rep["pairs"]
    assert p["rgb->nir"]["mAP"] == pytest.approx(p["rgb->rgb"]["mAP"], abs=0.02)
    assert p["rgb->rgb"]["mAP"] > 2.0 * p["rgb->rgb"]["chance_mAP"]


def test_tir_is_blurrier_than_nir(synth_root):
    root = synth_root("rgbnt100")
    h, w = resolve_params("rgbnt100", "smoke", 0, {})["size"]
    def hf(a):  # mean absolute horizontal gradient: fine detail
        return np.abs(np.diff(a, axis=1)).mean()
    nir_hf, tir_hf = [], []
    for f in sorted((root / "rgbir/bounding_box_train").glob("*.jpg"))[:30]:
        a = np.asarray(Image.open(f), dtype=float)[..., 0]
        nir_hf.append(hf(a[:, w : 2 * w]) / (a[:, w : 2 * w].std() + 1e-6))
        tir_hf.append(hf(a[:, 2 * w :]) / (a[:, 2 * w :].std() + 1e-6))
    assert np.mean(tir_hf) < 0.7 * np.mean(nir_hf)
