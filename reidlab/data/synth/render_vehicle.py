"""Render one vehicle capture as pixel-aligned RGB, NIR and TIR images (numpy, vectorised).

Geometry: the vehicle is a few axis-aligned boxes (body, cabin, wheels, roof rack, spoiler,
truck cargo box) in metres, front = +x, left = +y, up = +z. An orthographic camera at azimuth
``yaw`` and ``elevation`` casts one ray per pixel; slab tests give, per pixel, the box, face
and 3-D hit point. A per-pixel *label* (paint, glass, tyre, rim, light, grille, plate, stripe,
sticker...) is derived from the hit point, then each modality shades the same labels:

- RGB: colour albedo x (ambient + sun), scaled by the exposure of the illumination challenge
  (low light, night); glare, shadow and sensor noise hit it hardest.
- NIR: single channel, per-ID paint reflectance drawn independently of colour, lit by an
  active IR lamp at the camera (readable at night); painted stripes barely change it.
- TIR: temperature (engine front/rear by type, radiator grille, tyres, exhaust, cold glass,
  warm road by day), per-capture heat, rendered at 1/3 resolution then upsampled and blurred.

The crop is the vehicle's projected bounding box plus a margin, stretched to ``(H, W)`` like
the resized detection boxes of the real datasets.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from reidlab.data.synth.capture import Capture
from reidlab.data.synth.identity import VehicleIdentity

# labels
BG, BODY, GLASS, TYRE, RIM, RACK, LIGHT_F, LIGHT_R, GRILLE, PLATE, STRIPE, CARGO, WALL, OCCL = range(14)
TRIM, CHROME, MIRROR, ROOF_BLACK, ANT, GLASS_B = range(14, 20)  # version-2 details (GLASS_B: fastback cabin)
STICKER0 = 20  # + k, k < 3
DECAL0 = 30  # + k, k < 4

_EXPOSURE = {"normal": 1.0, "low_light": 0.25, "night": 0.06, "glare": 1.0, "shadow": 1.0, "occlusion": 1.0}


def _boxes(v: VehicleIdentity) -> list[tuple[np.ndarray, np.ndarray, int, float]]:
    """(lo, hi, part, wheel_x) boxes in metres; wheel_x is NaN for non-wheels."""
    L, W, clr, bh = v.L, v.W, v.clearance, v.body_h
    top = clr + bh
    c0, c1, ch = v.cabin
    nan = float("nan")
    x0, x1 = -L / 2 + c0 * L, -L / 2 + c1 * L
    b = [(np.array([-L / 2, -W / 2, clr]), np.array([L / 2, W / 2, top]), BODY, nan)]
    if v.fastback is None:
        b.append((np.array([x0, -0.46 * W, top]), np.array([x1, 0.46 * W, top + ch]), GLASS, nan))
    else:  # roof line: the rear part of the cabin lower (fastback / sloping rear window)
        xs = x0 + v.fastback[0] * (x1 - x0)
        b.append((np.array([xs, -0.46 * W, top]), np.array([x1, 0.46 * W, top + ch]), GLASS, nan))
        b.append((np.array([x0, -0.46 * W, top]), np.array([xs, 0.46 * W, top + v.fastback[1] * ch]), GLASS_B, nan))
    if v.type == "truck":
        b.append((np.array([-L / 2, -W / 2, top]), np.array([-L / 2 + 0.74 * L, W / 2, top + 1.7]), CARGO, nan))
    r = v.wheel_r
    for xw in (L / 2 - max(0.85, 0.17 * L), -L / 2 + max(0.85, 0.19 * L)):
        for sgn in (-1.0, 1.0):
            ya, yb = sorted((sgn * (W / 2 - 0.3), sgn * (W / 2 + 0.04)))
            b.append((np.array([xw - r, ya, 0.0]), np.array([xw + r, yb, 2 * r]), TYRE, xw))
    if v.roof_rack:
        z0 = top + ch
        rx0, rx1 = x0 + 0.15, x1 - 0.15
        for sgn in (-1.0, 1.0):
            ya, yb = sorted((sgn * 0.36 * W, sgn * 0.42 * W))
            b.append((np.array([rx0, ya, z0]), np.array([rx1, yb, z0 + 0.1]), RACK, nan))
        for xc in (rx0 + 0.1, rx1 - 0.1):
            b.append((np.array([xc - 0.04, -0.42 * W, z0 + 0.06]), np.array([xc + 0.04, 0.42 * W, z0 + 0.1]), RACK, nan))
    if v.spoiler:
        b.append((np.array([-L / 2, -0.45 * W, top + 0.07]), np.array([-L / 2 + 0.22, 0.45 * W, top + 0.15]), BODY, nan))
    # ---- per-ID details (version 2)
    if v.mirrors != "none":
        for sgn in (-1.0, 1.0):
            ya, yb = sorted((sgn * W / 2, sgn * (W / 2 + 0.16)))
            b.append((np.array([x1 - 0.22, ya, top + 0.04]), np.array([x1 - 0.08, yb, top + 0.2]), MIRROR, nan))
    zroof = top + ch
    if v.antenna == "fin":
        b.append((np.array([x0 + 0.08, -0.04, zroof]), np.array([x0 + 0.28, 0.04, zroof + 0.08]), ANT, nan))
    elif v.antenna == "mast":
        b.append((np.array([x0 + 0.15, -0.03, zroof]), np.array([x0 + 0.2, 0.03, zroof + 0.45]), ANT, nan))
    if v.roof_box:
        xm, hl = (x0 + x1) / 2, 0.3 * (x1 - x0)
        b.append((np.array([xm - hl, -0.33 * W, zroof]), np.array([xm + hl, 0.33 * W, zroof + 0.28]), RACK, nan))
    if v.side_step:
        xa, xb = -L / 2 + max(0.85, 0.19 * L) + r + 0.1, L / 2 - max(0.85, 0.17 * L) - r - 0.1
        for sgn in (-1.0, 1.0):
            ya, yb = sorted((sgn * W / 2, sgn * (W / 2 + 0.12)))
            b.append((np.array([xa, ya, 0.55 * clr]), np.array([xb, yb, 0.55 * clr + 0.06]), TRIM, nan))
    return b


def _camera(yaw_deg: float, elev_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (c: towards the camera, r: image right, u: image up)."""
    a, e = np.radians(yaw_deg), np.radians(elev_deg)
    c = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    r = np.array([-np.sin(a), np.cos(a), 0.0])
    u = np.cross(c, r)
    return c, r, u


