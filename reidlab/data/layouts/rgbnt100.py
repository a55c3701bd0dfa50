"""RGBNT100 (AAAI 2020): RGB + NIR + TIR aligned, side by side (each file 3 x 256 by 128).

See :mod:`reidlab.data.layouts._sidebyside` for the tree, the name pattern and the junk rule.
Splits: ``train`` (bounding_box_train), ``query``, ``gallery`` (bounding_box_test).
"""
from __future__ import annotations

from reidlab.data.layouts._sidebyside import SideBySideLayout, tree
from reidlab.data.registry import register_dataset


@register_dataset("rgbnt100")
class RGBNT100(SideBySideLayout):
    modalities = ("rgb", "nir", "tir")
    expected_tree = tree("RGBNT100", 3, "RGB | NIR | TIR")
