"""Gap metrics on constructed features whose gap is known."""
from __future__ import annotations

import numpy as np
import pytest

from reidlab.analysis.gap import (centroid_distance, gap_report, mmd, modality_probe_accuracy,
                                  pair_distance_distributions, stratified_subsample)
from reidlab.eval.features import FeatureSet, SplitFeatures


def _aligned(n_ids: int, per_id: int, dim: int, shift: float, seed: int, id_scale: float = 1.0):
    """Features of aligned rgb/nir tuples: ID centre + noise, nir moved by ``shift`` along axis 0."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim)) * id_scale
    pid = np.repeat(np.arange(n_ids), per_id)
    feats, record, key = [], [], []
    for mod, off in (("rgb", 0.0), ("nir", shift)):
        x = centres[pid] + 0.5 * rng.normal(size=(len(pid), dim))
        x[:, 0] += off
        feats.append(x)
        record.append(np.arange(len(pid)))
        key += [mod] * len(pid)
    sf = SplitFeatures(pid=pid, camid=np.zeros_like(pid), scene=-np.ones_like(pid), index=np.arange(len(pid)),
                       feats=np.concatenate(feats), record=np.concatenate(record), key=np.array(key))
    return FeatureSet("synthetic", {"gallery": sf})


def test_stratified_subsample_balanced_and_seeded():
    pids = np.repeat(np.arange(10), 6)
    keys = np.tile(["rgb", "rgb", "rgb", "nir", "nir", "nir"], 10)
    pids = np.concatenate([pids, [99, 99]])  # ID 99 has rgb only: never eligible
    keys = np.concatenate([keys, ["rgb", "rgb"]])
    idx = stratified_subsample(pids, keys, n_ids=4, per_id=2, seed=3)
    assert len(idx) == 4 * 2 * 2
    assert 99 not in set(pids[idx])
    for p in np.unique(pids[idx]):
        assert (keys[idx][pids[idx] == p] == "rgb").sum() == 2
    assert np.array_equal(idx, stratified_subsample(pids, keys, 4, 2, seed=3))
    assert not np.array_equal(idx, stratified_subsample(pids, keys, 4, 2, seed=4))
    with pytest.raises(ValueError, match="every key"):
        stratified_subsample(np.array([1, 2]), np.array(["rgb", "nir"]), 1, 1, 0)


def test_zero_gap_gives_near_zero_numbers_and_chance_probe():
    fs = _aligned(n_ids=40, per_id=3, dim=16, shift=0.0, seed=0)
    rep = gap_report(fs, n_ids=None, per_id=None, seed=0, normalize=False)
    row = rep.table.iloc[0]
    assert row.pair == "rgb-nir" and row.n_rows == 240
    assert row.centroid_distance_rel < 0.1
    assert abs(row.mmd2) < 0.01
    assert row.probe_chance == pytest.approx(0.5)
    assert abs(row.probe_accuracy - 0.5) < 0.12


def test_large_shift_gives_perfect_probe_and_large_distances():
    fs = _aligned(n_ids=40, per_id=3, dim=16, shift=8.0, seed=0)
    rep = gap_report(fs, n_ids=30, per_id=2, seed=1, normalize=False)
    row = rep.table.iloc[0]
    assert row.n_ids == 30 and row.n_rows == 30 * 2 * 2
    assert row.probe_accuracy > 0.98
    assert row.centroid_distance == pytest.approx(8.0, abs=0.6)
    assert row.mmd2 > 0.2
    # The gap shows in distances: cross-modal same-ID pairs are far, same-modal ones near.
    assert row.intra_cross > 2 * row.intra_same
    assert rep.X.shape == (120, 16) and set(rep.mods) == {"rgb", "nir"}


def test_gap_metrics_grow_with_shift():
    vals = [gap_report(_aligned(30, 2, 8, s, seed=2), n_ids=None, per_id=None, seed=0, normalize=False).table.iloc[0]
            for s in (0.0, 1.0, 3.0)]
    assert vals[0].mmd2 < vals[1].mmd2 < vals[2].mmd2
    assert vals[0].centroid_distance < vals[1].centroid_distance < vals[2].centroid_distance


def test_mmd_unbiased_and_bandwidth():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    same = mmd(X, Y)
    assert abs(same) < 0.01
    assert mmd(X, Y + 2.0) > 0.3
    assert mmd(X, Y + 2.0, bandwidth=1.0) > 0.1 > abs(mmd(X, Y, bandwidth=1.0)) * 10
    with pytest.raises(NotImplementedError):
        mmd(X, Y, kernel="laplace")
    with pytest.raises(ValueError):
        mmd(X[:1], Y)


def test_probe_chance_is_majority_share():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5))
    mod = np.array(["rgb"] * 60 + ["nir"] * 30)
    out = modality_probe_accuracy(X, mod, seed=0, cv=5)
    assert out["chance"] == pytest.approx(60 / 90)
    assert out["folds"] == 5
    with pytest.raises(ValueError, match="two modalities"):
        modality_probe_accuracy(X, np.array(["rgb"] * 90), seed=0)


def test_centroid_distance_exact():
    X = np.array([[0.0, 0], [2, 0], [0, 3], [2, 3]])
    mod = np.array(["a", "a", "b", "b"])
    assert centroid_distance(X, mod) == pytest.approx(3.0)
    assert centroid_distance(X, mod, relative=True) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="exactly two"):
        centroid_distance(X, np.array(["a", "b", "c", "c"]))


def test_pair_distance_distributions_labels():
    X = np.array([[0.0], [1.0], [3.0], [7.0]])
    pids = np.array([1, 1, 2, 2])
    mods = np.array(["rgb", "nir", "rgb", "nir"])
    df = pair_distance_distributions(X, pids, mods)
    assert len(df) == 6
    assert set(df.pair) == {"rgb-rgb", "nir-nir", "nir-rgb"}
    intra = df[df.kind == "intra"].sort_values("distance")
    assert intra.distance.tolist() == [1.0, 4.0] and set(intra.pair) == {"nir-rgb"}
    assert df[(df.pair == "rgb-rgb")].distance.item() == 3.0


def test_gap_report_rejects_missing_modality():
    fs = _aligned(5, 2, 4, 0.0, seed=0)
    with pytest.raises(ValueError, match="tir"):
        gap_report(fs, modalities=("rgb", "tir"))


def test_default_modalities_leave_out_fused_keys():
    fs = _aligned(12, 2, 8, 1.0, seed=5)
    sf = fs["gallery"]
    n = len(sf.pid)
    fused = SplitFeatures(pid=sf.pid, camid=sf.camid, scene=sf.scene, index=sf.index,
                          feats=np.concatenate([sf.feats, sf.feats[:n] + sf.feats[n:]]),
                          record=np.concatenate([sf.record, np.arange(n)]),
                          key=np.concatenate([sf.key, np.array(["fused:rgb+nir"] * n)]))
    rep = gap_report(FeatureSet("synthetic", {"gallery": fused}), n_ids=None, per_id=None, seed=0)
    assert rep.table["pair"].tolist() == ["rgb-nir"]
    assert set(rep.mods) == {"rgb", "nir"}
    both = gap_report(FeatureSet("synthetic", {"gallery": fused}), modalities=["rgb", "fused:rgb+nir"],
                      n_ids=None, per_id=None, seed=0)
    assert both.table["pair"].tolist() == ["rgb-fused:rgb+nir"]
