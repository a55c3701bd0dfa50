"""Which captures exist: identities per split, cameras, scenes, tracklets, query/gallery.

Market-style test split: every test identity's gallery covers at least two cameras, so every
query has a gallery match from another camera. Train IDs are ``1..n_train``, test IDs follow.
Everything is drawn from RNGs keyed by ``(seed, purpose, pid)`` so an identity's captures do not
depend on how many other identities exist or on generation order.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from reidlab.data.synth.capture import Capture

SHIP_CHALLENGES: dict[str, float] = {"normal": 0.7, "cloud": 0.15, "glint": 0.15}


def spread(total: int, n: int, rng: np.random.Generator, minimum: int = 1) -> list[int]:
    """Split ``total`` into ``n`` counts as evenly as possible (random remainder), each >= minimum."""
    if total < n * minimum:
        raise ValueError(f"cannot give {n} identities {minimum}+ images each from {total}")
    base = np.full(n, total // n)
    base[rng.permutation(n)[: total - base.sum()]] += 1
    return [int(x) for x in base]


def split_ids(p: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """(train IDs, test IDs, test IDs that have queries)."""
    ntr, nte = int(p["num_train_ids"]), int(p["num_test_ids"])
    train = list(range(1, ntr + 1))
    test = list(range(ntr + 1, ntr + nte + 1))
    rng = np.random.default_rng([p["seed"], 31])
    q = sorted(int(x) for x in rng.choice(test, size=int(p["num_query_ids"]), replace=False))
    return train, test, q


def _cam_geometry(seed: int, cam: int) -> tuple[float, float]:
    """Base yaw (deg, vehicle heading relative to the camera) and elevation (deg) of a camera."""
    rng = np.random.default_rng([seed, 33, cam])
    return cam * 45.0 + rng.normal(0, 8), rng.uniform(6, 24)


def plan_identity(
    p: dict[str, Any], pid: int, counts: dict[str, int], *, stream: int = 0, kind: str = "street"
) -> list[Capture]:
    """Captures of one identity: ``counts`` maps split -> number of captures.

    kind: ``street`` (fixed roadside cameras), ``uav`` (top-down, any heading) or ``ship``.
    stream: separates independent capture sets of one identity (unaligned modalities).
    """
    seed = int(p["seed"])
    rng = np.random.default_rng([seed, 32, stream, pid])
    ncam = int(p["num_cams"])
    perm = [int(c) for c in rng.permutation(ncam)]
    mix = SHIP_CHALLENGES if kind == "ship" else p["challenge_mix"]
    names = list(mix)
    probs = np.array([mix[k] for k in names], float)
    probs /= probs.sum()
    fpt = int(p["frames_per_track"])
    caps: list[Capture] = []
    cam_ptr = 0
    track = 0
    for split in ("train", "gallery", "query"):
        n = int(counts.get(split, 0))
        if n == 0:
            continue
        # gallery spans >= 2 cameras so that every query camera has another one to match
        length = max(1, min(fpt, n // 2)) if split == "gallery" else fpt
        if split == "query":
            cam_ptr = int(rng.integers(0, ncam))
        done = 0
        while done < n:
            m = min(length, n - done)
            cam = perm[cam_ptr % ncam]
            cam_ptr += 1
            scene = int(rng.integers(1, int(p["num_scenes"]) + 1))
            challenge = names[int(rng.choice(len(names), p=probs))]
            heat = float(rng.uniform(0.3, 1.2))
            if kind == "street":
                base_yaw, base_el = _cam_geometry(seed, cam)
                yaw = base_yaw + (180.0 if rng.random() < 0.3 else 0.0) + rng.normal(0, 10)
                el = base_el + rng.normal(0, 2)
            elif kind == "uav":
                yaw, el = rng.uniform(0, 360), rng.uniform(50, 85)
            else:  # ship: heading in the image plane, SAR incidence angle
                yaw, el = rng.uniform(0, 360), rng.uniform(20, 45)
            for f in range(m):
                caps.append(
                    Capture(
                        pid=pid,
                        split=split,
                        cam=cam,
                        scene=scene,
                        track=track,
                        frame=f,
                        yaw=float((yaw + rng.normal(0, 3)) % 360.0),
                        elevation=float(np.clip(el + rng.normal(0, 1), 1, 89)),
                        challenge=challenge,
                        heat=float(heat * 0.97**f),
                        key=(seed, 40, stream, pid, len(caps)),
                    )
                )
            track += 1
            done += m
    return caps


def plan_all(p: dict[str, Any], *, stream: int = 0, kind: str = "street", scale: float = 1.0) -> list[Capture]:
    """All captures of the dataset, identity by identity (``scale`` multiplies the counts)."""
    train, test, qids = split_ids(p)
    rng = np.random.default_rng([p["seed"], 34, stream])
    s = lambda x: max(1, int(round(x * scale)))  # noqa: E731
    tr = spread(s(p["train_images"]), len(train), rng, 1)
    ga = spread(max(s(p["gallery_images"]), 2 * len(test)), len(test), rng, 2)
    qu = spread(max(s(p["query_images"]), len(qids)), len(qids), rng, 1)
    qmap = dict(zip(qids, qu))
    out: list[Capture] = []
    for pid, n in zip(train, tr):
        out += plan_identity(p, pid, {"train": n}, stream=stream, kind=kind)
    for pid, n in zip(test, ga):
        out += plan_identity(p, pid, {"gallery": n, "query": qmap.get(pid, 0)}, stream=stream, kind=kind)
    return out
