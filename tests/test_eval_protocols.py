"""Every registered protocol evaluates a small structured synthetic FeatureSet built here."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from reidlab.eval import FeatureSet, SplitFeatures, evaluate, evaluate_all, fused_key, get_protocol, list_protocols
from reidlab.eval.scoring import ProtocolUnsupported, build_side

DIM = 16
PER_QUERY_COLS = ["query", "key", "pid", "camid", "scene", "ap", "inp", "first_hit", "n_pos", "n_junk", "skipped",
                  "topk", "topk_dist", "topk_match", "topk_junk"]


def _split(rng, protos, shift, pids, mods_per_record, cams=4, extra_keys=()):
    """Records of ``pids`` (one per entry); each record gets a row per modality in mods_per_record[i]:
    identity prototype + modality shift + noise, so every protocol has a meaningful answer."""
    n = len(pids)
    feats, record, key = [], [], []
    for i, (p, mods) in enumerate(zip(pids, mods_per_record)):
        for m in tuple(mods) + tuple(extra_keys):
            base = shift[m] if m in shift else 0.0
            feats.append(protos[p] + base + 0.35 * rng.normal(size=DIM))
            record.append(i)
            key.append(m)
    return SplitFeatures(pid=pids, camid=rng.integers(0, cams, n), scene=rng.integers(0, 3, n), index=np.arange(n),
                         feats=np.array(feats, np.float32), record=record, key=key)


def make_features(dataset: str, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    n_ids = 8
    protos = rng.normal(size=(n_ids, DIM)) * 2.0
    shift = {m: rng.normal(size=DIM) * 0.3 for m in ("rgb", "nir", "tir", "sar")}
    mods = {"rgbn300": ("rgb", "nir"), "hoss": ("rgb", "sar"), "ucmveid": ("rgb", "tir")}.get(dataset,
                                                                                             ("rgb", "nir", "tir"))
    q_pids, g_pids = np.repeat(np.arange(n_ids), 2), np.repeat(np.arange(n_ids), 5)
    aligned = dataset not in ("hoss", "ucmveid")
    if aligned:
        qm, gm = [mods] * len(q_pids), [mods] * len(g_pids)
    else:  # one modality per record, alternating
        qm, gm = [(mods[i % 2],) for i in range(len(q_pids))], [(mods[i % 2],) for i in range(len(g_pids))]
    splits = {"gallery": _split(rng, protos, shift, g_pids, gm)}
    if dataset == "ucmveid":  # sampled galleries: keep every query's positives in other cameras
        splits["gallery"].camid += 4
    splits["query3" if dataset == "msvr310" else "query"] = _split(rng, protos, shift, q_pids, qm)
    if dataset == "hoss":
        for sub, (a, b) in (("O2S", ("rgb", "sar")), ("S2O", ("sar", "rgb"))):
            splits[f"subset/{sub}/query"] = _split(rng, protos, shift, np.arange(n_ids), [(a,)] * n_ids)
            splits[f"subset/{sub}/gallery"] = _split(rng, protos, shift, g_pids, [(b,)] * len(g_pids))
    return FeatureSet(dataset=dataset, splits=splits)


ALL = [p.name for p in list_protocols()]


def _with_method_rows(fs: FeatureSet, mods: tuple[str, ...]) -> FeatureSet:
    """Add a method's own fused rows (here 2 x the sum of the per-modality rows) to every split."""
    for split, sf in list(fs.splits.items()):
        recs = [sf.rows(m) for m in mods]
        rec = recs[0][0]
        assert all((r == rec).all() for r, _ in recs)
        fused = 2.0 * sum(f for _, f in recs)
        fs.splits[split] = SplitFeatures(pid=sf.pid, camid=sf.camid, scene=sf.scene, index=sf.index,
                                         feats=np.concatenate([sf.feats, fused]).astype(sf.feats.dtype),
                                         record=np.concatenate([sf.record, rec]),
                                         key=np.concatenate([sf.key, [fused_key(mods)] * len(rec)]))
    return fs


