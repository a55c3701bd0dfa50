"""Tiny hand-made dataset trees (PIL / tifffile) shared by the tests/test_data_*.py modules.

Each builder writes a few images in one native layout and returns the root. The panel colours
differ per modality so crop boxes can be checked: rgb = red, nir = green, tir = blue.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"rgb": (200, 30, 30), "nir": (30, 200, 30), "tir": (30, 30, 200)}
PW, PH = 16, 8  # one modality panel: width, height in pixels


def save_sbs(path: Path, mods: tuple[str, ...], width: int | None = None) -> None:
    """A side-by-side file: one PWxPH panel per modality (or a file of ``width`` pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w = width if width is not None else PW * len(mods)
    arr = np.zeros((PH, w, 3), np.uint8)
    for k, m in enumerate(mods):
        arr[:, k * PW:(k + 1) * PW] = COLOURS[m]
    Image.fromarray(arr).save(path, quality=95)


def save_plain(path: Path, colour: tuple[int, int, int] = (100, 100, 100), size=(PW, PH)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def make_sidebyside(root: Path, mods=("rgb", "nir"), *, nested: bool = True) -> Path:
    """RGBN300/RGBNT100 tree: 3 train IDs x 2 cams, query 2 IDs, gallery 2 IDs x 2 cams."""
    base = root / "rgbir" if nested else root
    for pid in (1, 2, 3):
        for cam in (1, 2):
            save_sbs(base / "bounding_box_train" / f"{pid:04d}_c{cam:04d}_000.jpg", mods)
    for pid in (4, 5):
        save_sbs(base / "query" / f"{pid:04d}_c0003_000.jpg", mods)
        for cam in (1, 8):
            save_sbs(base / "bounding_box_test" / f"{pid:04d}_c{cam:04d}_001.jpg", mods)
    return root


def make_vidfolders(root: Path, splits: dict[str, str], name_fn) -> Path:
    """MSVR310 / WMVeID863 tree; ``splits`` maps split -> folder; ``name_fn(pid, cam, k)`` -> name."""
    plan = {"train": ((1, 2), (0, 1)), "query": ((4,), (2,)), "gallery": ((4, 5), (3, 4))}
    for split, folder in splits.items():
        pids, cams = plan[split]
        for pid in pids:
            for k, cam in enumerate(cams):
                name = name_fn(pid, cam, k)
                for sub, m in (("vis", "rgb"), ("ni", "nir"), ("th", "tir")):
                    save_plain(root / folder / f"{pid:04d}" / sub / name, COLOURS[m])
    return root


def make_msvr310(root: Path, porsche: bool = False) -> Path:
    folders = ({"train": "train", "query": "query3", "gallery": "test"} if porsche else
               {"train": "bounding_box_train", "query": "query3", "gallery": "bounding_box_test"})
    return make_vidfolders(root, folders, lambda pid, cam, k: f"{pid:04d}_s{10 + k:03d}_v{cam}_{k:04d}.jpg")


def make_wmveid863(root: Path) -> Path:
    return make_vidfolders(root, {"train": "train", "query": "query", "gallery": "test"},
                           lambda pid, cam, k: f"v{cam + 1}_n{k % 2}_s{20 + k:03d}_{pid:04d}.jpg")


def save_tif(path: Path, mod: str) -> None:
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    if mod == "sar":  # 32-bit float amplitudes, as in HOSS
        arr = np.linspace(0.0, 4.0, PH * PW, dtype=np.float32).reshape(PH, PW)
    else:
        arr = np.full((PH, PW, 3), 120, np.uint8)
    tifffile.imwrite(path, arr)


def make_hoss(root: Path, subsets: bool = True) -> Path:
    base = root / "HOSS"
    for pid in (1, 2):
        save_tif(base / "bounding_box_train" / f"{pid:04d}_s01c1_RGB.tif", "rgb")
        save_tif(base / "bounding_box_train" / f"{pid:04d}_s02c2_SAR.tif", "sar")
    save_tif(base / "query" / "0003_s01c1_RGB.tif", "rgb")
    save_tif(base / "bounding_box_test" / "0003_s02c2_SAR.tif", "sar")
    save_tif(base / "bounding_box_test" / "0003_s03c3_RGB.tif", "rgb")
    if subsets:
        save_tif(base / "subset" / "O2S" / "query" / "0003_s01c1_RGB.tif", "rgb")
        save_tif(base / "subset" / "O2S" / "bounding_box_test" / "0003_s02c2_SAR.tif", "sar")
        save_tif(base / "subset" / "S2O" / "query" / "0003_s02c2_SAR.tif", "sar")
        save_tif(base / "subset" / "S2O" / "bounding_box_test" / "0003_s03c3_RGB.tif", "rgb")
    return root


def make_ucmveid(root: Path) -> Path:
    """UCM-VeID tree (UCMVEID_LAYOUT.md): per split rgb/ (2 per ID) and ir/ (1 per ID) + labels.csv."""
    rows = ["file,pid,video,orientation,type,colour"]
    for split, pids in (("train", (1, 2)), ("query", (3,)), ("gallery", (3, 4))):
        for pid in pids:
            for sub, video, o, k in (("rgb", 1, 0, 0), ("rgb", 2, 5, 1), ("ir", 3, 2, 0)):
                rel = f"{split}/{sub}/{pid:04d}_v{video:02d}_o{o}_{k:04d}.jpg"
                save_plain(root / rel, COLOURS["rgb" if sub == "rgb" else "tir"])
                rows.append(f"{rel},{pid},{video},{o},suv,white")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def write_manifest(root: Path, rows: list[str], header: str = "split,pid,camid,modality,path,tuple,colour") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_fixture_panels_have_distinct_colours(tmp_path):
    save_sbs(tmp_path / "a.jpg", ("rgb", "nir", "tir"))
    with Image.open(tmp_path / "a.jpg") as im:
        assert im.size == (3 * PW, PH)
        px = [im.getpixel((k * PW + PW // 2, PH // 2)) for k in range(3)]
    assert px[0][0] > 150 and px[1][1] > 150 and px[2][2] > 150
