"""Data cards: every card parses and validates, names real protocols, and transcribes the papers exactly."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from reidlab.data import cards
from reidlab.data.cards import CardError, expected_counts, list_cards, load_card, paper_results

DATASETS = ["hoss", "msvr310", "rgbn300", "rgbnt100", "ucmveid", "wmveid863"]


def test_all_cards_present():
    assert list_cards(kind="dataset") == DATASETS
    assert list_cards(kind="synthetic") == ["synthetic"]
    assert cards.cards_dir() == Path(__file__).resolve().parents[1] / "data_cards"


@pytest.mark.parametrize("name", DATASETS)
def test_card_parses_and_is_consistent(name):
    from reidlab.data.registry import list_datasets
    from reidlab.eval.protocols import get_protocol, list_protocols

    c = load_card(name)
    assert all(k in c for k in cards.REQUIRED_KEYS)
    assert c["name"] == name and name in list_datasets()
    assert "##" in cards.card_body(name)  # the readable part exists
    # every protocol the card names is registered, for this dataset, and the card lists them all
    registered = {p.name for p in list_protocols(name)}
    assert set(c["protocols"]) == registered
    for e in c["paper_results"]:
        assert get_protocol(e["protocol"]).dataset == name, e
    # split sizes: records <= images; per-split images = records x modalities for aligned data
    for split, s in c["splits"].items():
        if s["records"] is not None and s["images"] is not None:
            assert s["records"] <= s["images"]
            if c["aligned"]:
                assert s["images"] == s["records"] * len(c["modalities"]), (name, split)


def test_expected_counts_real_sizes():
    assert expected_counts("rgbn300")["train"] == {"ids": 150, "records": 25200, "images": 50400}
    assert expected_counts("rgbn300")["gallery"]["records"] == 24925
    assert expected_counts("rgbnt100")["query"]["records"] == 1715
    assert expected_counts("hoss")["gallery"] == {"ids": 177, "records": 593, "images": 593}
    assert expected_counts("msvr310")["query3"]["ids"] == 52
    assert expected_counts("ucmveid")["train"]["ids"] == 602
    with pytest.raises(CardError, match="no split sizes"):
        expected_counts("synthetic")


def _one(df, **where):
    for k, v in where.items():
        df = df[df[k] == v]
    assert len(df) == 1, (where, df)
    return df.iloc[0]


def test_hamnet_tables():
    t2 = paper_results("rgbn300", table=2)
    assert len(t2) == 4 * 5  # 4 rows x 5 backbones
    r = _one(t2, method="hamnet", backbone="ResNet50")
    assert (r.mAP, r.R1, r.R5, r.R10) == (61.9, 84.0, 86.0, 87.0)
    assert r.protocol == "rgbn300/rgb-nir"
    r = _one(t2, method="one_stream", backbone="MobileNetV2", protocol="rgbn300/nir")
    assert (r.mAP, r.R1, r.R5, r.R10) == (39.1, 62.7, 67.1, 69.1)
    t3 = paper_results("rgbnt100", table="Table 3")
    assert len(t3) == 7 * 5
    r = _one(t3, method="msn", backbone="Densenet121", protocol="rgbnt100/rgb-tir")
    assert (r.mAP, r.R1, r.R5, r.R10) == (45.9, 73.8, 76.9, 78.4)
    r = _one(t3, method="hamnet", backbone="SeResNet50")
    assert (r.mAP, r.R1) == (65.4, 85.5)
    t5 = paper_results("rgbnt100", table=5)
    assert list(t5["ablation"]) == ["baseline (MSN)", "+ L_hsc", "+ L_caid", "+ L_hsc + L_caid"]
    assert list(t5["mAP"]) == [60.5, 61.4, 61.4, 64.1]
    t4 = paper_results("rgbn300", table=4)
    assert _one(t4, method="MGN").mAP == 60.5 and math.isnan(_one(t4, method="MGN").R5)


def test_kamenou_tables():
    k = paper_results("rgbn300", paper="kamenou_icpr2022")
    t1 = k[k["table"] == "Table I"]
    assert len(t1) == 5 * 3
    r = _one(t1, ablation="Baseline", setting="V-I")
    assert (r.mAP, r.R1, r.R5, r.R10, r.protocol) == (35.0, 45.3, 49.9, 52.5, "rgbn300/rgb2nir")
    r = _one(t1, ablation="Baseline + FC_e + L_cos + L_cd-rll", setting="I-V")
    assert (r.mAP, r.R1, r.R5, r.R10, r.protocol) == (45.1, 57.7, 61.8, 63.8, "rgbn300/nir2rgb")
    t3 = paper_results("rgbn300", table="III", paper="kamenou_icpr2022")
    assert _one(t3, ablation="lambda = 0.8", setting="IV-IV").mAP == 62.7
    t2 = paper_results("rgbn300", table="II", paper="kamenou_icpr2022")
    assert _one(t2, method="hamnet", ablation="+ L_rll", setting="V-I").R1 == 47.0
    assert len(t2[t2["method"] == "PCB"]) == 1  # '-' cells are not rows
    t5 = paper_results("rgbn300", table="V", paper="kamenou_icpr2022")
    assert _one(t5, ablation="w = 4.0", setting="V-I").mAP == 46.3


def test_hwdnet_and_hoss_and_leaderboard():
    w = paper_results("ucmveid", table="II")
    r = _one(w, method="HWDNet", ablation="HWDNet", protocol="ucmveid/tir2rgb-single")
    assert (r.R1, r.R10, r.mAP) == (31.57, 78.85, 46.09)
    r = _one(w, method="MMD-ReID", protocol="ucmveid/rgb2tir-multi")
    assert (r.R1, r.R10, r.mAP) == (39.04, 85.85, 30.30)
    t3 = paper_results("ucmveid", table="III")
    assert _one(t3, ablation="Baseline + OIFS", protocol="ucmveid/tir2rgb-multi").R20 == 92.41  # printed "92,41"
    h = paper_results("hoss")
    r = _one(h, method="TransOSS", protocol="hoss/opt2sar")
    assert (r.mAP, r.R1) == (48.9, 33.8)
    lb = paper_results("msvr310", paper="leaderboard (docs/datasets.md)")
    assert _one(lb, method="ProxyTTT").mAP == 63.6


def test_bad_cards_give_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(cards, "cards_dir", lambda: tmp_path)
    (tmp_path / "nofront.md").write_text("# no front matter\n")
    with pytest.raises(CardError, match="nofront.md.*no YAML front matter"):
        load_card("nofront")
    (tmp_path / "lacks.md").write_text("---\nname: lacks\nmodalities: [rgb]\n---\nbody\n")
    with pytest.raises(CardError, match=r"lacks.md.*required key\(s\).*full_name"):
        load_card("lacks")
    good = (Path(__file__).resolve().parents[1] / "data_cards" / "hoss.md").read_text()
    (tmp_path / "badmod.md").write_text(good.replace("name: hoss", "name: badmod").replace("- sar", "- radar", 1))
    with pytest.raises(CardError, match="badmod.md.*radar"):
        load_card("badmod")
    (tmp_path / "badnum.md").write_text(good.replace("name: hoss", "name: badnum").replace("mAP: 57.4", "mAP: 574"))
    with pytest.raises(CardError, match=r"badnum.md.*paper_results\[0\] mAP"):
        load_card("badnum")
    with pytest.raises(CardError, match="no data card.*available cards"):
        load_card("nope")


def test_synthetic_card_matches_generator():
    from reidlab.data.synth import LAYOUTS, PRESETS, resolve_params

    c = load_card("synthetic")
    assert c["kind"] == "synthetic" and sorted(c["layouts"]) == sorted(LAYOUTS)
    assert set(c["presets"]) == set(PRESETS)
    for preset, per_layout in c["presets"].items():
        for layout, knobs in per_layout.items():
            actual = resolve_params(layout, preset, 0, {})
            for k, v in knobs.items():
                assert actual[k] == v, (preset, layout, k, v, actual[k])
    smoke = c["realism"]["measured"]["smoke"]
    assert set(smoke) == set(LAYOUTS)
    for layout, r in smoke.items():
        for v in r["pairs"].values():
            assert 0 <= v["chance_mAP"] <= 100 and 0 <= v["mAP"] <= 100
