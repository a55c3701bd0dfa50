"""Write the HOSS ReID layout (optical / SAR ships, unaligned).

``root/HOSS/{bounding_box_train,query,bounding_box_test}/{pid:04d}_s{seq:02d}c{k}_{RGB|SAR}.tif``:
``seq`` = the identity's pass number (1-based), ``k`` = the satellite (1-8; used as camid),
suffix = modality. Each pass is one sensor, so modalities alternate between an identity's
passes; every test identity's gallery holds at least one optical and one SAR image.
``query`` holds one image per query identity (random modality, All->All).
Cross-modal subsets (copies): ``subset/O2S/query`` = one optical image per query identity,
``subset/O2S/bounding_box_test`` = the SAR gallery images; ``S2O`` the other way round.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tifffile
from tqdm.auto import tqdm

from reidlab.data.synth.identity import sample_ship
from reidlab.data.synth.plan import plan_all
from reidlab.data.synth.render_ship import render_optical, render_sar

_DIRS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}


def _modality(seed: int, pid: int, split: str, track: int) -> str:
    """Optical or SAR for one pass: alternating per identity from a random start."""
    start = int(np.random.default_rng([seed, 35, pid]).integers(0, 2))
    if split == "query":
        return "rgb" if np.random.default_rng([seed, 36, pid, track]).random() < 0.5 else "sar"
    return "rgb" if (start + track) % 2 == 0 else "sar"


def write_hoss(p: dict[str, Any], root: Path, attr_row: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """Render and write every capture; return the attributes.csv rows."""
    q = dict(p, frames_per_track=1)  # one image per pass: (pid, seq) names a file
    caps = plan_all(q, kind="ship")
    rows = []
    written: dict[tuple[int, str, str], list[str]] = {}  # (pid, split, mod) -> relative paths
    ident = None
    for cap in tqdm(caps, desc="synth hoss", unit="img", leave=False):
        if ident is None or ident.pid != cap.pid:
            ident = sample_ship(p["seed"], cap.pid)
        mod = _modality(p["seed"], cap.pid, cap.split, cap.track)
        name = f"{cap.pid:04d}_s{cap.track + 1:02d}c{cap.cam + 1}_{'RGB' if mod == 'rgb' else 'SAR'}.tif"
        rel = f"HOSS/{_DIRS[cap.split]}/{name}"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if mod == "rgb":
            img = render_optical(ident, cap, tuple(p["size"]), seed=p["seed"])
            tifffile.imwrite(path, np.clip(np.round(img * 255), 0, 255).astype(np.uint8), photometric="rgb")
        else:
            img = render_sar(ident, cap, tuple(p["sar_size"]), seed=p["seed"], gap=float(p["gap"]))
            tifffile.imwrite(path, img, photometric="minisblack")
        written.setdefault((cap.pid, cap.split, mod), []).append(rel)
        row = attr_row(rel, cap, cap.cam + 1, mod, ident)
        row["daynight"] = "day"
        rows.append(row)
    by_file = {r["file"]: r for r in rows}
    qids = sorted({c.pid for c in caps if c.split == "query"})
    test_ids = sorted({c.pid for c in caps if c.split == "gallery"})
    for sub, qmod, gmod in (("O2S", "rgb", "sar"), ("S2O", "sar", "rgb")):
        for pid in qids:
            pool = written.get((pid, "query", qmod), []) + written.get((pid, "gallery", qmod), [])
            rows.append(_copy(root, pool[0], f"HOSS/subset/{sub}/query", by_file, f"subset/{sub}/query"))
        for pid in test_ids:
            for rel in written.get((pid, "gallery", gmod), []):
                rows.append(_copy(root, rel, f"HOSS/subset/{sub}/bounding_box_test", by_file, f"subset/{sub}/gallery"))
    return rows


def _copy(root: Path, rel: str, folder: str, by_file: dict[str, dict], split: str) -> dict[str, Any]:
    dst = f"{folder}/{Path(rel).name}"
    (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / rel, root / dst)
    return dict(by_file[rel], file=dst, split=split)