def _raycast(boxes, o: np.ndarray, d: np.ndarray, windows: list[np.ndarray] | None = None):
    """Nearest hit per ray. o (N,3), d (3,) -> t (N,), part (N,), axis (N,), point (N,3).

    ``windows[k]`` (optional): indices of the rays that can hit box k (its projected rectangle;
    rays are parallel, so no other ray can); the result is the same, only faster.
    """
    n = o.shape[0]
    dd = np.where(np.abs(d) < 1e-9, 1e-9, d)
    inv = 1.0 / dd
    best_t = np.full(n, np.inf)
    best_part = np.zeros(n, np.int16)
    best_axis = np.zeros(n, np.int8)
    best_wx = np.full(n, np.nan)
    for k, (lo, hi, part, wx) in enumerate(boxes):
        idx = windows[k] if windows is not None else slice(None)
        oo = o[idx]
        t1, t2 = (lo - oo) * inv, (hi - oo) * inv
        tn, tf = np.minimum(t1, t2), np.maximum(t1, t2)
        tmin, tmax = tn.max(1), tf.min(1)
        axis = tn.argmax(1)
        hit = (tmax >= tmin) & (tmax > 0)
        if part == TYRE:  # a wheel is a disc seen from the side: cut the box's y-face to a circle
            p = oo + tmin[:, None] * d
            rr = (hi[2] - lo[2]) / 2
            inside = (p[:, 0] - wx) ** 2 + (p[:, 2] - rr) ** 2 <= rr * rr
            hit &= (axis != 1) | inside
        better = hit & (tmin < best_t[idx])
        sel = np.arange(n)[idx][better] if windows is not None else better
        best_t[sel] = tmin[better]
        best_part[sel] = part
        best_axis[sel] = axis[better]
        best_wx[sel] = wx
    p = o + np.where(np.isfinite(best_t), best_t, 0.0)[:, None] * d
    return best_t, best_part, best_axis, p, best_wx


