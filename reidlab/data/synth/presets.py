"""Generation knobs: presets (``smoke``, ``demo``, ``paper``) and their resolution into parameters.

Counts are totals per split (images = captures; an aligned capture is one tuple):
``num_train_ids``, ``num_test_ids``, ``num_query_ids`` (test IDs that get queries; default all),
``train_images``, ``query_images``, ``gallery_images``; ``frames_per_track`` consecutive frames
per (camera, scene) pass; ``size`` = ``(H, W)`` per modality image in pixels (``sar_size`` for
HOSS SAR); ``gap`` in [0, 1] (0: the other modalities are copies of RGB); ``challenge_mix``
(probabilities of ``normal, low_light, night, glare, shadow, occlusion``); ``ir_ratio`` (UCM-VeID:
IR images per RGB image); ``test_split`` (UCM-VeID only: ``query_gallery``, the default, writes
``query/`` and ``gallery/`` folders; ``by_modality`` writes the paper's ``test/`` folder, which the
protocols divide by modality); ``jpeg_quality``;
``detail_ids`` (per-ID geometry and NIR-visible details that
show in every spectrum, see ``identity``) and ``nir_paint_predictability`` in [0, 1) (weight of the
pigment in the paint's NIR reflectance; 0 = independent of colour); ``detail_scale`` >= 0 (spread of the
per-ID detail geometry, 1 = version 2).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from reidlab.data.synth.capture import CHALLENGES, DEFAULT_CHALLENGE_MIX

LAYOUTS: tuple[str, ...] = ("rgbn300", "rgbnt100", "msvr310", "wmveid863", "ucmveid", "hoss")
GENERATOR_VERSION = "2"  # 2: per-ID cross-modal details, pigment-dependent NIR paint

# real per-modality image size (H, W) at the paper preset; smoke = 1/4, demo = 1/2
_REAL_SIZE: dict[str, tuple[int, int]] = {
    "rgbn300": (128, 256),  # files are 512x128 (W x H): RGB | NIR, 256 wide each
    "rgbnt100": (128, 256),  # files are 768x128: RGB | NIR | TIR
    "msvr310": (128, 256),
    "wmveid863": (128, 256),
    "ucmveid": (180, 256),
    "hoss": (256, 256),
}
_REAL_SAR_SIZE = (160, 160)  # another ground resolution than the optical chips

_COMMON: dict[str, Any] = dict(
    gap=1.0,
    challenge_mix=DEFAULT_CHALLENGE_MIX,
    num_cams=8,
    num_scenes=12,
    jpeg_quality=92,
    ir_ratio=13913 / 16015,
    detail_ids=True,
    nir_paint_predictability=0.5,
    detail_scale=1.0,
)

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        _COMMON,
        scale=0.25,
        num_train_ids=12,
        num_test_ids=8,
        train_images=96,
        query_images=16,
        gallery_images=48,
        frames_per_track=2,
        num_scenes=6,
    ),
    "demo": dict(
        _COMMON,
        scale=0.5,
        num_train_ids=100,  # version 2: more IDs, fewer images each (8), same 800 images as before
        num_test_ids=40,
        train_images=800,
        query_images=160,
        gallery_images=640,
        frames_per_track=3,
    ),
    "paper": dict(_COMMON, scale=1.0, frames_per_track=8, num_scenes=40),
}

# paper preset: the real split sizes (datasets.md); marked values are approximate.
_PAPER_COUNTS: dict[str, dict[str, int]] = {
    "rgbn300": dict(num_train_ids=150, num_test_ids=150, train_images=25200, query_images=4985, gallery_images=24925),
    "rgbnt100": dict(num_train_ids=50, num_test_ids=50, train_images=8675, query_images=1715, gallery_images=8575),
    # MSVR310: 310 IDs, 2,087 triples, query3 = 591 queries of 52 IDs (unverified split)
    "msvr310": dict(num_train_ids=155, num_test_ids=155, num_query_ids=52, train_images=1032, query_images=591, gallery_images=1055),
    # WMVeID863: 863 IDs; the split below is an approximation (unverified)
    "wmveid863": dict(num_train_ids=603, num_test_ids=260, train_images=8600, query_images=1800, gallery_images=4600),
    # UCM-VeID: 602 train / 151 test IDs; 16,015 RGB images (IR = ir_ratio x RGB)
    "ucmveid": dict(num_train_ids=602, num_test_ids=151, train_images=12800, query_images=600, gallery_images=2615),
    # HOSS: train 361 IDs / 1,063; query 176 / 176; gallery 177 / 593
    "hoss": dict(num_train_ids=361, num_test_ids=177, num_query_ids=176, train_images=1063, query_images=176, gallery_images=593),
}


def resolve_params(layout: str, preset: str, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge preset, layout defaults and overrides into the full parameter dict (JSON-able).

    Raises:
        ValueError: unknown layout, preset or knob, or a value out of range.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown synthetic layout {layout!r}; choose one of {LAYOUTS}")
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
    p = dict(PRESETS[preset])
    if preset == "paper":
        p.update(_PAPER_COUNTS[layout])
    scale = float(overrides.get("scale", p["scale"]))
    h, w = _REAL_SIZE[layout]
    p["size"] = [max(8, int(round(h * scale))), max(8, int(round(w * scale)))]
    if layout == "hoss":
        p["sar_size"] = [max(8, int(round(x * scale))) for x in _REAL_SAR_SIZE]
    known = set(p) | {"num_query_ids", "sar_size", "scale"} | ({"test_split"} if layout == "ucmveid" else set())
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown synthetic knob(s) {sorted(unknown)}; known: {sorted(known)}")
    p.update(overrides)
    if layout == "hoss" and "query_images" not in overrides and preset != "paper":
        p["query_images"] = int(p.get("num_query_ids", p["num_test_ids"]))  # HOSS: one query per ID
    p["size"] = [int(x) for x in p["size"]]
    if "sar_size" in p:
        p["sar_size"] = [int(x) for x in p["sar_size"]]
    p.setdefault("num_query_ids", p["num_test_ids"])
    p["challenge_mix"] = {k: float(v) for k, v in dict(p["challenge_mix"]).items()}
    _validate(p)
    p["layout"] = layout
    p["preset"] = preset
    p["seed"] = int(seed)
    p["generator_version"] = GENERATOR_VERSION
    return p


def _validate(p: dict[str, Any]) -> None:
    if p.get("test_split", "query_gallery") not in ("query_gallery", "by_modality"):
        raise ValueError(f"test_split must be 'query_gallery' or 'by_modality', got {p['test_split']!r}")
    if not 0.0 <= float(p["gap"]) <= 1.0:
        raise ValueError(f"gap must be in [0, 1], got {p['gap']}")
    bad = set(p["challenge_mix"]) - set(CHALLENGES)
    if bad or not p["challenge_mix"] or sum(p["challenge_mix"].values()) <= 0:
        raise ValueError(f"challenge_mix must map some of {CHALLENGES} to weights > 0, got {p['challenge_mix']}")
    for k in ("num_train_ids", "num_test_ids", "train_images", "query_images", "gallery_images", "frames_per_track"):
        if int(p[k]) < 1:
            raise ValueError(f"{k} must be >= 1, got {p[k]}")
    if not 1 <= int(p["num_query_ids"]) <= int(p["num_test_ids"]):
        raise ValueError(f"num_query_ids must be in [1, num_test_ids], got {p['num_query_ids']}")
    if int(p["gallery_images"]) < 2 * int(p["num_test_ids"]):
        raise ValueError("gallery_images must be >= 2 x num_test_ids (every query needs a match from another camera)")
    if int(p["query_images"]) < int(p["num_query_ids"]):
        raise ValueError("query_images must be >= num_query_ids")
    if int(p["train_images"]) < int(p["num_train_ids"]):
        raise ValueError("train_images must be >= num_train_ids")
    if not 0.0 <= float(p["nir_paint_predictability"]) < 1.0:
        raise ValueError(f"nir_paint_predictability must be in [0, 1), got {p['nir_paint_predictability']}")
    if not 0.0 <= float(p["detail_scale"]) <= 3.0:
        raise ValueError(f"detail_scale must be in [0, 3], got {p['detail_scale']}")
    if not isinstance(p["detail_ids"], bool):
        raise ValueError(f"detail_ids must be true or false, got {p['detail_ids']!r}")
    if not 2 <= int(p["num_cams"]) <= 8:
        raise ValueError(f"num_cams must be in [2, 8], got {p['num_cams']}")


def params_hash(p: dict[str, Any]) -> str:
    """Short SHA-256 of the canonical JSON of the parameters (identifies a generated dataset)."""
    blob = json.dumps({k: v for k, v in p.items() if k != "params_hash"}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
