"""Images for looking at (figures, browsers), not for models.

SAR chips stored as 32-bit float TIFF are decoded for models as the paper does (``/max x 255`` to
uint8, :func:`reidlab.data.image.load_image`): with a few bright scatterers setting the max, the
rest of the chip is black. :func:`display_image` shows SAR chips contrast-stretched instead, from
their raw values; every other modality is shown as the model sees it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reidlab.data.image import TIFF_EXTS, load_image
from reidlab.data.records import ImageRef

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

__all__ = ["display_image", "sar_display"]


def _raw_grey(ref: ImageRef) -> np.ndarray:
    """(H, W) float64 of the stored values: a TIFF as stored (NaN/Inf -> 0, channels averaged),
    anything else as the decoded grey image; cropped to ``ref.box``."""
    if ref.path.lower().endswith(TIFF_EXTS):
        import tifffile

        load_image(ref)  # the same checks and clear errors as the model's decoding (missing file, bad box)
        a = np.nan_to_num(np.asarray(tifffile.imread(ref.path), dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if a.ndim == 3:
            a = a.mean(axis=-1 if a.shape[-1] in (1, 3, 4) else 0)
        if ref.box is not None:
            l, t, r, b = ref.box
            a = a[t:b, l:r]
        return a
    return np.asarray(load_image(ref).convert("L"), dtype=np.float64)


def sar_display(ref: ImageRef, lo: float = 1.0, hi: float = 99.0) -> "PILImage.Image":
    """A SAR chip contrast-stretched for display: raw values mapped linearly from their ``lo``..``hi``
    percentiles to 0..255 (clipped), grey -> RGB. A constant chip gives a black image.

    Parameters
    ----------
    ref : ImageRef
        The chip (a 32-bit TIFF is read as stored, before the model's ``/max x 255``).
    lo, hi : float
        Percentiles (0-100) mapped to black and white.
    """
    from PIL import Image

    a = _raw_grey(ref)
    p_lo, p_hi = np.percentile(a, [lo, hi])
    if p_hi <= p_lo:
        p_lo, p_hi = float(a.min()), float(a.max())
    g = np.zeros(a.shape, np.uint8) if p_hi <= p_lo else \
        np.clip((a - p_lo) / (p_hi - p_lo) * 255.0, 0, 255).round().astype(np.uint8)
    return Image.fromarray(np.repeat(g[..., None], 3, axis=-1), mode="RGB")


def display_image(ref: ImageRef, modality: str) -> "PILImage.Image":
    """The RGB PIL image to show for ``ref`` of ``modality``: SAR contrast-stretched (:func:`sar_display`),
    other modalities as decoded for the model."""
    return sar_display(ref) if modality == "sar" else load_image(ref)