def _windows(boxes, r: np.ndarray, u: np.ndarray, sj: np.ndarray, ti: np.ndarray) -> list[np.ndarray]:
    """Flat pixel indices inside each box's projected rectangle (+1 pixel), for ``_raycast``.

    sj (W,) increasing image-right coordinates, ti (H,) decreasing image-up coordinates (metres)."""
    W = len(sj)
    out = []
    for lo, hi, _, _ in boxes:
        cs = np.array([[lo[0] if i & 1 else hi[0], lo[1] if i & 2 else hi[1], lo[2] if i & 4 else hi[2]] for i in range(8)])
        s, t = cs @ r, cs @ u
        c_lo = max(int(np.searchsorted(sj, s.min())) - 1, 0)
        c_hi = min(int(np.searchsorted(sj, s.max())) + 1, W)
        r_lo = max(int(np.searchsorted(-ti, -t.max())) - 1, 0)
        r_hi = min(int(np.searchsorted(-ti, -t.min())) + 1, len(ti))
        rows, cols = np.arange(r_lo, r_hi), np.arange(c_lo, c_hi)
        out.append((rows[:, None] * W + cols[None, :]).ravel())
    return out


def _scene(seed: int, cam: int, scene: int) -> dict:
    """Scene constants shared by every capture of (camera, scene): background, sun, ambient."""
    rng = np.random.default_rng([seed, 21, cam, scene])
    az = rng.uniform(0, 2 * np.pi)
    el = rng.uniform(0.4, 1.2)
    return dict(
        road=rng.uniform(0.25, 0.5) * np.array([1.0, 1.0, 1.03]) * rng.uniform(0.9, 1.1, 3),
        road_nir=rng.uniform(0.15, 0.35),
        wall=rng.uniform(0.15, 0.8, 3),
        wall_nir=rng.uniform(0.3, 0.85),  # vegetation / concrete: bright in NIR
        wall_freq=rng.uniform(0.5, 3.0, 2),
        wall_R=rng.uniform(4.5, 9.0),
        lane_y=rng.uniform(-3, 3),
        lane_dir=rng.integers(0, 2),
        tex_f=rng.uniform(0.7, 3.0, 4),
        tex_ph=rng.uniform(0, 2 * np.pi, 4),
        sun=np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)]),
        ambient_t=rng.uniform(18, 32),
    )


