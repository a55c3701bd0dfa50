"""Write the public pre-training pair layout (``OptiSar_Pair/``) with synthetic optical / SAR ship chips.

``root/OptiSar_Pair/{n:04d}/pair_{pid}_RGB.png`` and ``pair_{pid}_SAR.tif``: one location (one
ship, one sea scene, one heading) seen by both sensors; optical = 8-bit RGB PNG, SAR = float32
single-channel TIFF (linear intensity, as the HOSS SAR chips). ``pid`` starts at ``pid_offset``
(100000), far above any synthetic HOSS identity, and the ships are drawn from their own seed
stream, so no pre-training location is a HOSS identity. The public loader reads the location id
as ``name.split("_")[1]`` and the modality from the last ``_`` field; these names follow it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from reidlab.data.synth.capture import Capture
from reidlab.data.synth.identity import sample_ship
from reidlab.data.synth.render_ship import render_optical, render_sar

PAIR_DIR = "OptiSar_Pair"
_META = "reidlab_pairs.json"


def write_optisar_pairs(out_dir: str | Path, n_pairs: int = 64, *, seed: int = 0, size: tuple[int, int] = (64, 64),
                        sar_size: tuple[int, int] = (40, 40), gap: float = 1.0, pid_offset: int = 100000,
                        num_scenes: int = 12) -> Path:
    """Write ``n_pairs`` optical/SAR pairs under ``out_dir/OptiSar_Pair`` and return ``out_dir``.

    Same arguments -> identical files; a folder holding the same generation (``reidlab_pairs.json``)
    is reused. ``size`` / ``sar_size`` (H, W) in pixels; ``gap`` as the HOSS generator's.
    """
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be >= 2, got {n_pairs}")
    root = Path(out_dir)
    params = {"n_pairs": int(n_pairs), "seed": int(seed), "size": list(size), "sar_size": list(sar_size),
              "gap": float(gap), "pid_offset": int(pid_offset), "num_scenes": int(num_scenes), "version": 1}
    meta = root / _META
    if meta.exists() and json.loads(meta.read_text()) == params:
        return root
    ship_seed = int(np.random.default_rng([seed, 91]).integers(0, 2**31))  # not the HOSS ships' stream
    for i in range(n_pairs):
        pid = pid_offset + i
        rng = np.random.default_rng([seed, 92, pid])
        cap = Capture(pid=pid, split="train", cam=0, scene=int(rng.integers(0, num_scenes)), track=0, frame=0,
                      yaw=float(rng.uniform(0, 360)), elevation=float(rng.uniform(25, 50)), challenge="none",
                      heat=0.0, key=(int(seed), 93, pid))
        ship = sample_ship(ship_seed, pid)
        d = root / PAIR_DIR / f"{i + 1:04d}"
        d.mkdir(parents=True, exist_ok=True)
        opt = render_optical(ship, cap, tuple(size), seed=seed)
        Image.fromarray(np.clip(np.round(opt * 255), 0, 255).astype(np.uint8), mode="RGB").save(d / f"pair_{pid}_RGB.png")
        tifffile.imwrite(d / f"pair_{pid}_SAR.tif", render_sar(ship, cap, tuple(sar_size), seed=seed, gap=gap),
                         photometric="minisblack")
    meta.write_text(json.dumps(params))
    return root
