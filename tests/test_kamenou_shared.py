"""Kamenou ``shared_streams``: one backbone instance for both modalities (learnability baseline)."""
from __future__ import annotations

from reidlab.methods.kamenou import KAMENOU_CONFIG, Kamenou


def test_shared_streams_share_one_backbone():
    cfg = dict(KAMENOU_CONFIG, backbone="resnet10t", pretrained=False, last_stride=1)
    shared = Kamenou(5, ("rgb", "nir"), dict(cfg, shared_streams=True))
    split = Kamenou(5, ("rgb", "nir"), cfg)
    assert shared.streams["rgb"] is shared.streams["nir"]
    assert split.streams["rgb"] is not split.streams["nir"]
    n = lambda m: sum(p.numel() for p in m.streams.parameters())  # noqa: E731
    assert 2 * n(shared) == n(split)
