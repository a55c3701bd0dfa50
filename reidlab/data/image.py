"""Decoding one modality image into an RGB PIL image.

- JPEG/PNG/BMP: decoded by PIL and converted to RGB (greyscale NIR/TIR -> 3 equal channels).
- TIFF (HOSS): read by ``tifffile``; 8-bit data are used as is, anything else (SAR 32-bit
  float amplitudes, 16-bit) is scaled ``x / max * 255`` to uint8 (NaN/inf -> 0, negative
  -> 0); one channel -> 3 equal channels.
- ``ImageRef.box`` (left, top, right, bottom) is then cropped (side-by-side files).

Every failure raises :class:`ImageError` naming the file.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from reidlab.data.errors import ImageError
from reidlab.data.records import ImageRef, Record

if TYPE_CHECKING:
    from PIL import Image as PILImage

TIFF_EXTS = (".tif", ".tiff")


def _fail(path: str, exc: BaseException) -> ImageError:
    return ImageError(
        f"cannot decode image {path!r} ({type(exc).__name__}: {exc}). The file is corrupt, "
        "truncated or not an image: replace or delete it, or load with skip_corrupt=True."
    )


def _tiff_to_uint8(arr: np.ndarray) -> np.ndarray:
    """(H, W[, C]) array of any dtype -> uint8 (H, W, 3)."""
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) storage
    if arr.dtype != np.uint8:
        a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        a = np.clip(a, 0.0, None)
        peak = a.max()
        arr = (a / peak * 255.0).round().astype(np.uint8) if peak > 0 else np.zeros(a.shape, np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    elif arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"unsupported TIFF array shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _read_tiff(path: str) -> "PILImage.Image":
    import tifffile
    from PIL import Image

    arr = tifffile.imread(path)
    return Image.fromarray(_tiff_to_uint8(np.asarray(arr)), mode="RGB")


def load_image(ref: ImageRef) -> "PILImage.Image":
    """Decode ``ref`` to an RGB ``PIL.Image`` (size = the crop box's size when ``ref.box``)."""
    from PIL import Image

    path = ref.path
    try:
        if path.lower().endswith(TIFF_EXTS):
            img = _read_tiff(path)
        else:
            with Image.open(path) as im:
                im.load()
                img = im.convert("RGB")
    except FileNotFoundError:
        raise ImageError(f"image {path!r} does not exist (moved or deleted since the dataset was listed)") from None
    except Exception as exc:  # PIL / tifffile raise many types for bad data
        raise _fail(path, exc) from exc
    if ref.box is not None:
        l, t, r, b = ref.box
        w, h = img.size
        if not (0 <= l < r <= w and 0 <= t < b <= h):
            raise ImageError(
                f"crop box {ref.box} lies outside {path!r} ({w}x{h} pixels): the file changed since "
                "the dataset was listed; reload the dataset."
            )
        img = img.crop(ref.box)
    return img


def load_modalities(record: Record) -> dict[str, "PILImage.Image"]:
    """``{modality: RGB PIL image}`` for every image of ``record`` (canonical modality order)."""
    return {m: load_image(record.images[m]) for m in record.modalities}


def check_file(path: str, *, full: bool = False) -> None:
    """Raise :class:`ImageError` if ``path`` cannot be opened (``full``: fully decoded)."""
    from PIL import Image

    if not os.path.isfile(path):
        raise ImageError(f"image {path!r} does not exist")
    try:
        if path.lower().endswith(TIFF_EXTS):
            import tifffile

            if full:
                _tiff_to_uint8(np.asarray(tifffile.imread(path)))
            else:
                with tifffile.TiffFile(path) as tf:
                    tf.pages[0].shape  # noqa: B018 - parses the first IFD
        else:
            with Image.open(path) as im:
                if full:
                    im.load()
    except Exception as exc:
        raise _fail(path, exc) from exc
