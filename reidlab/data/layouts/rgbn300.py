"""RGBN300 (AAAI 2020): RGB + NIR aligned, stored side by side (each file 2 x 256 by 128).

See :mod:`reidlab.data.layouts._sidebyside` for the tree, the name pattern and the junk rule.
Splits: ``train`` (bounding_box_train), ``query``, ``gallery`` (bounding_box_test).
"""
from __future__ import annotations

from reidlab.data.layouts._sidebyside import SideBySideLayout, tree
from reidlab.data.registry import register_dataset


@register_dataset("rgbn300")
class RGBN300(SideBySideLayout):
    modalities = ("rgb", "nir")
    expected_tree = tree("RGBN300", 2, "RGB | NIR")
