"""Claim checking: chance levels against Monte Carlo, bootstrap deltas on hand-built per-query tables."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from reidlab.analysis import claims as C
from reidlab.eval.chance import chance_ap_array, chance_rank_k
from reidlab.methods.specs import Claim, TableRow, TableSpec


def _mc_ap(r: int, n: int, trials: int = 20000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    tot = 0.0
    for _ in range(trials):
        pos = np.sort(rng.choice(n, size=r, replace=False)) + 1  # ranks of the positives
        tot += np.mean(np.arange(1, r + 1) / pos)
    return tot / trials


@pytest.mark.parametrize("r,n", [(1, 1), (1, 10), (2, 10), (4, 40), (5, 5), (3, 200)])
def test_chance_ap_matches_monte_carlo(r, n):
    exact = chance_ap_array(r, n)
    assert exact == pytest.approx(_mc_ap(r, n), abs=0.01)


def test_chance_ap_hand_cases():
    assert chance_ap_array(1, 2) == pytest.approx(0.75)        # (1 + 1/2) / 2
    assert chance_ap_array(2, 2) == pytest.approx(1.0)
    assert chance_ap_array(1, 3) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    np.testing.assert_allclose(chance_ap_array(np.array([1, 2]), np.array([2, 2])), [0.75, 1.0])
    assert np.isnan(chance_ap_array(0, 5))
    with pytest.raises(ValueError):
        chance_ap_array(3, 2)


def test_chance_rank_k():
    assert chance_rank_k(1, 10, 1) == pytest.approx(0.1)
    assert chance_rank_k(2, 4, 2) == pytest.approx(1 - 1 / 6)   # 1 - C(2,2)/C(4,2)
    assert chance_rank_k(3, 4, 2) == pytest.approx(1.0)


def _result(ap, n_pos=None, n_junk=None, n_gallery=10, query_split="query", keys="rgb"):
    q = len(ap)
    pq = pd.DataFrame({"query": np.arange(q), "key": [keys] * q, "ap": ap, "inp": ap,
                       "first_hit": np.where(np.asarray(ap) >= 1.0, 1.0, 2.0),
                       "n_pos": n_pos if n_pos is not None else [1] * q, "n_junk": n_junk if n_junk is not None else [0] * q})
    return types.SimpleNamespace(per_query=pq, summary={"n_gallery": n_gallery, "query_split": query_split})


SPEC = TableSpec(name="t", dataset="rgbn300", columns=("rgbn300/rgb2nir", "rgbn300/rgb-nir"),
                 rows=(TableRow("A", "kamenou"), TableRow("B", "kamenou")))


class _Fake(C.ClaimChecker):
    def __init__(self, results, **kw):
        super().__init__(SPEC, {"A": "/a", "B": "/b"}, **kw)
        self._r = results

    def result(self, label, protocol):
        return self._r[(label, protocol)]


def test_greater_paired_detects_a_consistent_gain_and_not_noise():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.9, 200)
    res = {("A", "rgbn300/rgb2nir"): _result(np.clip(base + 0.05, 0, 1)), ("B", "rgbn300/rgb2nir"): _result(base)}
    c = Claim(id="x", paper="p", text="A > B", kind="greater", a="A", b="B", protocol="rgbn300/rgb2nir")
    out = _Fake(res, n_boot=500).check_all([c], progress=False).iloc[0]
    assert out["paired"] and out["holds"] and out["delta"] == pytest.approx(0.05, abs=0.005)
    # reversed claim is reported as reversed, not as "holds"
    c2 = Claim(id="y", paper="p", text="B > A", kind="greater", a="B", b="A", protocol="rgbn300/rgb2nir")
    out2 = _Fake(res, n_boot=500).check_all([c2], progress=False).iloc[0]
    assert not out2["holds"] and out2["verdict"] == "reversed"
    # pure noise: CI includes 0
    res3 = {("A", "rgbn300/rgb2nir"): _result(rng.uniform(0, 1, 30)), ("B", "rgbn300/rgb2nir"): _result(rng.uniform(0, 1, 30))}
    out3 = _Fake(res3, n_boot=500).check_all([c], progress=False).iloc[0]
    assert out3["ci_low"] < 0 < out3["ci_high"] or not out3["holds"]


def test_ratio_and_above_chance():
    res = {("A", "rgbn300/rgb2nir"): _result([0.3] * 50 + [0.5] * 50, n_gallery=40),
           ("A", "rgbn300/rgb-nir"): _result([0.8] * 100)}
    ratio = Claim(id="r", paper="p", text="cross >= 0.3 x multi", kind="ratio", a="A", b="A",
                  protocol="rgbn300/rgb2nir", protocol_b="rgbn300/rgb-nir", factor=0.3)
    chance = Claim(id="c", paper="p", text="above chance", kind="above_chance", a="A", protocol="rgbn300/rgb2nir",
                   factor=3.0)
    out = _Fake(res, n_boot=300).check_all([ratio, chance], progress=False).set_index("id")
    assert out.loc["r", "delta"] == pytest.approx(0.4 - 0.24)
    assert bool(out.loc["r", "holds"])
    assert out.loc["c", "chance"] == pytest.approx(chance_ap_array(1, 40))
    assert bool(out.loc["c", "holds"])


def test_drop_greater_uses_query_attributes():
    q = 80
    night = np.arange(q) % 4 == 0
    ap_a = np.where(night, 0.2, 0.6)   # RGB drops 0.4 at night
    ap_b = np.where(night, 0.5, 0.6)   # NIR drops 0.1
    res = {("A", "rgbn300/rgb2nir"): _result(ap_a), ("B", "rgbn300/rgb2nir"): _result(ap_b)}
    chk = _Fake(res, n_boot=300)
    chk._attr_mask = lambda label, result, attr: pd.Series(  # type: ignore[method-assign]
        night, index=[f"{i}|rgb" for i in range(q)])
    c = Claim(id="d", paper="p", text="night hurts A more", kind="drop_greater", a="A", b="B",
              protocol="rgbn300/rgb2nir", attr="daynight=night")
    out = chk.check_all([c], progress=False).iloc[0]
    assert out["delta"] == pytest.approx(0.3) and out["holds"]


def test_missing_row_is_reported_not_dropped():
    c = Claim(id="m", paper="p", text="A > B", kind="greater", a="A", b="B", protocol="rgbn300/rgb2nir")
    chk = C.ClaimChecker(SPEC, {"A": "/a"})
    out = chk.check_all([c], progress=False).iloc[0]
    assert out["holds"] is None and out["verdict"].startswith("not run")
    js = C.claims_for_summary(chk.check_all([c], progress=False))
    assert js[0]["id"] == "m" and js[0]["holds"] is None


def test_gap_lower_paired_over_identities():
    from reidlab.eval.features import FeatureSet, SplitFeatures

    rng = np.random.default_rng(0)
    n_id, per = 20, 3

    def fs(offset):
        pid = np.repeat(np.arange(n_id), per)
        base = rng.normal(size=(n_id, 16))[pid]
        rgb = base + 0.1 * rng.normal(size=base.shape)
        nir = base + offset + 0.1 * rng.normal(size=base.shape)
        n = len(pid)
        sf = SplitFeatures(pid=np.concatenate([pid]), camid=np.zeros(n, int), scene=np.zeros(n, int),
                           index=np.arange(n), feats=np.concatenate([rgb, nir]).astype(np.float32),
                           record=np.concatenate([np.arange(n), np.arange(n)]),
                           key=np.array(["rgb"] * n + ["nir"] * n))
        return FeatureSet(dataset="rgbn300", splits={"gallery": sf}, meta={})

    small, big = fs(0.2), fs(2.0)
    chk = C.ClaimChecker(SPEC, {"A": "/a", "B": "/b"}, n_boot=100)
    chk._feats = {chk.runs["A"]: small, chk.runs["B"]: big}
    c = Claim(id="g", paper="p", text="A has the smaller gap", kind="gap_lower", a="A", b="B",
              protocol="rgbn300/rgb-nir", metric="centroid_distance")
    out = chk.check_all([c], progress=False).iloc[0]
    assert out["holds"] and out["value_a"] < out["value_b"]


def test_runner_summary_collects_claims(tmp_path):
    from reidlab.notebooks.runner import NotebookRun, SuiteSummary, summary_markdown

    c = {"id": "k.x", "paper": "p", "claim": "A > B", "holds": True, "delta": 0.1, "ci95": [0.05, 0.15],
         "verdict": "holds"}
    runs = [NotebookRun("03_modality_gap", "ok", 1.0, "o", {}, results={"claims": [c]}),
            NotebookRun("06_reproduce_tables", "ok", 1.0, "o", {}, results={"claims": [{**c, "id": "k.y"}]})]
    runs.append(NotebookRun("07_x", "ok", 1.0, "o", {}, results={"claims": [{**c, "holds": None, "verdict": "not run"}]}))
    s = SuiteSummary("smoke", 0, str(tmp_path), runs)
    d = s.to_dict()
    assert [x["id"] for x in d["claims"]] == ["k.x", "k.y"]
    assert d["claims"][0]["holds"] is True and d["claims"][0]["notebook"] == "03_modality_gap"  # not hidden
    md = summary_markdown(s)
    assert "k.x: A > B" in md and "[0.05, 0.15]" in md