def test_every_dataset_has_its_protocols():
    names = set(ALL)
    for required in ("rgbn300/rgb-nir", "rgbn300/rgb2nir", "rgbn300/nir2rgb", "rgbn300/rgb", "rgbn300/nir",
                     "rgbnt100/rgb-nir-tir", "rgbnt100/rgb-tir", "rgbnt100/tir2nir", "rgbnt100/missing-tir",
                     "msvr310/rgb-nir-tir", "msvr310/rgb-nir-tir@samecam", "wmveid863/rgb-nir-tir",
                     "ucmveid/rgb2tir-single", "ucmveid/rgb2tir-multi", "ucmveid/tir2rgb-single",
                     "ucmveid/tir2rgb-multi", "hoss/all", "hoss/opt2sar", "hoss/sar2opt"):
        assert required in names
    assert get_protocol("rgbn300/v2i").name == "rgbn300/rgb2nir"
    assert get_protocol("msvr310/rgb-nir-tir").junk == "same_scene"
    assert get_protocol("msvr310/rgb-nir-tir@samecam").junk == "same_cam"
    u = get_protocol("ucmveid/tir2rgb-single")
    assert (u.trials, u.seed, u.gallery_sampling) == (10, 0, "single_shot")
    with pytest.raises(KeyError, match="reidlab protocols"):
        get_protocol("nope/none")


@pytest.mark.parametrize("name", ALL)
def test_protocol_evaluates(name):
    p = get_protocol(name)
    fs = make_features(p.dataset)
    if p.fusion == "method":  # the method's own fused rows, as HAMNet's embed writes them
        fs = _with_method_rows(fs, p.query_modalities)
    res = evaluate(fs, p, n_boot=50)
    s = res.summary
    assert s["protocol"] == name and str(res).startswith(f"[{name}]")
    assert s["n_skipped"] == 0  # every query ID has gallery items in another camera / modality
    # structured features: far above chance (1/8 IDs)
    assert s["mAP"] > 0.6 and s["R1"] > 0.6, s
    assert 0 < s["mINP"] <= 1
    lo, hi = s["mAP_ci95"]
    assert lo <= s["mAP"] + 1e-9 and s["mAP"] - 1e-9 <= hi
    assert list(res.per_query.columns[:len(PER_QUERY_COLS)]) == PER_QUERY_COLS
    assert len(res.per_query) == s["n_query"] * p.trials
    if p.trials > 1:
        assert "mAP_std" in s and set(res.per_query["trial"]) == set(range(p.trials))
    assert len(res.cmc) and np.all(np.diff(res.cmc) >= 0)


def test_cross_modal_items_use_the_named_modalities():
    fs = make_features("rgbnt100")
    res = evaluate(fs, "rgbnt100/rgb2tir", n_boot=0)
    assert set(res.per_query["key"]) == {"rgb"}
    assert {k for ks in res.per_query["topk_key"] for k in ks} == {"tir"}
    assert res.summary["n_query"] == len(fs["query"].pid)  # one RGB row per query record


def test_hoss_all_mixes_modalities_and_removes_nothing():
    res = evaluate(make_features("hoss"), "hoss/all", n_boot=0)
    assert set(res.per_query["key"]) == {"rgb", "sar"}
    assert res.per_query["n_junk"].sum() == 0
    assert evaluate(make_features("hoss"), "hoss/opt2sar", n_boot=0).summary["query_split"] == "subset/O2S/query"


def test_single_shot_trials_are_seeded_and_reproducible():
    fs = make_features("ucmveid")
    p = get_protocol("ucmveid/rgb2tir-single")
    a, b = evaluate(fs, p, n_boot=0), evaluate(fs, p, n_boot=0)
    pd.testing.assert_frame_equal(a.per_query, b.per_query)
    assert a.summary["mAP"] == b.summary["mAP"]
    # one gallery item per ID in every trial: 8 IDs among the TIR gallery records
    assert a.summary["n_gallery"] == 8
    assert a.per_query.groupby("trial")["topk"].apply(lambda s: len({x for l in s for x in l})).max() <= 8
    # trials differ from each other (different seeds), and another base seed changes the galleries
    tops = a.per_query.groupby("trial")["topk"].apply(lambda s: tuple(map(tuple, s)))
    assert len(set(tops)) > 1
    c = evaluate(fs, replace(p, seed=100), n_boot=0)
    assert not c.per_query["topk"].equals(a.per_query["topk"])
    multi = evaluate(fs, "ucmveid/rgb2tir-multi", n_boot=0)
    assert multi.summary["n_gallery"] == 20  # 5 records per ID, alternating modality -> 2 or 3 TIR per ID, all kept