def _labels(v: VehicleIdentity, part, axis, p, wx, c):
    """Refine box parts into surface labels from the 3-D hit point (later rules paint over earlier ones)."""
    L, W, clr, bh = v.L, v.W, v.clearance, v.body_h
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    lab = part.astype(np.int16).copy()
    lab[part == GLASS_B] = GLASS
    body = part == BODY
    front = body & (axis == 0) & (x > 0)
    rear = body & (axis == 0) & (x < 0)
    side = body & (axis == 1)
    bonnet = body & (axis == 2) & (z > clr + bh - 1e-6)
    ends = front | rear
    zr = (z - clr) / bh  # 0 bottom .. 1 top of the body
    ay = np.abs(y) / W
    # black plastic: bumpers (wrapping round the corners) and a side rubbing strip
    if v.bumper > 0:
        lab[(ends | (side & (np.abs(x) > L / 2 - 0.35))) & (zr < v.bumper)] = TRIM
    if v.trim is not None:
        lab[side & (zr > v.trim[0]) & (zr < v.trim[1])] = TRIM
    if v.stripe is not None:
        z0, hs, _ = v.stripe
        lab[side & (zr > z0) & (zr < z0 + hs / bh)] = STRIPE
    for k, (face, u0, v0, du, dv, _, _) in enumerate(v.stickers):
        if face == 0:
            m, uu = side, (x + L / 2) / L
        else:
            m, uu = (rear if face == 1 else front), (y + W / 2) / W
        lab[m & (uu > u0) & (uu < u0 + du) & (zr > v0) & (zr < v0 + dv)] = STICKER0 + k
    for k, (face, u0, v0, du, dv, _, _) in enumerate(v.decals):
        if face == 0:
            m, uu, vv = side, (x + L / 2) / L, zr
        elif face == 3:
            m, uu, vv = bonnet, (x + L / 2) / L, (y + W / 2) / W
        else:
            m, uu, vv = (rear if face == 1 else front), (y + W / 2) / W, zr
        lab[m & (uu > u0) & (uu < u0 + du) & (vv > v0) & (vv < v0 + dv)] = DECAL0 + k
    # lamps, light bar, grille, plate
    for m, (l0, l1, a0, a1), lb in ((front, v.light_f, LIGHT_F), (rear, v.light_r, LIGHT_R)):
        band = (zr > l0) & (zr < l1)
        lamp = m & band & (ay > a0) & (ay < a1)
        if v.light_split:  # two-part lamps: a painted gap across the middle
            mid = (zr > l0 + 0.42 * (l1 - l0)) & (zr < l0 + 0.62 * (l1 - l0))
            lamp &= ~mid
        lab[lamp] = lb
        if v.light_bar:
            lab[m & (ay <= a0) & (zr > l0 + 0.35 * (l1 - l0)) & (zr < l0 + 0.6 * (l1 - l0))] = lb
    g0, g1, gw = v.grille
    grille = front & (zr > g0) & (zr < g1) & (ay < gw)
    lab[grille] = GRILLE
    if v.grille_chrome:
        lab[grille & (np.sin(2 * np.pi * 4 * (zr - g0) / max(g1 - g0, 1e-3)) > 0.3)] = CHROME
    pz, py, pw = v.plate
    lab[ends & (np.abs(zr - pz) < 0.09) & (np.abs(y / W - py) < pw)] = PLATE
    # cabin: roof is paint (or a black / glass roof), side/end faces are glass inside a frame of pillars
    cab = (part == GLASS) | (part == GLASS_B)
    c0, c1, ch = v.cabin
    x0, x1, ztop = -L / 2 + c0 * L, -L / 2 + c1 * L, clr + bh
    roof = cab & (axis == 2)
    lab[roof] = {"black": ROOF_BLACK}.get(v.roof, BODY)
    if v.roof == "sunroof":
        lab[roof & (np.abs(y) < 0.3 * W) & (np.abs(x - (x0 + 0.55 * (x1 - x0))) < 0.2 * (x1 - x0))] = GLASS
    ctop = np.where(part == GLASS_B, ztop + (v.fastback[1] if v.fastback else 1.0) * ch, ztop + ch)
    frame = (z - ztop < 0.06) | (ctop - z < 0.07)
    pill_x = (x - x0 < 0.12) | (x1 - x < 0.12) | (np.abs(x - (x0 + x1) / 2) < 0.06 * (x1 - x0 > 1.6))
    if v.fastback is not None:
        xs = x0 + v.fastback[0] * (x1 - x0)
        pill_x |= np.abs(x - xs) < 0.06
    lab[cab & (axis == 1) & (frame | pill_x)] = BODY
    lab[cab & (axis == 0) & (frame | (np.abs(y) > 0.4 * W))] = BODY
    # wheels: inner disc is the rim, with spokes when the ID has them
    tyre = part == TYRE
    rr = v.wheel_r
    dx, dz = x - np.nan_to_num(wx), z - rr
    rim = tyre & (axis == 1) & (dx**2 + dz**2 < (v.rim_ratio * rr) ** 2)
    if v.rim_spokes:
        hub = dx**2 + dz**2 < (0.25 * rr) ** 2
        rim &= hub | (np.cos(v.rim_spokes * np.arctan2(dz, dx)) > 0.2)
    lab[rim] = RIM
    return lab


