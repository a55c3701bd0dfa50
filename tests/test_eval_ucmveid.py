"""UCM-VeID protocols as the HWDNet paper describes them, on hand-built cases where the old rules
(same-camera junk, gallery sampled before junk removal, query/gallery folders only) are wrong."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reidlab.eval import FeatureSet, SplitFeatures, evaluate, get_protocol
from reidlab.eval.protocols import Protocol
from reidlab.eval.scoring import sample_gallery


def _sf(pids, cams, keys, feats):
    n = len(pids)
    return SplitFeatures(pid=np.asarray(pids), camid=np.asarray(cams), scene=np.zeros(n, int), index=np.arange(n),
                         feats=np.asarray(feats, np.float32), record=np.arange(n), key=list(keys))


def _onehot(pids, dim=8, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(dim)[np.asarray(pids)] + noise * rng.normal(size=(len(pids), dim))


def test_same_video_number_across_modalities_is_a_true_match():
    # RGB query of ID 0 from video 1; its only IR image is also from video 1 (videos are numbered
    # alike in both modalities). The old same-camera rule made it junk and skipped the query.
    pids = [0, 1, 0, 1]
    keys = ["rgb", "rgb", "tir", "tir"]
    cams = [1, 2, 1, 2]
    fs = FeatureSet(dataset="ucmveid", splits={"test": _sf(pids, cams, keys, _onehot(pids))})
    res = evaluate(fs, "ucmveid/rgb2tir-multi", n_boot=0)
    assert res.summary["n_query"] == 2 and res.summary["n_skipped"] == 0
    assert res.per_query["n_junk"].sum() == 0
    assert res.summary["R1"] == 1.0 and res.summary["mAP"] == 1.0
    old = replace(get_protocol("ucmveid/rgb2tir-multi"), junk="same_cam")
    assert evaluate(fs, old, n_boot=0).summary["n_skipped"] == 2  # what the old rule did


def test_test_split_is_divided_by_modality_and_query_gallery_folders_still_work():
    pids = [0, 0, 1, 2, 0, 1, 1, 2]
    keys = ["rgb"] * 4 + ["tir"] * 4
    fs = FeatureSet(dataset="ucmveid", splits={"test": _sf(pids, [1] * 8, keys, _onehot(pids, noise=0.1))})
    r = evaluate(fs, "ucmveid/rgb2tir-multi", n_boot=0)
    assert r.summary["query_split"] == r.summary["gallery_split"] == "test"
    assert r.summary["n_query"] == 4 and r.summary["n_gallery"] == 4  # every RGB a query, every IR the gallery
    assert set(r.per_query["key"]) == {"rgb"} and {k for ks in r.per_query["topk_key"] for k in ks} == {"tir"}
    i = evaluate(fs, "ucmveid/ir2rgb-multi", n_boot=0)
    assert i.summary["n_query"] == 4 and set(i.per_query["key"]) == {"tir"}
    alt = FeatureSet(dataset="ucmveid", splits={"query": _sf(pids[:4], [1] * 4, keys[:4], _onehot(pids[:4])),
                                                "gallery": _sf(pids[4:], [1] * 4, keys[4:], _onehot(pids[4:]))})
    a = evaluate(alt, "ucmveid/rgb2tir-multi", n_boot=0)
    assert (a.summary["query_split"], a.summary["gallery_split"]) == ("query", "gallery")
    assert a.summary["R1"] == 1.0


def test_single_shot_draws_after_junk_removal():
    # ID 0 has two gallery images: camera 1 (junk for the camera-1 query under same_cam) and camera 2.
    # Drawing before junk removal leaves the query with only its junk image in about half the
    # trials (skipped); drawing after junk removal always keeps the camera-2 image.
    q = _sf([0], [1], ["rgb"], _onehot([0]))
    gp = [0, 0, 1, 1, 2]
    g = _sf(gp, [1, 2, 1, 2, 1], ["tir"] * 5, _onehot(gp, noise=0.1))
    fs = FeatureSet(dataset="ucmveid", splits={"query": q, "gallery": g})
    p = Protocol(name="t/cuhk03-like", dataset="ucmveid", query_split="query", gallery_split="gallery",
                 query_modalities=("rgb",), gallery_modalities=("tir",), junk="same_cam",
                 gallery_sampling="single_shot", trials=20, seed=0)
    res = evaluate(fs, p, n_boot=0)
    assert res.summary["n_skipped"] == 0
    assert all(t[0] == 1 for t in res.per_query["topk"])  # record 1 = the camera-2 image of ID 0
    assert (res.per_query["n_junk"] == 0).all()
    assert res.summary["n_gallery"] == 3.0  # one image per ID
    # the old draw (before junk removal): some trials keep only record 0 for ID 0
    before = [sample_gallery(g.pid, "single_shot", 1, t) for t in range(20)]
    assert any(0 in b for b in before) and any(1 in b for b in before)


def test_single_shot_trials_mean_std_and_seeds():
    rng = np.random.default_rng(0)
    pids = np.repeat(np.arange(6), 4)
    keys = ["rgb", "tir"] * 12
    feats = np.eye(8)[pids] + 0.6 * rng.normal(size=(24, 8))
    fs = FeatureSet(dataset="ucmveid", splits={"test": _sf(pids, rng.integers(1, 4, 24), keys, feats)})
    p = get_protocol("ucmveid/rgb2tir-single")
    assert p.trials == 10 and p.junk == "none" and "inferred" in p.description
    res = evaluate(fs, p, n_boot=0)
    per_trial = np.array([t["mAP"] for t in res.trials])
    assert len(per_trial) == 10 and res.summary["seeds"] == "0..9"
    assert res.summary["mAP"] == pytest.approx(per_trial.mean())
    assert res.summary["mAP_std"] == pytest.approx(per_trial.std(ddof=1)) and res.summary["mAP_std"] > 0
    assert res.summary["n_gallery"] == 6.0
    # with junk rule none every query sees the same one-per-ID gallery in a trial
    per = res.per_query[res.per_query["trial"] == 3]
    assert len({tuple(sorted(t)) for t in per["topk"]}) == 1


def test_sample_gallery_keeps_shots_per_id_among_valid_items():
    pid = np.array([0, 0, 0, 1, 1, -1, 2])
    keep = sample_gallery(pid, "multi_shot", 2, seed=3)
    assert sorted(np.bincount(pid[keep][pid[keep] >= 0]).tolist()) == [1, 2, 2] and 5 not in keep
    valid = np.array([False, True, True, True, True, True, True])
    assert 0 not in sample_gallery(pid, "single_shot", 1, seed=3, valid=valid)
    np.testing.assert_array_equal(sample_gallery(pid, "single_shot", 1, 5), sample_gallery(pid, "single_shot", 1, 5))


def test_synthetic_test_folder_layout_loads_as_one_test_split(tmp_path):
    from reidlab.data import load_dataset
    from reidlab.data.synth import generate

    root = generate("ucmveid", tmp_path / "u", preset="smoke", seed=0, test_split="by_modality",
                    num_train_ids=3, num_test_ids=2, train_images=6, query_images=2, gallery_images=4)
    data = load_dataset("ucmveid", root)
    assert sorted(data.splits) == ["test", "train"]
    test = data["test"]
    assert {r.modalities[0] for r in test} == {"rgb", "tir"}
    assert all(0 <= r.attrs["orientation"] <= 7 for r in test)
    from reidlab.data.check import check_dataset

    rep = check_dataset("ucmveid", root)
    assert rep.ok, rep.format()
    per = {(o["split"], o["modality"]): o["counts"] for o in rep.orientation}
    assert set(per) == {("train", "rgb"), ("train", "tir"), ("test", "rgb"), ("test", "tir")}
    assert sum(per[("test", "tir")].values()) == sum(1 for r in test if r.modalities == ("tir",))
    assert "orientation classes" in rep.format()
    with pytest.raises(ValueError, match="test_split"):
        generate("ucmveid", tmp_path / "v", preset="smoke", test_split="bogus")


def test_manifest_test_split_and_orientation_labels(tmp_path):
    from test_data_fixtures import save_plain

    from reidlab.data import load_dataset

    for n in ("a", "b", "c"):
        save_plain(tmp_path / f"{n}.jpg")
    (tmp_path / "m.csv").write_text("split,pid,camid,modality,path,orientation,type\n"
                                    "train,1,1,rgb,a.jpg,3,sedan\ntest,2,1,rgb,b.jpg,5,bus\ntest,2,1,ir,c.jpg,0,bus\n")
    data = load_dataset("ucmveid", tmp_path / "m.csv")
    assert sorted(data.splits) == ["test", "train"]
    assert [(r.modalities, r.attrs["orientation"]) for r in data["test"]] == [(("rgb",), 5), (("tir",), 0)]


def test_stats_orientation_by_modality(synth_root):
    from reidlab.data import stats
    from reidlab.data import load_dataset

    data = load_dataset("ucmveid", synth_root("ucmveid"))
    o = stats.orientation_by_modality(data)
    assert set(o["modality"]) == {"rgb", "tir"} and set(o["orientation"]) <= set(range(8))
    assert len(set(o["orientation"])) >= 6  # UAV views: any heading
    n_train_tir = sum(1 for r in data.train if r.modalities == ("tir",))
    assert o[(o.split == "train") & (o.modality == "tir")]["records"].sum() == n_train_tir


def test_torch_dataset_items_carry_orientation(synth_root):
    import torch

    from reidlab.data import load_dataset
    from reidlab.data.records import Record
    from reidlab.data.sample_fields import class_labels, read_fields
    from reidlab.data.torch_dataset import ReIDImageDataset
    from reidlab.data.transforms import build_transforms

    data = load_dataset("ucmveid", synth_root("ucmveid"))
    ds = ReIDImageDataset(data.train[:3], ("rgb", "tir"), build_transforms(32, 64, train=False), relabel=True,
                          fields=("orientation",))
    assert [int(ds[i]["fields"]["orientation"]) for i in range(3)] == [r.attrs["orientation"] for r in data.train[:3]]

    def rec(o):
        return Record(pid=1, camid=1, images={}, split="train", attrs={} if o is None else {"orientation": o})

    raw = torch.stack([read_fields(("orientation",), rec(o), {})["orientation"]
                       for o in (None, 3, 3.0, "front", float("nan"), 2.5)])
    assert class_labels(raw).tolist() == [-1, 3, 3, -1, -1, -1]


def test_synthetic_ucmveid_is_uav_unaligned_with_unequal_counts(synth_root):
    from collections import Counter

    from reidlab.data import load_dataset

    data = load_dataset("ucmveid", synth_root("ucmveid"))
    rgb = Counter(r.pid for r in data.train if r.modalities == ("rgb",))
    ir = Counter(r.pid for r in data.train if r.modalities == ("tir",))
    assert set(rgb) == set(ir) and any(rgb[p] != ir[p] for p in rgb)  # different RGB / IR counts per ID
    elev = [float(r.attrs["elevation"]) for r in data.train]
    assert min(elev) >= 45.0  # UAV: looking down
    assert {"type", "colour", "orientation", "daynight"} <= set(data.train[0].attrs)
