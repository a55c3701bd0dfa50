"""Latent identity parameters: what makes one synthetic vehicle (or ship) itself.

An identity is drawn from ``np.random.default_rng([seed, KIND, pid])`` so it does not depend
on the order in which identities are generated. Many identities share type and colour
(fine-grained): what separates them are shape jitter and small details (roof rack, spoiler,
stripe, stickers, rims, window tint, plate colour) plus an *independent* NIR paint reflectance.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------- vehicles
VEHICLE_TYPES: tuple[str, ...] = ("sedan", "hatchback", "suv", "pickup", "van", "minibus", "bus", "truck")
VEHICLE_TYPE_P = np.array([0.26, 0.14, 0.18, 0.08, 0.12, 0.08, 0.06, 0.08])

# name -> (sRGB in [0,1]); frequencies follow street statistics: white/black/silver dominate.
COLOURS: dict[str, tuple[float, float, float]] = {
    "white": (0.90, 0.90, 0.88),
    "black": (0.06, 0.06, 0.07),
    "silver": (0.66, 0.67, 0.69),
    "grey": (0.38, 0.39, 0.41),
    "red": (0.70, 0.08, 0.07),
    "blue": (0.10, 0.20, 0.60),
    "green": (0.12, 0.42, 0.18),
    "yellow": (0.88, 0.74, 0.10),
    "brown": (0.40, 0.25, 0.14),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
COLOUR_P = np.array([0.28, 0.20, 0.15, 0.10, 0.08, 0.07, 0.04, 0.04, 0.04])

# type -> length, width, clearance, body height (m), cabin (x0, x1 as fraction of length
# from the rear, height m), wheel radius, engine at "front"/"rear".
_TYPE_SPEC: dict[str, dict] = {
    "sedan": dict(L=4.6, W=1.80, clr=0.18, bh=0.72, cab=(0.22, 0.70, 0.50), r=0.32, engine="front"),
    "hatchback": dict(L=4.0, W=1.75, clr=0.17, bh=0.72, cab=(0.06, 0.66, 0.55), r=0.30, engine="front"),
    "suv": dict(L=4.7, W=1.90, clr=0.28, bh=0.85, cab=(0.05, 0.70, 0.65), r=0.38, engine="front"),
    "pickup": dict(L=5.3, W=1.90, clr=0.30, bh=0.85, cab=(0.45, 0.75, 0.65), r=0.38, engine="front"),
    "van": dict(L=4.9, W=1.90, clr=0.22, bh=0.85, cab=(0.03, 0.80, 0.85), r=0.34, engine="front"),
    "minibus": dict(L=5.8, W=2.00, clr=0.25, bh=0.95, cab=(0.02, 0.90, 1.05), r=0.36, engine="front"),
    "bus": dict(L=10.5, W=2.50, clr=0.32, bh=1.45, cab=(0.01, 0.99, 1.20), r=0.50, engine="rear"),
    "truck": dict(L=7.5, W=2.30, clr=0.40, bh=0.95, cab=(0.76, 0.98, 1.25), r=0.48, engine="front"),
}


@dataclass(frozen=True)
class VehicleIdentity:
    """Latent parameters of one vehicle identity (lengths in metres, colours sRGB in [0, 1])."""

    pid: int
    type: str
    colour: str
    rgb: tuple[float, float, float]
    nir_paint: float  # NIR reflectance of the paint, drawn independently of ``rgb``
    L: float
    W: float
    clearance: float
    body_h: float
    cabin: tuple[float, float, float]
    wheel_r: float
    engine: str
    heat: float  # typical engine heat (relative, ~[0.5, 1.5])
    tint: float  # window darkness in [0, 1]
    rim_bright: float  # rim reflectance (RGB and NIR)
    roof_rack: bool
    spoiler: bool
    stripe: tuple[float, float, tuple[float, float, float]] | None  # (z0, height m, rgb)
    stickers: tuple[tuple[int, float, float, float, float, tuple[float, float, float], float], ...] = field(
        default=()
    )  # (face: 0 side,1 rear,2 front, u0, v0, du, dv in face fraction, rgb, nir)
    plate_yellow: bool = False
    cargo_rgb: tuple[float, float, float] = (0.8, 0.8, 0.8)
    cargo_nir: float = 0.7


def sample_vehicle(seed: int, pid: int) -> VehicleIdentity:
    """Draw the vehicle identity ``pid`` for ``seed`` (order independent)."""
    rng = np.random.default_rng([seed, 11, pid])
    vtype = VEHICLE_TYPES[int(rng.choice(len(VEHICLE_TYPES), p=VEHICLE_TYPE_P))]
    cname = COLOUR_NAMES[int(rng.choice(len(COLOUR_NAMES), p=COLOUR_P))]
    base = np.array(COLOURS[cname])
    rgb = np.clip(base * rng.uniform(0.9, 1.1) + rng.normal(0, 0.02, 3), 0.02, 0.98)
    spec = _TYPE_SPEC[vtype]
    j = lambda s: float(rng.uniform(1 - s, 1 + s))  # noqa: E731 - shape jitter per identity
    c0, c1, ch = spec["cab"]
    cab = (float(np.clip(c0 + rng.normal(0, 0.02), 0.0, 0.5)), float(np.clip(c1 + rng.normal(0, 0.02), 0.55, 1.0)), ch * j(0.08))
    stripe = None
    if rng.random() < 0.3:
        srgb = tuple(float(x) for x in np.clip(1.0 - base + rng.normal(0, 0.1, 3), 0.05, 0.95))
        stripe = (float(rng.uniform(0.25, 0.65)), float(rng.uniform(0.06, 0.16)), srgb)
    stickers = []
    for _ in range(int(rng.choice(3, p=[0.45, 0.4, 0.15]))):
        stickers.append(
            (
                int(rng.integers(0, 3)),
                float(rng.uniform(0.05, 0.75)),
                float(rng.uniform(0.1, 0.6)),
                float(rng.uniform(0.08, 0.2)),
                float(rng.uniform(0.15, 0.35)),
                tuple(float(x) for x in rng.uniform(0.05, 0.95, 3)),
                float(rng.uniform(0.1, 0.9)),
            )
        )
    return VehicleIdentity(
        pid=pid,
        type=vtype,
        colour=cname,
        rgb=tuple(float(x) for x in rgb),
        nir_paint=float(rng.uniform(0.12, 0.9)),
        L=spec["L"] * j(0.07),
        W=spec["W"] * j(0.04),
        clearance=spec["clr"] * j(0.1),
        body_h=spec["bh"] * j(0.08),
        cabin=cab,
        wheel_r=spec["r"] * j(0.06),
        engine=spec["engine"],
        heat=float(rng.uniform(0.5, 1.5)),
        tint=float(rng.uniform(0.0, 1.0)),
        rim_bright=float(rng.choice([0.15, 0.45, 0.8])),
        roof_rack=bool(rng.random() < 0.25) and vtype not in ("bus", "truck"),
        spoiler=bool(rng.random() < 0.2) and vtype in ("sedan", "hatchback", "suv"),
        stripe=stripe,
        stickers=tuple(stickers),
        plate_yellow=bool(rng.random() < 0.3),
        cargo_rgb=tuple(float(x) for x in rng.uniform(0.1, 0.95, 3)),
        cargo_nir=float(rng.uniform(0.2, 0.9)),
    )


# ---------------------------------------------------------------- ships
SHIP_TYPES: tuple[str, ...] = ("cargo", "tanker", "bulk", "ferry", "fishing", "tug", "warship", "yacht")
SHIP_TYPE_P = np.array([0.26, 0.18, 0.16, 0.1, 0.12, 0.06, 0.05, 0.07])
_SHIP_LEN = {"cargo": 180, "tanker": 200, "bulk": 170, "ferry": 120, "fishing": 35, "tug": 30, "warship": 140, "yacht": 40}
_SHIP_BEAM = {"cargo": 0.15, "tanker": 0.17, "bulk": 0.16, "ferry": 0.17, "fishing": 0.28, "tug": 0.33, "warship": 0.12, "yacht": 0.22}
DECK_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.55, 0.16, 0.12),
    "green": (0.20, 0.40, 0.25),
    "grey": (0.45, 0.46, 0.47),
    "blue": (0.18, 0.28, 0.50),
    "black": (0.10, 0.10, 0.11),
    "white": (0.85, 0.85, 0.83),
    "brown": (0.42, 0.30, 0.20),
}


@dataclass(frozen=True)
class ShipIdentity:
    """Latent parameters of one ship (lengths in metres; positions as fractions of the length)."""

    pid: int
    type: str
    colour: str
    deck_rgb: tuple[float, float, float]
    length: float
    beam: float
    bow: float  # bow taper length as a fraction of the length
    super_pos: float  # superstructure centre along the hull, -0.5 stern .. 0.5 bow
    super_len: float
    super_h: float  # superstructure height in metres (drives SAR layover)
    blocks: tuple[tuple[float, float, float, float, tuple[float, float, float]], ...]  # deck cargo (u, v, du, dv, rgb)
    reflectors: tuple[tuple[float, float, float, float], ...]  # SAR corner reflectors (u, v, height m, sigma)


def sample_ship(seed: int, pid: int) -> ShipIdentity:
    """Draw the ship identity ``pid`` for ``seed`` (order independent)."""
    rng = np.random.default_rng([seed, 12, pid])
    stype = SHIP_TYPES[int(rng.choice(len(SHIP_TYPES), p=SHIP_TYPE_P))]
    cname = str(rng.choice(list(DECK_COLOURS)))
    length = _SHIP_LEN[stype] * float(rng.uniform(0.75, 1.25))
    beam = length * _SHIP_BEAM[stype] * float(rng.uniform(0.9, 1.1))
    super_pos = {"ferry": 0.0, "warship": 0.1, "yacht": 0.05, "fishing": 0.2, "tug": 0.2}.get(stype, -0.38)
    super_pos += float(rng.normal(0, 0.03))
    super_len = {"ferry": 0.7, "yacht": 0.45, "warship": 0.3}.get(stype, 0.12) * float(rng.uniform(0.8, 1.2))
    blocks = []
    if stype in ("cargo", "bulk", "tanker"):
        n = int(rng.integers(2, 7))
        lo, hi = super_pos + super_len / 2 + 0.03, 0.38
        edges = np.sort(rng.uniform(lo, hi, n))
        for u in edges:
            dv = float(rng.uniform(0.3, 0.9))
            rgb = tuple(float(x) for x in rng.uniform(0.1, 0.95, 3)) if stype == "cargo" else (0.3, 0.3, 0.32)
            blocks.append((float(u), float(rng.uniform(-0.1, 0.1)), float(rng.uniform(0.03, 0.07)), dv, rgb))
    refl = []
    for _ in range(int(rng.integers(2, 6))):
        refl.append((float(rng.uniform(-0.45, 0.45)), float(rng.uniform(-0.4, 0.4)), float(rng.uniform(2, 25)), float(rng.uniform(8, 40))))
    return ShipIdentity(
        pid=pid,
        type=stype,
        colour=cname,
        deck_rgb=tuple(float(x) for x in np.clip(np.array(DECK_COLOURS[cname]) + rng.normal(0, 0.03, 3), 0, 1)),
        length=length,
        beam=beam,
        bow=float(rng.uniform(0.1, 0.25)),
        super_pos=super_pos,
        super_len=super_len,
        super_h=float(rng.uniform(8, 30)) * (0.4 if stype in ("fishing", "tug", "yacht") else 1.0),
        blocks=tuple(blocks),
        reflectors=tuple(refl),
    )
