"""Render ships seen from orbit: an optical chip (deck from above, sea, wake) and a SAR chip.

Both are computed per pixel in the ship's own frame (u along the hull, bow = +u; v across),
rotated by the capture's heading (``Capture.yaw``, degrees in the image plane).

- Optical: sea colour and waves of the scene, hull with tapered bow, deck colour, white
  superstructure casting a shadow, deck cargo blocks (per identity), a foam wake behind the
  stern when the ship is moving; ``cloud`` and ``glint`` challenges.
- SAR: backscatter map (dark sea clutter, hull, bright double-bounce hull edge, very bright
  superstructure and per-ID corner reflectors with cross-shaped side lobes) where anything tall
  is displaced towards the sensor by ``height / tan(incidence)`` (layover-like), at another
  ground resolution, times gamma speckle (1-3 looks). Linear intensity, float32.
"""
from __future__ import annotations

import numpy as np

from reidlab.data.synth.capture import Capture
from reidlab.data.synth.identity import ShipIdentity


def _frame(s: ShipIdentity, cap: Capture, size: tuple[int, int], metres: float, rng: np.random.Generator):
    """Pixel grid -> ship coordinates (u, v) in metres and world (x, y)."""
    H, W = size
    mpp = metres / W  # metres per pixel
    off = rng.normal(0, 0.04, 2) * metres
    x = (np.arange(W) + 0.5 - W / 2) * mpp + off[0]
    y = (np.arange(H) + 0.5 - H / 2) * mpp + off[1]
    X, Y = np.meshgrid(x, y)
    h = np.radians(cap.yaw)
    u = X * np.cos(h) + Y * np.sin(h)
    v = -X * np.sin(h) + Y * np.cos(h)
    return X, Y, u, v, mpp


