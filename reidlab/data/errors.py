"""Errors raised on bad dataset input.

Every message names the offending file or folder and says how to fix it. All derive from
:class:`DataError`, itself a :class:`ValueError`, so callers may catch either.
"""
from __future__ import annotations

from typing import Iterable


class DataError(ValueError):
    """Base class: the data on disk does not match what the loader expects."""


class LayoutError(DataError):
    """A root or split folder is missing, empty, or not the documented tree."""


class FilenameError(DataError):
    """A file name does not parse with the layout's pattern."""


class UnpairedModalityError(DataError):
    """An aligned capture lacks one of its modality files."""


class ImageError(DataError):
    """An image is corrupt, unreadable, or has an impossible size (e.g. side-by-side width)."""


class LabelRangeError(DataError):
    """An identity or camera number lies outside the range the dataset defines."""


class DataWarning(UserWarning):
    """Category for non-fatal dataset problems (e.g. query IDs absent from the gallery)."""


def first_few(items: Iterable[object], n: int = 5) -> str:
    """``'a, b, c (+12 more)'``: a short list for error messages."""
    items = list(items)
    head = ", ".join(str(x) for x in items[:n])
    return head + (f" (+{len(items) - n} more)" if len(items) > n else "")
