"""Write a synthetic dataset in one of the six native layouts.

Layouts (``root`` = the returned path, the one to give ``load_dataset(layout, root)``):

- ``rgbn300``: ``root/rgbir/{bounding_box_train,query,bounding_box_test}/{pid:04d}_c{cam:04d}_{idx:03d}.jpg``,
  cam 1-8; each file is RGB | NIR side by side, each modality ``(H, W)`` (real size 128 x 256,
  i.e. files 512 wide x 128 high). Loaders split a file into equal-width pieces, in the order
  RGB, NIR, TIR. NIR is stored as 3-channel grey.
- ``rgbnt100``: same folders and names; RGB | NIR | TIR (real files 768 x 128).
- ``msvr310``: ``root/{bounding_box_train,query3,bounding_box_test}/{pid:04d}/{vis,ni,th}/NAME``
  with NAME = ``{pid:04d}_s{scene:03d}_v{cam}_{idx:03d}.jpg``: vid = name[0:4],
  scene = name[6:9], cam = name[11] (0-7). The same NAME in vis/ni/th is one aligned triple.
- ``wmveid863``: ``root/{train,query,test}/{pid:04d}/{vis,ni,th}/NAME`` with
  NAME = ``v{cam}_n{night}_s{scene:03d}_{pid:04d}_{idx:03d}.jpg``: cam = name[1] (1-8, the ``v\\d``),
  day/night = ``n0``/``n1``, scene = name[7:10].
- ``ucmveid``: defined by reidlab (the public layout is unknown), see ``UCMVEID_LAYOUT.md``:
  ``root/{train,query,gallery}/{rgb,ir}/{pid:04d}_v{video:02d}_o{orientation}_{idx:04d}.jpg`` plus
  ``root/labels.csv``; RGB and IR (thermal) captures are independent (unaligned, unequal counts).
- ``hoss``: ``root/HOSS/{bounding_box_train,query,bounding_box_test}/{pid:04d}_s{seq:02d}c{k}_{RGB|SAR}.tif``
  and ``root/HOSS/subset/{O2S,S2O}/{query,bounding_box_test}/`` (copies): optical = 8-bit RGB tif,
  SAR = float32 single-channel tif (linear intensity), unaligned, unequal counts.

Every root also gets ``attributes.csv`` (``file`` relative to root, then ``split, pid, camid,
scene, modalities, capture, challenge, daynight, orientation, yaw, elevation, type, colour,
heat``) and ``reidlab_synth.json`` (all parameters + ``params_hash``; written last, so its
presence means the dataset is complete).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from reidlab.data.synth.capture import Capture
from reidlab.data.synth.identity import sample_vehicle
from reidlab.data.synth.plan import plan_all
from reidlab.data.synth.presets import params_hash, resolve_params
from reidlab.data.synth.render_vehicle import render_vehicle

ATTR_COLUMNS = (
    "file", "split", "pid", "camid", "scene", "modalities", "capture", "challenge", "daynight",
    "orientation", "yaw", "elevation", "type", "colour", "heat",
)
META_NAME = "reidlab_synth.json"
_SPLIT_DIRS = {
    "rgbn300": {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"},
    "msvr310": {"train": "bounding_box_train", "query": "query3", "gallery": "bounding_box_test"},
    "wmveid863": {"train": "train", "query": "query", "gallery": "test"},
    "ucmveid": {"train": "train", "query": "query", "gallery": "gallery"},
    "hoss": {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"},
}
_SPLIT_DIRS["rgbnt100"] = _SPLIT_DIRS["rgbn300"]


def generate(layout: str, out_dir: str | Path, preset: str = "smoke", seed: int = 0, **overrides: Any) -> Path:
    """Generate the synthetic dataset ``layout`` under ``out_dir`` and return its root.

    Args:
        layout: one of ``LAYOUTS`` (``rgbn300 rgbnt100 msvr310 wmveid863 ucmveid hoss``).
        out_dir: folder to write (created; must be empty or hold the same generation).
        preset: ``smoke`` | ``demo`` | ``paper`` (see ``PRESETS``).
        seed: everything (identities, captures, noise) follows from it; same seed and
            parameters -> byte-identical files.
        **overrides: knobs of ``presets.resolve_params`` (``gap``, ``size``, ``num_train_ids`` ...).

    Returns:
        The dataset root (== ``out_dir``): give it to ``reidlab.data.load_dataset(layout, root)``.
    """
    p = resolve_params(layout, preset, seed, overrides)
    p["params_hash"] = params_hash(p)
    root = Path(out_dir)
    meta = root / META_NAME
    if meta.exists():
        old = json.loads(meta.read_text())
        if old.get("params_hash") == p["params_hash"]:
            return root
        raise ValueError(f"{root} already holds another synthetic dataset ({meta}); use an empty folder")
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty; generate into an empty or new folder")
    root.mkdir(parents=True, exist_ok=True)
    rows = _WRITERS[layout](p, root)
    with open(root / "attributes.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=ATTR_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    meta.write_text(json.dumps(p, sort_keys=True, indent=1) + "\n")
    return root


# ----------------------------------------------------------------- helpers
def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)


def _save_jpg(arr: np.ndarray, path: Path, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_u8(arr)).save(path, format="JPEG", quality=int(quality))


def _attr_row(rel: str, cap: Capture, camid: int, mods: str, ident: Any) -> dict[str, Any]:
    return dict(
        file=rel,
        split=cap.split,
        pid=cap.pid,
        camid=camid,
        scene=cap.scene,
        modalities=mods,
        capture=f"{cap.pid}-{cap.key[2]}-{cap.key[-1]}",
        challenge=cap.challenge,
        daynight=cap.daynight,
        orientation=cap.orientation,
        yaw=f"{cap.yaw:.1f}",
        elevation=f"{cap.elevation:.1f}",
        type=ident.type,
        colour=ident.colour,
        heat=f"{cap.heat * getattr(ident, 'heat', 1.0):.3f}",
    )


def _index_in_id(caps: list[Capture]) -> dict[int, int]:
    """Position of each capture among its identity's captures (the per-ID file counter)."""
    seen: dict[int, int] = {}
    out = {}
    for i, c in enumerate(caps):
        out[i] = seen.get(c.pid, 0)
        seen[c.pid] = out[i] + 1
    return out


