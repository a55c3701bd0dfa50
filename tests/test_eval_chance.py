"""Chance mAP: exact formula against enumeration and a seeded Monte Carlo."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from reidlab.data.synth.properties import average_precision
from reidlab.eval.chance import chance_ap, chance_map


def test_chance_ap_matches_enumeration():
    for n, r in ((4, 1), (5, 2), (6, 3), (5, 5)):
        aps = []
        for pos in itertools.combinations(range(n), r):  # every placement of the positives
            match = np.zeros(n, bool)
            match[list(pos)] = True
            aps.append(average_precision(np.arange(n, dtype=float), match))
        assert chance_ap(r, n) == pytest.approx(np.mean(aps), abs=1e-12)


def test_chance_map_matches_monte_carlo_and_validates():
    rng = np.random.default_rng(0)
    match = np.zeros(200, bool)
    match[:8] = True
    mc = np.mean([average_precision(rng.random(200), match) for _ in range(4000)])
    assert chance_map([8], 200) == pytest.approx(mc, rel=0.05)
    assert chance_map([1, 8], [200, 200]) == pytest.approx((chance_ap(1, 200) + chance_ap(8, 200)) / 2)
    with pytest.raises(ValueError, match="n_pos"):
        chance_ap(0, 10)
