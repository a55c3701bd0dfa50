"""How hard is a (synthetic) dataset? Retrieval with a fixed, untrained pixel descriptor.

Descriptor: the image resized (box filter) to ``DESC_HW`` = 8 x 16 pixels, 3 channels,
flattened to 384 values and L2-normalised. Matching: Euclidean distance, query split against
gallery split, per (query modality -> gallery modality) pair; gallery items of the same ID
*and* the same camera are dropped for aligned layouts (Market rule), nothing for unaligned
ones. The data cards report these figures; tests check the properties the synthetic data
must have (same-modal far above chance, cross-modal near chance, night hurts RGB most,
gap 0 makes cross-modal as easy as same-modal).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

DESC_HW: tuple[int, int] = (8, 16)

# The small test set of the fixed-descriptor checks (``tests/test_synth.py``) and of
# ``benchmarks/bench_descriptor_gap.py``: 20 test IDs, 40 % night, almost no training split.
GAP_CHECK_OVERRIDES: dict[str, Any] = dict(num_test_ids=20, query_images=100, gallery_images=200, num_train_ids=2,
                                          train_images=2, challenge_mix={"normal": 0.6, "night": 0.4})


def pixel_descriptor(img: Image.Image) -> np.ndarray:
    """(384,) float64 L2-normalised descriptor of a PIL image (any size, RGB or grey)."""
    small = img.convert("RGB").resize((DESC_HW[1], DESC_HW[0]), Image.BOX)
    v = np.asarray(small, dtype=np.float64).reshape(-1) / 255.0
    return v / max(np.linalg.norm(v), 1e-12)


def average_precision(dist: np.ndarray, match: np.ndarray) -> float:
    """AP of one query: ``dist`` (G,) distances, ``match`` (G,) bool; NaN when no match."""
    if not match.any():
        return float("nan")
    order = np.argsort(dist, kind="stable")
    m = match[order]
    hits = np.cumsum(m)
    ranks = np.nonzero(m)[0] + 1
    return float(np.mean(hits[m] / ranks))


def retrieval(
    q_feat: np.ndarray, q_pid: np.ndarray, q_cam: np.ndarray,
    g_feat: np.ndarray, g_pid: np.ndarray, g_cam: np.ndarray,
    *, drop_same_cam: bool, chance_trials: int = 10, seed: int = 0,
) -> dict[str, float]:
    """mAP, rank-1 and chance mAP (random ranking, averaged over ``chance_trials``).

    Shapes: q_feat (Q, D), g_feat (G, D); pids/cams (Q,) and (G,). Queries without a valid
    gallery match are skipped and counted in ``n_skipped``.
    """
    rng = np.random.default_rng(seed)
    d = np.sqrt(np.maximum(((q_feat[:, None, :] - g_feat[None, :, :]) ** 2).sum(-1), 0))
    aps, r1, chance, skipped = [], [], [], 0
    for i in range(len(q_feat)):
        keep = ~((g_pid == q_pid[i]) & (g_cam == q_cam[i])) if drop_same_cam else np.ones(len(g_pid), bool)
        match = (g_pid == q_pid[i])[keep]
        if not match.any():
            skipped += 1
            continue
        di = d[i, keep]
        aps.append(average_precision(di, match))
        r1.append(float(match[np.argmin(di)]))
        chance.append(np.mean([average_precision(rng.random(len(di)), match) for _ in range(chance_trials)]))
    nan = float("nan")
    return {
        "mAP": float(np.mean(aps)) if aps else nan,
        "R1": float(np.mean(r1)) if r1 else nan,
        "chance_mAP": float(np.mean(chance)) if chance else nan,
        "n_query": len(aps),
        "n_skipped": skipped,
    }


def _features(records, mod: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    from reidlab.data.image import load_image

    rs = [r for r in records if mod in r.images]
    if not rs:
        return np.zeros((0, DESC_HW[0] * DESC_HW[1] * 3)), np.zeros(0, int), np.zeros(0, int), []
    f = np.stack([pixel_descriptor(load_image(r.images[mod])) for r in rs])
    return f, np.array([r.pid for r in rs]), np.array([r.camid for r in rs]), rs


def descriptor_retrieval_report(root: str | Path, layout: str) -> dict[str, Any]:
    """Fixed-descriptor retrieval figures of the dataset at ``root`` (read with ``load_dataset``).

    Returns:
        ``{"layout", "descriptor", "junk", "pairs": {"rgb->nir": {mAP, R1, chance_mAP,
        n_query, n_skipped}, ...}, "by_daynight": {"rgb->rgb": {"day": mAP, "night": mAP}, ...}}``.
        ``by_daynight`` groups the same-modality queries by their ``daynight`` attribute
        (present when the dataset has an ``attributes.csv``).
    """
    from reidlab.data import load_dataset

    data = load_dataset(layout, Path(root))
    drop = bool(data.aligned)
    feats = {}
    for split in ("query", "gallery"):
        for m in data.modalities:
            feats[(split, m)] = _features(data[split], m)
    pairs: dict[str, dict[str, float]] = {}
    by_dn: dict[str, dict[str, float]] = {}
    for qm in data.modalities:
        qf, qp, qc, qr = feats[("query", qm)]
        for gm in data.modalities:
            gf, gp, gc, _ = feats[("gallery", gm)]
            if len(qf) == 0 or len(gf) == 0:
                continue
            key = f"{qm}->{gm}"
            pairs[key] = retrieval(qf, qp, qc, gf, gp, gc, drop_same_cam=drop)
            if qm == gm:
                dn = np.array([str(r.attrs.get("daynight", "")) for r in qr], dtype=object)
                by_dn[key] = {}
                for val in sorted(set(dn) - {""}):
                    sel = dn == val
                    by_dn[key][str(val)] = retrieval(qf[sel], qp[sel], qc[sel], gf, gp, gc, drop_same_cam=drop)["mAP"]
    return {
        "layout": layout,
        "descriptor": f"pixels {DESC_HW[0]}x{DESC_HW[1]}x3, L2-normalised, Euclidean",
        "junk": "same_cam" if drop else "none",
        "pairs": pairs,
        "by_daynight": by_dn,
    }
