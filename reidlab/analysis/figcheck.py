"""Checks that a figure is laid out for reading: a sane size and no empty subplot.

* :func:`figure_problems` / :func:`check_figure` — on a live matplotlib figure: its size in
  inches is within bounds and every axes draws something (an image, a line, a scatter, a
  bar, a text...). An axes switched off with nothing in it is the typical "half-empty panel".
* :func:`png_problems` / :func:`check_png` — on a saved PNG: pixel size within bounds, not a
  blank canvas, and no wide blank band (a horizontal or vertical run of background rows /
  columns over ``max_band`` of the image), nor blank rows / columns adding up to over
  ``max_blank`` of it (the gaps between badly-sized subplot rows).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _draws_something(ax: Any) -> bool:
    return bool(ax.images or ax.lines or ax.collections or ax.patches or ax.texts or ax.tables or ax.artists
                or any(getattr(c, "get_visible", lambda: False)() for c in ax.child_axes))


def figure_problems(fig: Any, *, min_in: tuple[float, float] = (2.0, 1.5),
                    max_in: tuple[float, float] = (30.0, 40.0)) -> list[str]:
    """What is wrong with ``fig`` (empty list: nothing). Sizes are (width, height) in inches."""
    probs = []
    w, h = fig.get_size_inches()
    if not (min_in[0] <= w <= max_in[0] and min_in[1] <= h <= max_in[1]):
        probs.append(f"size {w:.1f}x{h:.1f} in outside {min_in}..{max_in}")
    for k, ax in enumerate(fig.axes):
        if not _draws_something(ax):
            where = ax.get_title() or f"axes {k}"
            probs.append(f"empty subplot: {where} ({'hidden' if not ax.axison else 'visible'} axes, nothing drawn)")
    if not fig.axes:
        probs.append("the figure has no axes")
    return probs


def check_figure(fig: Any, **bounds: Any) -> None:
    """Raise AssertionError listing :func:`figure_problems` when there are any."""
    probs = figure_problems(fig, **bounds)
    if probs:
        raise AssertionError("figure not fit for reading: " + "; ".join(probs))


def _background_runs(mask: np.ndarray) -> int:
    """Longest run of True in a 1-D boolean array."""
    best = run = 0
    for v in mask:
        run = run + 1 if v else 0
        best = max(best, run)
    return best


def png_problems(path: str | Path, *, min_px: tuple[int, int] = (200, 150), max_px: tuple[int, int] = (6000, 8000),
                 max_band: float = 0.2, max_blank: float = 0.35) -> list[str]:
    """What is wrong with a saved PNG: size, blank canvas, one blank band over ``max_band`` of
    it, or blank rows (columns) adding up to over ``max_blank`` of the height (width) between
    the outer margins (several smaller bands, e.g. between every row of panels)."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.int16)
    h, w = arr.shape[:2]
    probs = []
    if not (min_px[0] <= w <= max_px[0] and min_px[1] <= h <= max_px[1]):
        probs.append(f"{w}x{h} px outside {min_px}..{max_px}")
    bg = arr[0, 0]
    blank = np.all(np.abs(arr - bg) <= 3, axis=2)
    if blank.all():
        return probs + ["blank image"]
    rows, cols = blank.all(axis=1), blank.all(axis=0)
    # the outer margins are not bands between panels: trim them first
    r0, r1 = np.argmin(rows), h - np.argmin(rows[::-1])
    c0, c1 = np.argmin(cols), w - np.argmin(cols[::-1])
    band_r, band_c = _background_runs(rows[r0:r1]), _background_runs(cols[c0:c1])
    if band_r > max_band * (r1 - r0):
        probs.append(f"blank horizontal band of {band_r} px ({band_r / (r1 - r0):.0%} of the height)")
    if band_c > max_band * (c1 - c0):
        probs.append(f"blank vertical band of {band_c} px ({band_c / (c1 - c0):.0%} of the width)")
    blank_r, blank_c = rows[r0:r1].mean(), cols[c0:c1].mean()
    if blank_r > max_blank:
        probs.append(f"{blank_r:.0%} of the rows between the margins are blank")
    if blank_c > max_blank:
        probs.append(f"{blank_c:.0%} of the columns between the margins are blank")
    return probs


def check_png(path: str | Path, **bounds: Any) -> None:
    """Raise AssertionError naming ``path`` and its :func:`png_problems` when there are any."""
    probs = png_problems(path, **bounds)
    if probs:
        raise AssertionError(f"{path}: " + "; ".join(probs))