def _vehicle_tuples(p: dict[str, Any], kind: str = "street", stream: int = 0, scale: float = 1.0, desc: str = ""):
    """Yield (capture, per-ID index, identity, {mod: (H,W,3) float}) for every planned capture."""
    caps = plan_all(p, stream=stream, kind=kind, scale=scale)
    idx = _index_in_id(caps)
    size = tuple(p["size"])
    cache: dict[int, Any] = {}
    for i, cap in enumerate(tqdm(caps, desc=desc or f"synth {p['layout']}", unit="img", leave=False)):
        if cap.pid not in cache:
            cache = {cap.pid: sample_vehicle(p["seed"], cap.pid, detail_ids=bool(p["detail_ids"]),
                                             nir_paint_predictability=float(p["nir_paint_predictability"]),
                                             detail_scale=float(p["detail_scale"]))}
        ident = cache[cap.pid]
        yield cap, idx[i], ident, render_vehicle(ident, cap, size, seed=p["seed"], gap=float(p["gap"]))


# ----------------------------------------------------------------- writers
def _write_packed(p: dict[str, Any], root: Path, mods: tuple[str, ...]) -> list[dict[str, Any]]:
    dirs = _SPLIT_DIRS[p["layout"]]
    rows = []
    for cap, k, ident, imgs in _vehicle_tuples(p):
        name = f"{cap.pid:04d}_c{cap.cam + 1:04d}_{k:03d}.jpg"
        rel = f"rgbir/{dirs[cap.split]}/{name}"
        _save_jpg(np.concatenate([imgs[m] for m in mods], axis=1), root / rel, p["jpeg_quality"])
        rows.append(_attr_row(rel, cap, cap.cam + 1, "+".join(mods), ident))
    return rows


def _write_rgbn300(p: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    return _write_packed(p, root, ("rgb", "nir"))


def _write_rgbnt100(p: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    return _write_packed(p, root, ("rgb", "nir", "tir"))


_FOLDER = {"rgb": "vis", "nir": "ni", "tir": "th"}


def _write_msvr310(p: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    dirs = _SPLIT_DIRS["msvr310"]
    rows = []
    for cap, k, ident, imgs in _vehicle_tuples(p):
        name = f"{cap.pid:04d}_s{cap.scene:03d}_v{cap.cam}_{k:03d}.jpg"
        for m, folder in _FOLDER.items():
            rel = f"{dirs[cap.split]}/{cap.pid:04d}/{folder}/{name}"
            _save_jpg(imgs[m], root / rel, p["jpeg_quality"])
            rows.append(_attr_row(rel, cap, cap.cam, m, ident))
    return rows


def _write_wmveid863(p: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    dirs = _SPLIT_DIRS["wmveid863"]
    rows = []
    for cap, k, ident, imgs in _vehicle_tuples(p):
        night = int(cap.daynight == "night")
        name = f"v{cap.cam + 1}_n{night}_s{cap.scene:03d}_{cap.pid:04d}_{k:03d}.jpg"
        for m, folder in _FOLDER.items():
            rel = f"{dirs[cap.split]}/{cap.pid:04d}/{folder}/{name}"
            _save_jpg(imgs[m], root / rel, p["jpeg_quality"])
            rows.append(_attr_row(rel, cap, cap.cam + 1, m, ident))
    return rows


def _write_ucmveid(p: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    dirs = _SPLIT_DIRS["ucmveid"]
    rows: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    # RGB and IR are independent capture sets (stream 0 / 1): unaligned, unequal counts
    for stream, (mod, folder) in enumerate((("rgb", "rgb"), ("tir", "ir"))):
        scale = 1.0 if mod == "rgb" else float(p["ir_ratio"])
        for cap, k, ident, imgs in _vehicle_tuples(p, kind="uav", stream=stream, scale=scale, desc=f"synth ucmveid {folder}"):
            name = f"{cap.pid:04d}_v{cap.cam + 1:02d}_o{cap.orientation}_{k:04d}.jpg"
            split_dir = "test" if p.get("test_split") == "by_modality" and cap.split != "train" else dirs[cap.split]
            rel = f"{split_dir}/{folder}/{name}"
            _save_jpg(imgs[mod], root / rel, p["jpeg_quality"])
            rows.append(dict(_attr_row(rel, cap, cap.cam + 1, mod, ident), split=split_dir))
            labels.append(dict(file=rel, pid=cap.pid, video=cap.cam + 1, orientation=cap.orientation, type=ident.type, colour=ident.colour))
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "pid", "video", "orientation", "type", "colour"], lineterminator="\n")
        w.writeheader()
        w.writerows(labels)
    return rows


def _write_hoss(p: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    from reidlab.data.synth.hoss import write_hoss

    return write_hoss(p, root, _attr_row)


_WRITERS: dict[str, Callable[[dict[str, Any], Path], list[dict[str, Any]]]] = {
    "rgbn300": _write_rgbn300,
    "rgbnt100": _write_rgbnt100,
    "msvr310": _write_msvr310,
    "wmveid863": _write_wmveid863,
    "ucmveid": _write_ucmveid,
    "hoss": _write_hoss,
}
