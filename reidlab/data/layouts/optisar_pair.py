"""The public TransOSS pre-training pair layout ``OptiSar_Pair/`` (not a re-ID dataset: no splits).

Tree (pass ``OptiSar_Pair/`` or its parent)::

    OptiSar_Pair/<folder>/<prefix>_<loc>_..._RGB.{tif,png}
    OptiSar_Pair/<folder>/<prefix>_<loc>_..._SAR.{tif,png}

As the public loader (``datasets/pretrain.py``): the location id is the second ``_`` field of the
file name, the modality the last one (``RGB`` / ``SAR``); every optical image is paired with every
SAR image of the same location. Locations with only one modality give no pair (counted in
``OptiSarPairs.unpaired``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reidlab.data.errors import LayoutError

EXTS = (".tif", ".tiff", ".png")


@dataclass(frozen=True)
class OptiSarPair:
    """One optical / SAR pair of location ``loc`` (absolute paths)."""

    rgb: str
    sar: str
    loc: int


@dataclass
class OptiSarPairs:
    root: Path
    pairs: list[OptiSarPair]
    unpaired: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def locations(self) -> list[int]:
        return sorted({p.loc for p in self.pairs})


def list_optisar_pairs(root: str | Path) -> OptiSarPairs:
    """List the pairs under ``root`` (``OptiSar_Pair/`` or a folder holding it)."""
    root = Path(root)
    base = root / "OptiSar_Pair" if (root / "OptiSar_Pair").is_dir() else root
    if not base.is_dir():
        raise LayoutError(f"{root} is not a folder; expected OptiSar_Pair/<folder>/<x>_<loc>_..._RGB.png / _SAR.tif")
    rgb: dict[int, list[str]] = {}
    sar: dict[int, list[str]] = {}
    for f in sorted(base.glob("*/*")):
        if f.suffix.lower() not in EXTS:
            continue
        parts = f.stem.split("_")
        if len(parts) < 3 or not parts[1].isdigit() or parts[-1] not in ("RGB", "SAR"):
            raise LayoutError(
                f"cannot parse pre-training pair file {str(f)!r}: expected <prefix>_<location id>_..._RGB|SAR"
                f"{{.tif,.png}} (e.g. pair_100001_RGB.png); rename or remove it")
        (rgb if parts[-1] == "RGB" else sar).setdefault(int(parts[1]), []).append(str(f))
    if not rgb and not sar:
        raise LayoutError(f"{base} holds no <folder>/*_RGB / *_SAR images")
    pairs = [OptiSarPair(o, s, loc) for loc in sorted(rgb) if loc in sar for o in rgb[loc] for s in sar[loc]]
    unpaired = len(set(rgb) ^ set(sar))
    out = OptiSarPairs(base, pairs, unpaired)
    if unpaired:
        out.warnings.append(f"optisar_pair: {unpaired} location(s) hold only one modality and give no pair")
    if not pairs:
        raise LayoutError(f"{base}: no location holds both an _RGB and a _SAR image")
    return out