def render_vehicle(
    v: VehicleIdentity,
    cap: Capture,
    size: tuple[int, int],
    *,
    seed: int,
    gap: float = 1.0,
    jitter: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Render one capture.

    Args:
        v: the identity. cap: view, scene and condition. size: ``(H, W)`` pixels.
        seed: dataset seed (scene constants). gap: modality gap in [0, 1]; at 0 NIR and TIR
            are copies of the RGB image (cross-modal as easy as same-modal).
        jitter: optional ``(dx, dy, log_scale)`` crop jitter (fractions of the crop).

    Returns:
        ``{"rgb": (H,W,3), "nir": (H,W,3), "tir": (H,W,3)}`` float32 in [0, 1], pixel-aligned.
    """
    H, W = size
    rng = np.random.default_rng(cap.key)
    sc = _scene(seed, cap.cam, cap.scene)
    c, r, u = _camera(cap.yaw, cap.elevation)
    boxes = _boxes(v)
    # the crop (a detector's box) ignores thin parts: antennas and mirrors do not move it
    corners = np.array([[lo[0] if i & 1 else hi[0], lo[1] if i & 2 else hi[1], lo[2] if i & 4 else hi[2]]
                        for lo, hi, part, _ in boxes if part not in (ANT, MIRROR) for i in range(8)])
    s_all, t_all = corners @ r, corners @ u
    if jitter is None:
        jitter = np.array([rng.normal(0, 0.03), rng.normal(0, 0.03), rng.normal(0, 0.05)])
    margin = 1.08 * np.exp(jitter[2])
    hs = (s_all.max() - s_all.min()) / 2 * margin
    ht = (t_all.max() - t_all.min()) / 2 * margin
    cs = (s_all.max() + s_all.min()) / 2 + jitter[0] * 2 * hs
    ct = (t_all.max() + t_all.min()) / 2 + jitter[1] * 2 * ht
    sj = cs + hs * (2 * (np.arange(W) + 0.5) / W - 1)
    ti = ct + ht * (1 - 2 * (np.arange(H) + 0.5) / H)
    S, T = np.meshgrid(sj, ti)
    o = S.reshape(-1, 1) * r + T.reshape(-1, 1) * u + 50.0 * c
    d = -c
    t, part, axis, p, wx = _raycast(boxes, o, d, _windows(boxes, r, u, sj, ti))
    lab = _labels(v, part, axis, p, wx, c)
    n_pix = o.shape[0]
    normal = np.zeros((n_pix, 3))
    normal[np.arange(n_pix), axis] = -np.sign(d[axis])
    veh = part > 0

    # background: road up to the scene's wall distance, then a textured wall / vegetation
    cz = max(c[2], 1e-4)
    tg = o[:, 2] / cz
    g = o + tg[:, None] * d
    dist = np.hypot(g[:, 0], g[:, 1])
    wall = ~veh & ((dist > sc["wall_R"]) | (c[2] < 0.02))
    road = ~veh & ~wall
    lab[wall] = WALL
    f, ph = sc["tex_f"], sc["tex_ph"]
    road_tex = 0.06 * (np.sin(f[0] * g[:, 0] + ph[0]) * np.sin(f[1] * g[:, 1] + ph[1]))
    lane = road & (np.abs((g[:, 1] if sc["lane_dir"] else g[:, 0]) - sc["lane_y"]) < 0.08)
    under = road & (np.abs(g[:, 0]) < v.L / 2 + 0.1) & (np.abs(g[:, 1]) < v.W / 2 + 0.1)
    wall_tex = 0.5 + 0.5 * np.sin(sc["wall_freq"][0] * 3 * o @ r + ph[2]) * np.sin(sc["wall_freq"][1] * 3 * o @ u + ph[3])

    # materials (RGB albedo, NIR albedo)
    alb = np.zeros((n_pix, 3))
    nir = np.zeros(n_pix)
    body_rgb = np.array(v.rgb)
    tint_rgb = 0.22 * (1 - v.tint) + 0.03
    table = {
        BODY: (body_rgb, v.nir_paint),
        GLASS: (np.array([tint_rgb, tint_rgb * 1.05, tint_rgb * 1.1]), 0.08 + 0.15 * (1 - v.tint)),
        TYRE: (np.array([0.05, 0.05, 0.05]), 0.06),
        RIM: (np.full(3, v.rim_bright), v.rim_bright * 0.9),
        RACK: (np.array([0.08, 0.08, 0.09]), 0.1),
        LIGHT_F: (np.array([0.85, 0.85, 0.8]), 0.55),
        LIGHT_R: (np.array([0.7, 0.06, 0.05]), 0.5),
        GRILLE: (np.array([0.08, 0.08, 0.09]), 0.12),
        PLATE: (np.array([0.9, 0.78, 0.1]) if v.plate_yellow else np.array([0.9, 0.9, 0.9]), 0.8),
        CARGO: (np.array(v.cargo_rgb), v.cargo_nir),
        TRIM: (np.array([0.06, 0.06, 0.065]), 0.07),  # carbon-black plastic: dark in NIR too
        CHROME: (np.array([0.75, 0.75, 0.77]), 0.7),
        ROOF_BLACK: (np.array([0.05, 0.05, 0.055]), 0.08),
        ANT: (np.array([0.05, 0.05, 0.05]), 0.07),
        MIRROR: (body_rgb, v.nir_paint) if v.mirrors == "paint" else (np.array([0.06, 0.06, 0.065]), 0.07),
    }
    if v.stripe is not None:  # paint: visible colour change, almost none in NIR
        table[STRIPE] = (np.array(v.stripe[2]), v.nir_paint + 0.03)
    for k, st in enumerate(v.stickers):
        table[STICKER0 + k] = (np.array(st[5]), 0.5 * v.nir_paint + 0.5 * st[6])
    for k, dc in enumerate(v.decals):  # NIR of the decal's material (printed ink: the paint's)
        table[DECAL0 + k] = (np.array(dc[5]), v.nir_paint if dc[6] is None else dc[6])
    for lb, (a_rgb, a_nir) in table.items():
        m = lab == lb
        alb[m] = a_rgb
        nir[m] = a_nir
    alb[road] = sc["road"] * (1 + road_tex[road, None])
    nir[road] = sc["road_nir"] * (1 + road_tex[road])
    alb[lane] = 0.85
    nir[lane] = 0.7
    alb[under] *= 0.35
    nir[under] *= 0.35
    alb[wall] = sc["wall"] * (0.6 + 0.4 * wall_tex[wall, None])
    nir[wall] = sc["wall_nir"] * (0.6 + 0.4 * wall_tex[wall])

    # --- RGB: sun + ambient, exposure by challenge
    ch = cap.challenge
    dark = ch in ("night", "low_light")
    sun = 0.0 if dark else 0.65
    nl = np.where(veh, np.clip(normal @ sc["sun"], 0, 1), sc["sun"][2])
    shade = 0.35 + sun * nl
    rgb = alb * shade[:, None]
    glass = lab == GLASS
    rgb[glass] += 0.1  # sky reflection on the windows
    rgb *= _EXPOSURE[ch] * rng.uniform(0.9, 1.1)
    if ch == "night":
        rgb *= np.array([1.0, 0.82, 0.6])  # sodium street light
        rgb[lab == LIGHT_F] = 1.0
        rgb[lab == LIGHT_R] = np.array([0.9, 0.1, 0.08])
    # --- NIR: active IR lamp at the camera, little sun; independent of visible colour
    ndotc = np.where(veh, np.clip(normal @ c, 0, 1), 0.6)
    nir_img = nir * (0.45 + 0.55 * ndotc) + (0.0 if dark else 0.15) * nir * nl
    nir_img *= rng.uniform(0.9, 1.1)
    # --- TIR: temperature in deg C, mapped to grey
    Ta = sc["ambient_t"] - (12.0 if ch == "night" else 0.0)
    heat = cap.heat * v.heat
    temp = np.full(n_pix, Ta)
    x = p[:, 0]
    if v.engine == "front":
        eng = np.clip((x - (v.L / 2 - 0.32 * v.L)) / (0.32 * v.L), 0, 1)
    else:
        eng = np.clip(((-v.L / 2 + 0.22 * v.L) - x) / (0.22 * v.L), 0, 1)
    bodyish = np.isin(lab, [BODY, STRIPE, PLATE, LIGHT_F, LIGHT_R, RACK, TRIM, CHROME, MIRROR, ROOF_BLACK, ANT]) | (lab >= STICKER0)
    temp[bodyish] += (0.0 if dark else 3.0) + 14.0 * heat * eng[bodyish] ** 1.5
    temp[lab == GRILLE] += 4 + 18.0 * heat * (v.engine == "front")
    temp[glass] -= 7.0
    temp[lab == TYRE] += 9.0 * heat
    temp[lab == RIM] += 6.0 * heat
    temp[lab == CARGO] += 0.0 if dark else 2.0
    exhaust = veh & (np.hypot(np.hypot(x + v.L / 2, p[:, 1] - 0.3 * v.W), p[:, 2] - v.clearance - 0.1) < 0.25)
    temp[exhaust] += 35.0 * heat
    temp[road] += (1.0 if dark else 9.0) + 4 * road_tex[road]
    temp[under] = Ta + 4.0 * heat
    temp[wall] += -3.0 + 4 * wall_tex[wall]
    # thermal cameras apply automatic gain: map the 1st..99th percentile to the grey range
    lo_t, hi_t = np.percentile(temp, [1, 99])
    span = max(hi_t - lo_t, 8.0) * rng.uniform(1.05, 1.25)
    tir_img = np.clip((temp - lo_t + rng.normal(0.05, 0.02) * span) / span, 0, 1)

    rgb = rgb.reshape(H, W, 3)
    nir_img = nir_img.reshape(H, W)
    tir_img = tir_img.reshape(H, W)

    # --- challenges that act in image space
    yy, xx = np.mgrid[0:H, 0:W]
    if ch == "glare":
        cy, cx = rng.uniform(0.1, 0.9) * H, rng.uniform(0.1, 0.9) * W
        rad = rng.uniform(0.25, 0.5) * W
        blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rad**2 / 4)))
        strength = rng.uniform(0.8, 1.3)
        rgb += strength * blob[..., None]
        nir_img += 0.3 * strength * blob
    if ch == "shadow":
        ang = rng.uniform(0, 2 * np.pi)
        side = (xx / W - rng.uniform(0.3, 0.7)) * np.cos(ang) + (yy / H - 0.5) * np.sin(ang) > 0
        rgb[side] *= 0.33
        nir_img[side] *= 0.85
        tir_img[side] = np.clip(tir_img[side] - 0.03, 0, 1)
    if ch == "occlusion":
        frac = rng.uniform(0.18, 0.38)
        kind = rng.integers(0, 3)
        if kind == 0:
            m = xx < frac * W
        elif kind == 1:
            m = xx >= (1 - frac) * W
        else:
            m = yy >= (1 - frac) * H
        rgb[m] = rng.uniform(0.05, 0.8, 3) * (0.3 if dark else 1.0)
        nir_img[m] = rng.uniform(0.1, 0.8)
        tir_img[m] = np.clip(rng.uniform(0.15, 0.5), 0, 1)

    # sensor noise: relative noise grows in the dark (gain)
    rgb += rng.normal(0, 0.012 + (0.03 if dark else 0.0), rgb.shape)
    nir_img += rng.normal(0, 0.02, nir_img.shape)
    # TIR: 640x480 sensor against 1920x1080 -> one third of the resolution, blurred
    tir_img = _low_res(tir_img, 3, blur=0.6 + 0.01 * W)
    tir_img += rng.normal(0, 0.008, tir_img.shape)

    rgb = np.clip(rgb, 0, 1)
    nir3 = np.repeat(np.clip(nir_img, 0, 1)[..., None], 3, axis=2)
    tir3 = np.repeat(np.clip(tir_img, 0, 1)[..., None], 3, axis=2)
    if gap < 1.0:
        nir3 = (1 - gap) * rgb + gap * nir3
        tir3 = (1 - gap) * rgb + gap * tir3
    return {"rgb": rgb.astype(np.float32), "nir": nir3.astype(np.float32), "tir": tir3.astype(np.float32)}


def _low_res(img: np.ndarray, factor: int, blur: float) -> np.ndarray:
    """Area-downsample (H,W) float by ``factor``, upsample bilinear, Gaussian blur (pixels)."""
    H, W = img.shape
    im = Image.fromarray(img.astype(np.float32), mode="F")
    small = im.resize((max(1, W // factor), max(1, H // factor)), Image.BOX)
    up = np.asarray(small.resize((W, H), Image.BILINEAR), dtype=np.float64)
    return gaussian_filter(up, blur, mode="nearest")
