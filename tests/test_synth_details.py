"""Per-ID details (generator version 2): deterministic, and visible as geometry in RGB *and* NIR."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reidlab.data.synth.capture import Capture
from reidlab.data.synth.identity import sample_vehicle
from reidlab.data.synth.render_vehicle import render_vehicle


def _same_paint_pair(a: int, b: int, detail_ids: bool):
    va = sample_vehicle(0, a, detail_ids=detail_ids)
    vb = sample_vehicle(0, b, detail_ids=detail_ids)
    # same colour and same NIR paint: whatever still differs is geometry and detail
    return va, replace(vb, rgb=va.rgb, colour=va.colour, nir_paint=va.nir_paint)


def _diff(va, vb) -> np.ndarray:
    out = []
    for yaw in (30.0, 90.0, 150.0):
        cap = Capture(va.pid, "train", 0, 0, 0, 0, yaw, 10.0, "normal", 1.0, (0, 1, va.pid, int(yaw)))
        ia, ib = render_vehicle(va, cap, (32, 64), seed=0), render_vehicle(vb, cap, (32, 64), seed=0)
        out.append([np.abs(ia[m] - ib[m]).mean() for m in ("rgb", "nir")])
    return np.mean(out, axis=0)


def test_details_deterministic():
    assert sample_vehicle(3, 17) == sample_vehicle(3, 17)
    v = sample_vehicle(3, 17)
    cap = Capture(17, "query", 2, 1, 0, 0, 60.0, 12.0, "night", 1.1, (3, 1, 17, 5))
    a, b = render_vehicle(v, cap, (32, 64), seed=3), render_vehicle(v, cap, (32, 64), seed=3)
    assert all(np.array_equal(a[m], b[m]) for m in a)
    # the details come from their own stream: switching them off leaves the version-1 draws alone
    off = sample_vehicle(3, 17, detail_ids=False)
    assert (off.type, off.colour, off.rgb, off.L, off.W, off.heat) == (v.type, v.colour, v.rgb, v.L, v.W, v.heat)
    assert off.decals == () and off.light_f != v.light_f


def test_two_ids_of_one_type_differ_in_geometry_in_rgb_and_nir():
    pids = [p for p in range(1, 200) if sample_vehicle(0, p).type == "sedan"][:8]
    on = np.array([_diff(*_same_paint_pair(a, b, True)) for a, b in zip(pids[::2], pids[1::2])])
    off = np.array([_diff(*_same_paint_pair(a, b, False)) for a, b in zip(pids[::2], pids[1::2])])
    assert (on > 0.03).all()  # every pair differs visibly in both spectra with identical paint
    assert (on.mean(0) > 1.3 * off.mean(0)).all()  # and the details add to the version-1 shape jitter


def test_detail_scale_stretches_geometry_and_keeps_the_draws():
    v1, v2, v0 = (sample_vehicle(0, 23, detail_scale=s) for s in (1.0, 2.0, 0.0))
    assert v1 == sample_vehicle(0, 23)  # 1 is version 2 exactly
    # categorical details and materials are the same draws at every scale
    for v in (v2, v0):
        assert (v.roof, v.mirrors, v.antenna, v.light_split, v.rim_spokes, len(v.decals)) == \
               (v1.roof, v1.mirrors, v1.antenna, v1.light_split, v1.rim_spokes, len(v1.decals))
    # geometry: deviation from the middle of the lamp band range doubles / vanishes
    mid = (0.45 + 0.7) / 2
    assert abs(v2.light_f[0] - mid) == pytest.approx(2 * abs(v1.light_f[0] - mid))
    assert v0.light_f[0] == pytest.approx(mid)
    # across IDs of one type the spread of the cabin height grows with the scale
    pids = [p for p in range(1, 300) if sample_vehicle(0, p).type == "sedan"][:30]
    spread = [np.std([sample_vehicle(0, p, detail_scale=s).cabin[2] for p in pids]) for s in (0.0, 1.0, 2.0)]
    assert spread[0] < spread[1] < spread[2]


def test_detail_scale_is_validated():
    from reidlab.data.synth import resolve_params

    with pytest.raises(ValueError, match="detail_scale"):
        resolve_params("rgbn300", "smoke", 0, {"detail_scale": -1.0})
    assert resolve_params("rgbn300", "smoke", 0, {})["detail_scale"] == 1.0
