"""One capture = identity x camera (view, scene) x condition x small jitter."""
from __future__ import annotations

from dataclasses import dataclass

CHALLENGES: tuple[str, ...] = ("normal", "low_light", "night", "glare", "shadow", "occlusion")
DEFAULT_CHALLENGE_MIX: dict[str, float] = {
    "normal": 0.45,
    "low_light": 0.12,
    "night": 0.15,
    "glare": 0.1,
    "shadow": 0.1,
    "occlusion": 0.08,
}


@dataclass(frozen=True)
class Capture:
    """Everything that varies between two images of the same identity.

    ``yaw`` (degrees) is the vehicle heading relative to the camera azimuth: 0 shows the
    front, 90 the left side, 180 the rear. ``orientation`` = round(yaw / 45) mod 8.
    ``elevation`` (degrees) is the camera's angle above the horizon (UAV: 55-90).
    ``heat`` scales engine/tyre/exhaust temperatures (a car that just arrived is hotter).
    ``key`` is the per-capture RNG key: ``np.random.default_rng(key)`` draws noise and jitter.
    """

    pid: int
    split: str  # train / query / gallery
    cam: int
    scene: int
    track: int  # tracklet index within the identity (consecutive frames of one pass)
    frame: int
    yaw: float
    elevation: float
    challenge: str
    heat: float
    key: tuple[int, ...]

    @property
    def orientation(self) -> int:
        return int(round((self.yaw % 360.0) / 45.0)) % 8

    @property
    def daynight(self) -> str:
        return "night" if self.challenge == "night" else "day"
