"""Latent identity parameters: what makes one synthetic vehicle (or ship) itself.

An identity is drawn from ``np.random.default_rng([seed, KIND, pid])`` so it does not depend
on the order in which identities are generated. Many identities share type and colour
(fine-grained): what separates them are shape jitter and small details (roof rack, spoiler,
stripe, stickers, rims, window tint, plate colour) plus a NIR paint reflectance.

Cross-modal identity signal (generator version 2, knob ``detail_ids``): per-ID geometry and
materials that show in *every* spectrum, as make/model details do on real vehicles — roof line
(cabin position, height, a fastback step), bonnet / boot lengths, light and grille shapes, an
LED light bar, black plastic bumpers and rubbing strips, two-tone roofs, sunroofs, mirrors,
a roof antenna or roof box, side steps, rim size and spokes, plate position, and decals of
NIR-visible material (retro-reflective or carbon-black vinyl; printed ink that matches the paint
in NIR stays invisible there). These are drawn from a second stream ``[seed, 13, pid]`` so that
the attributes of version 1 keep their values whether the details are on or off.

Paint NIR reflectance (knob ``nir_paint_predictability`` = p in [0, 1]):
``nir = (1 - p) * u + p * (pigment_nir[colour] + N(0, 0.08))`` with ``u ~ U(0.12, 0.9)`` drawn
independently of colour. Carbon-black pigments absorb NIR (black and grey paints dark), titanium
white, iron-oxide reds and yellows reflect it; at p = 0 NIR is independent of colour (version 1),
at p < 1 it is never a fixed function of colour.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

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
# typical NIR (~850 nm) reflectance of the pigment behind each colour: carbon black absorbs NIR,
# TiO2 white, aluminium flake, iron-oxide reds / yellows and most organic pigments reflect it.
PIGMENT_NIR: dict[str, float] = {
    "white": 0.80, "black": 0.10, "silver": 0.62, "grey": 0.32, "red": 0.72,
    "blue": 0.45, "green": 0.52, "yellow": 0.80, "brown": 0.42,
}
# NIR-visible decal materials: (name, NIR reflectance or None = same as the paint underneath)
DECAL_MATERIALS: tuple[tuple[str, float | None], ...] = (
    ("retroreflective", 0.95), ("carbon_vinyl", 0.06), ("printed_ink", None), ("chrome_foil", 0.75),
)

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
    # ---- per-ID details (version 2); the defaults reproduce the version-1 look
    light_f: tuple[float, float, float, float] = (0.55, 0.82, 0.27, 0.47)  # zr0, zr1, |y|/W 0, 1
    light_r: tuple[float, float, float, float] = (0.55, 0.82, 0.30, 0.48)
    light_split: bool = False  # lamps in two parts (a gap across the middle)
    light_bar: bool = False  # LED bar joining the lamps across the front and rear
    grille: tuple[float, float, float] = (0.30, 0.62, 0.22)  # zr0, zr1, half width |y|/W
    grille_chrome: bool = False  # bright horizontal bars on the grille
    plate: tuple[float, float, float] = (0.21, 0.0, 0.12)  # centre zr, centre y/W, half width |y|/W
    bumper: float = 0.0  # height (body fraction) of black plastic bumpers front/rear (0: painted)
    trim: tuple[float, float] | None = None  # side rubbing strip (zr0, zr1), black plastic
    roof: str = "paint"  # paint | black (carbon-black two-tone) | sunroof
    mirrors: str = "none"  # none | paint | black
    antenna: str = "none"  # none | fin | mast
    roof_box: bool = False
    side_step: bool = False
    fastback: tuple[float, float] | None = None  # rear part of the cabin lowered: (length fraction, height factor)
    rim_ratio: float = 0.62  # rim radius / tyre radius
    rim_spokes: int = 0  # 0 = disc; n spokes otherwise
    decals: tuple[tuple[int, float, float, float, float, tuple[float, float, float], float | None], ...] = ()
    # (face: 0 side, 1 rear, 2 front, 3 bonnet top, u0, v0, du, dv in face fraction, rgb, nir or None = paint)


def sample_vehicle(seed: int, pid: int, *, detail_ids: bool = True, nir_paint_predictability: float = 0.5,
                   detail_scale: float = 1.0) -> VehicleIdentity:
    """Draw the vehicle identity ``pid`` for ``seed`` (order independent).

    Args:
        detail_ids: draw the per-ID details visible in every spectrum (False: version-1 identities).
        nir_paint_predictability: weight p in [0, 1) of the pigment's NIR reflectance in the paint's
            NIR (0: independent of colour).
        detail_scale: multiplies each per-ID geometric deviation of the details (cabin ends and height,
            body height, clearance, lamp and grille bands, decal sizes) around its mean; 1 = version 2,
            0 = no geometric detail spread. The same random numbers are drawn for every value.
    """
    if not 0.0 <= nir_paint_predictability < 1.0:
        raise ValueError(f"nir_paint_predictability must be in [0, 1) (1 would make NIR a function of colour), "
                         f"got {nir_paint_predictability}")
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
    nir_u = float(rng.uniform(0.12, 0.9))  # the colour-independent part
    v = VehicleIdentity(
        pid=pid,
        type=vtype,
        colour=cname,
        rgb=tuple(float(x) for x in rgb),
        nir_paint=nir_u,
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
    rng2 = np.random.default_rng([seed, 13, pid])  # version-2 stream: the draws above keep their values
    pred = float(nir_paint_predictability)
    pig = PIGMENT_NIR[cname] + float(rng2.normal(0, 0.08))
    upd: dict = {"nir_paint": float(np.clip((1 - pred) * nir_u + pred * pig, 0.04, 0.95))}
    if detail_ids:
        upd.update(_sample_details(rng2, v, float(detail_scale)))
    return replace(v, **upd)


def _sample_details(rng: np.random.Generator, v: VehicleIdentity, scale: float = 1.0) -> dict:
    """Per-ID geometry and materials (see the module docstring); sizes are body fractions.

    ``scale`` stretches each geometric draw around the middle of its range (``us``, ``ns``), so
    the stream of random numbers, and every categorical detail, is the same for every scale.
    """
    big = v.type in ("bus", "truck", "minibus")
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    def us(a: float, b: float) -> float:  # a draw of U(a, b), its spread scaled around (a + b) / 2
        x = u(a, b)
        return x if scale == 1.0 else max(0.0, (a + b) / 2 + scale * (x - (a + b) / 2))
    ns = lambda sd: scale * float(rng.normal(0, sd))  # noqa: E731
    c0, c1, ch = v.cabin
    d: dict = {}
    # roof line, bonnet and boot: move the cabin ends and change its height
    d["cabin"] = (float(np.clip(c0 + ns(0.06), 0.0, 0.5)) if not big else c0,
                  float(np.clip(c1 + ns(0.06), 0.55, 1.0)) if not big else c1, ch * us(0.8, 1.2))
    d["body_h"] = v.body_h * us(0.93, 1.07)
    d["clearance"] = v.clearance * us(0.85, 1.15)
    d["fastback"] = (us(0.25, 0.45), us(0.45, 0.75)) if (v.type in ("sedan", "hatchback", "suv") and rng.random() < 0.45) else None
    # lamps: height band, width, split, LED bar
    z0 = us(0.45, 0.7)
    d["light_f"] = (z0, min(0.95, z0 + us(0.1, 0.35)), us(0.18, 0.34), min(0.49, us(0.4, 0.49)))
    z0 = us(0.4, 0.72)
    d["light_r"] = (z0, min(0.95, z0 + us(0.1, 0.35)), us(0.2, 0.36), min(0.49, us(0.4, 0.49)))
    d["light_split"] = bool(rng.random() < 0.35)
    d["light_bar"] = bool(rng.random() < 0.25)
    # grille and plate
    g0 = us(0.15, 0.45)
    d["grille"] = (g0, min(0.9, g0 + us(0.12, 0.45)), us(0.1, 0.3))
    d["grille_chrome"] = bool(rng.random() < 0.35)
    d["plate"] = (us(0.12, 0.4), float(rng.choice([0.0, 0.0, -0.15, 0.15])), us(0.09, 0.14))
    # black plastic: bumpers and side rubbing strip
    d["bumper"] = float(rng.choice([0.0, 0.0, 0.0, u(0.1, 0.18)]))
    if rng.random() < 0.3:
        t0 = u(0.2, 0.6)
        d["trim"] = (t0, t0 + u(0.04, 0.09))
    d["roof"] = str(rng.choice(["paint", "paint", "paint", "paint", "black", "sunroof"]))
    d["mirrors"] = "none" if big and rng.random() < 0.5 else str(rng.choice(["paint", "black"]))
    d["antenna"] = str(rng.choice(["none", "fin", "mast"]))
    d["roof_box"] = bool(rng.random() < 0.15) and not big and not v.roof_rack
    d["side_step"] = bool(rng.random() < 0.3) and v.type in ("suv", "pickup", "van", "minibus")
    d["rim_ratio"] = u(0.45, 0.8)
    d["rim_spokes"] = int(rng.choice([0, 4, 5, 6, 10]))
    d["rim_bright"] = float(rng.choice([0.12, 0.3, 0.5, 0.7, 0.85]))
    decals = []
    for _ in range(int(rng.choice(4, p=[0.3, 0.35, 0.25, 0.1]))):
        face = int(rng.choice(4, p=[0.55, 0.15, 0.1, 0.2]))
        name, nir = DECAL_MATERIALS[int(rng.integers(len(DECAL_MATERIALS)))]
        du = min(0.6, max(0.02, us(0.08, 0.3) if face in (0, 3) else us(0.1, 0.3)))
        dv = min(0.6, max(0.02, us(0.08, 0.22)))
        rgb = tuple(float(x) for x in rng.uniform(0.05, 0.95, 3))
        if name == "carbon_vinyl":
            rgb = tuple(float(x) for x in rng.uniform(0.03, 0.12, 3))
        decals.append((face, u(0.0, 1.0 - du), u(0.05, 0.95 - dv), du, dv, rgb, nir))
    d["decals"] = tuple(decals)
    return d


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