def _hull(s: ShipIdentity, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hull mask and the half-beam at each u (metres)."""
    L, B = s.length, s.beam
    bow = np.clip((L / 2 - u) / (s.bow * L), 0, 1) ** 0.6
    stern = np.clip((u + L / 2) / (0.04 * L), 0.75, 1)
    half = B / 2 * bow * stern
    return (np.abs(u) <= L / 2) & (np.abs(v) <= half), half


def _boxes_mask(s: ShipIdentity, u, v):
    """Superstructure mask and (mask, rgb) of deck blocks."""
    L, B = s.length, s.beam
    sup = (np.abs(u - s.super_pos * L) < s.super_len * L / 2) & (np.abs(v) < 0.4 * B)
    blocks = [((np.abs(u - bu * L) < du * L / 2) & (np.abs(v - bv * B) < dv * B / 2), rgb) for bu, bv, du, dv, rgb in s.blocks]
    return sup, blocks


def _sea_scene(seed: int, scene: int) -> dict:
    rng = np.random.default_rng([seed, 22, scene])
    return dict(
        sea=np.array([0.05, 0.12, 0.2]) * rng.uniform(0.7, 1.4) + rng.normal(0, 0.02, 3),
        wave_dir=rng.uniform(0, np.pi),
        wave_k=rng.uniform(0.15, 0.6),
        clutter=rng.uniform(0.01, 0.04),
        sun=rng.uniform(0, 2 * np.pi),
    )


def render_optical(s: ShipIdentity, cap: Capture, size: tuple[int, int], *, seed: int) -> np.ndarray:
    """Optical chip (H, W, 3) float32 in [0, 1]: the deck from above on a textured sea."""
    rng = np.random.default_rng(cap.key + (1,))
    sc = _sea_scene(seed, cap.scene)
    X, Y, u, v, mpp = _frame(s, cap, size, s.length * rng.uniform(1.25, 1.5), rng)
    a = sc["wave_dir"]
    along = X * np.cos(a) + Y * np.sin(a)
    waves = 0.5 + 0.5 * np.sin(sc["wave_k"] * along + rng.uniform(0, 6.3)) * np.sin(0.37 * sc["wave_k"] * (Y * np.cos(a) - X * np.sin(a)))
    img = sc["sea"][None, None, :] * (0.85 + 0.3 * waves[..., None])
    img = img + rng.normal(0, 0.01, img.shape)
    hull, half = _hull(s, u, v)
    L, B = s.length, s.beam
    moving = (cap.key[-1] + cap.pid) % 3 != 0  # two passes in three catch it under way
    if moving:
        behind = -L / 2 - u
        spread = half.max() + 0.22 * np.maximum(behind, 0)
        wake = (behind > 0) & (np.abs(v) < spread)
        foam = np.exp(-behind / (0.9 * L)) * (0.6 + 0.4 * rng.random(u.shape)) * (1 - 0.5 * np.abs(v) / np.maximum(spread, 1e-6))
        img += np.where(wake, 0.55 * foam, 0.0)[..., None]
    deck = np.array(s.deck_rgb)
    img[hull] = deck
    rim = hull & (np.abs(v) > half - max(0.08 * B, 1.5 * mpp))
    img[rim] = deck * 0.45
    sup, blocks = _boxes_mask(s, u, v)
    # superstructure shadow: the same footprint shifted along the sun azimuth
    sh = max(3.0, 0.6 * s.super_h)
    su, sv = np.cos(sc["sun"]) * sh, np.sin(sc["sun"]) * sh
    shadow, _ = _boxes_mask(s, u - su, v - sv)
    img[shadow & hull & ~sup] *= 0.45
    for m, rgb in blocks:
        img[m & hull] = rgb
    img[sup & hull] = np.array([0.86, 0.86, 0.84])
    img[sup & hull & (np.abs(u - s.super_pos * L) < 0.15 * s.super_len * L)] = 0.6  # bridge windows band
    if cap.challenge == "cloud":
        cy, cx = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
        cloud = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (rng.uniform(0.3, 0.6) * size[1]) ** 2))
        img = img * (1 - 0.8 * cloud[..., None]) + 0.85 * 0.8 * cloud[..., None]
    elif cap.challenge == "glint":
        img += (rng.random(size) < 0.04)[..., None] * rng.uniform(0.4, 0.9)
    img += rng.normal(0, 0.015, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def render_sar(s: ShipIdentity, cap: Capture, size: tuple[int, int], *, seed: int, gap: float = 1.0) -> np.ndarray:
    """SAR chip (H, W) float32 linear intensity (sea ~0.02, reflectors up to ~50).

    The sensor looks from the image's -x side; tall parts shift towards it by
    ``height / tan(incidence)`` metres (``Capture.elevation`` is the incidence angle, degrees).
    With ``gap < 1`` the chip is blended towards the optical chip's luminance (gap 0: identical).
    """
    rng = np.random.default_rng(cap.key + (2,))
    sc = _sea_scene(seed, cap.scene)
    metres = s.length * rng.uniform(1.3, 1.6)
    X, Y, u, v, mpp = _frame(s, cap, size, metres, rng)
    tan_inc = np.tan(np.radians(cap.elevation))
    h = np.radians(cap.yaw)

    def shifted(height: float):
        # a point at `height` appears displaced by -d along x: sample the scene at x + d
        d = height / tan_inc
        Xs = X + d
        return Xs * np.cos(h) + Y * np.sin(h), -Xs * np.sin(h) + Y * np.cos(h)

    clutter = sc["clutter"] * (0.6 + 0.8 * rng.random(u.shape))
    sigma = clutter.copy()
    hull, half = _hull(s, u, v)
    sigma[hull] = 0.25
    edge = hull & (np.abs(v) > half - 2.0 * mpp)
    sigma[edge] = 1.2  # hull-sea double bounce
    us, vs = shifted(0.5 * s.super_h)
    sup, _ = _boxes_mask(s, us, vs)
    sup &= _hull(s, us, vs)[0]
    sigma[sup] = np.maximum(sigma[sup], 3.0)
    ub, vb = shifted(3.0)
    for m, _rgb in _boxes_mask(s, ub, vb)[1]:
        sigma[m & _hull(s, ub, vb)[0]] = np.maximum(sigma[m & _hull(s, ub, vb)[0]], 1.0)
    # corner reflectors: bright points with cross-shaped side lobes (unweighted sinc)
    H, W = size
    yy, xx = np.mgrid[0:H, 0:W]
    for ru, rv, rh, rs in s.reflectors:
        pu, pv = ru * s.length, rv * 2 * half.max() if half.max() > 0 else 0.0
        px = pu * np.cos(h) - pv * np.sin(h) - rh / tan_inc
        py = pu * np.sin(h) + pv * np.cos(h)
        cx, cy = px / mpp + W / 2 - 0.5, py / mpp + H / 2 - 0.5
        dx, dy = xx - cx, yy - cy
        lobe = np.sinc(dx / 0.9) ** 2 * np.exp(-(dy**2) / 0.8) + np.sinc(dy / 0.9) ** 2 * np.exp(-(dx**2) / 0.8)
        sigma += rs * 0.5 * lobe
    looks = int(rng.integers(1, 4))
    sar = sigma * rng.gamma(looks, 1.0 / looks, size)
    if gap < 1.0:
        opt = render_optical(s, cap, size, seed=seed)
        lum = opt @ np.array([0.299, 0.587, 0.114])
        sar = (1 - gap) * lum + gap * sar
    return sar.astype(np.float32)