def test_sum_mean_concat_and_method_fusion():
    fs = make_features("rgbn300")
    q = fs["query"]
    side = build_side(q, "query", ("rgb", "nir"), "sum")
    r_rgb, f_rgb = q.rows("rgb")
    r_nir, f_nir = q.rows("nir")
    np.testing.assert_allclose(side.feats[0], f_rgb[r_rgb == 0][0] + f_nir[r_nir == 0][0], rtol=1e-6)
    np.testing.assert_allclose(build_side(q, "query", ("rgb", "nir"), "mean").feats, side.feats / 2, rtol=1e-6)
    assert build_side(q, "query", ("rgb", "nir"), "concat").feats.shape[1] == 2 * DIM
    with pytest.raises(ProtocolUnsupported, match=r"fused:rgb\+nir.*keys present: \['nir', 'rgb'\]"):
        evaluate(fs, "rgbn300/rgb-nir", fusion="method")
    # add the method's own fused rows: used as they are
    for split in ("query", "gallery"):
        sf = fs[split]
        rec, feats = sf.rows("rgb")
        fs.splits[split] = SplitFeatures(pid=sf.pid, camid=sf.camid, scene=sf.scene, index=sf.index,
                                         feats=np.concatenate([sf.feats, feats * 3]),
                                         record=np.concatenate([sf.record, rec]),
                                         key=np.concatenate([sf.key, [fused_key(["nir", "rgb"])] * len(rec)]))
    m = evaluate(fs, "rgbn300/rgb-nir", fusion="method", n_boot=0)
    assert m.summary["fusion"] == "method" and set(m.per_query["key"]) == {"fused:rgb+nir"}
    # fused rows are 3 x RGB rows: euclidean ranking = RGB-only ranking
    rgb = evaluate(fs, "rgbn300/rgb", n_boot=0)
    assert m.summary["mAP"] == pytest.approx(rgb.summary["mAP"])


def test_records_missing_a_modality_are_excluded_and_counted():
    fs = make_features("rgbnt100")
    sf = fs["query"]
    drop = (sf.key == "tir") & np.isin(sf.record, [0, 3, 5])
    fs.splits["query"] = SplitFeatures(pid=sf.pid, camid=sf.camid, scene=sf.scene, index=sf.index,
                                       feats=sf.feats[~drop], record=sf.record[~drop], key=sf.key[~drop])
    res = evaluate(fs, "rgbnt100/rgb-nir-tir", n_boot=0)
    assert res.summary["n_excluded_query"] == 3 and res.summary["n_excluded"] == 3
    assert res.summary["n_query"] == len(sf.pid) - 3
    assert not set(res.per_query["query"]) & {0, 3, 5}
    # the missing-TIR protocol does not need TIR on the query side: nothing excluded
    assert evaluate(fs, "rgbnt100/missing-tir", n_boot=0).summary["n_excluded"] == 0


def test_msvr310_query3_alias_and_scene_rule():
    fs = make_features("msvr310")
    a = evaluate(fs, "msvr310/rgb-nir-tir", n_boot=0)
    assert a.summary["query_split"] == "query3" and a.summary["junk"] == "same_scene"
    fs.splits["query"] = fs.splits.pop("query3")
    b = evaluate(fs, "msvr310/rgb-nir-tir", n_boot=0)
    assert b.summary["query_split"] == "query" and b.summary["mAP"] == a.summary["mAP"]
    c = evaluate(fs, "msvr310/rgb-nir-tir@samecam", n_boot=0)
    assert c.summary["junk"] == "same_cam"
    assert not a.per_query["n_junk"].equals(c.per_query["n_junk"])


def test_evaluate_all_and_dataset_check(caplog):
    fs = make_features("rgbn300")
    df = evaluate_all(fs, n_boot=0)
    # protocols reading a method's own fused rows are skipped: these features have none
    assert list(df["protocol"]) == [p.name for p in list_protocols("rgbn300") if p.fusion != "method"]
    with_fused = evaluate_all(_with_method_rows(make_features("rgbn300"), ("rgb", "nir")), n_boot=0)
    assert list(with_fused["protocol"]) == [p.name for p in list_protocols("rgbn300")]
    fs.splits["gallery"] = SplitFeatures(**{**fs["gallery"].__dict__})
    del fs.splits["query"]
    with pytest.raises(ProtocolUnsupported, match="no split 'query'"):
        evaluate(fs, "rgbn300/rgb")
    with pytest.raises(ValueError, match="dataset 'rgbn300' but protocol 'hoss/all'"):
        evaluate(make_features("rgbn300"), "hoss/all")
    # a dataset with fewer keys: protocols needing NIR are skipped with a note
    fs = make_features("rgbn300")
    for split in ("query", "gallery"):
        sf = fs[split]
        keep = sf.key == "rgb"
        fs.splits[split] = SplitFeatures(pid=sf.pid, camid=sf.camid, scene=sf.scene, index=sf.index,
                                         feats=sf.feats[keep], record=sf.record[keep], key=sf.key[keep])
    with caplog.at_level("INFO"):
        df = evaluate_all(fs, n_boot=0)
    assert list(df["protocol"]) == ["rgbn300/rgb"]
    assert "skipping protocol rgbn300/nir" in caplog.text
