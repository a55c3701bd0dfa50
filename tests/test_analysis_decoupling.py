"""Decoupling analysis: orientation probes on hand-made parts whose answer is known, the identity
split, extraction through HWDNet's ``decouple`` on synthetic UCM-VeID, and the figure."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reidlab.analysis.decoupling import (DecoupledParts, decouple_records, decoupled_parts_of_run, embed_parts,
                                         identity_split, orientation_probes, plot_decoupling, probe_accuracy,
                                         probe_difference)

N_IDS, PER_ID = 40, 16


def _labels(seed: int = 0):
    """40 identities x 16 images, orientations drawn uniformly from 0..7 per image."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(N_IDS), PER_ID)
    ori = rng.integers(0, 8, size=len(pid))
    return pid, ori, rng


def test_a_part_that_encodes_orientation_is_read_almost_perfectly():
    pid, ori, rng = _labels()
    X = np.eye(8)[ori] * 3.0 + 0.3 * rng.normal(size=(len(pid), 8))
    X = np.concatenate([X, rng.normal(size=(len(pid), 24))], 1)  # plus nuisance dimensions
    r = probe_accuracy(X, ori, pid, seed=0)
    assert r["accuracy"] > 0.95
    assert r["ci_low"] <= r["accuracy"] <= r["ci_high"]
    assert r["chance"] < 0.25
    assert r["n_train_ids"] == r["n_test_ids"] == N_IDS // 2 and r["n_train"] + r["n_test"] == len(pid)


def test_a_random_part_is_read_at_chance():
    pid, ori, rng = _labels(1)
    r = probe_accuracy(rng.normal(size=(len(pid), 32)), ori, pid, seed=0)
    assert abs(r["accuracy"] - 1 / 8) < 0.07
    assert r["accuracy"] < r["chance"] + 0.07
    assert r["ci_low"] < r["chance"] + 0.02  # the interval reaches chance


def test_the_identity_split_stops_the_probe_from_memorising_identities():
    """Each identity is seen in one orientation only and the part encodes identity, not orientation:
    a probe split by rows would recall the ID's orientation; split by identity it cannot."""
    rng = np.random.default_rng(2)
    pid = np.repeat(np.arange(N_IDS), PER_ID)
    ori = rng.integers(0, 8, size=N_IDS)[pid]
    X = rng.normal(size=(N_IDS, 32))[pid] * 3.0 + 0.2 * rng.normal(size=(len(pid), 32))
    r = probe_accuracy(X, ori, pid, seed=0)
    assert r["accuracy"] < 0.35  # near chance (majority share of 20 test IDs)
    rows = rng.permutation(len(pid))  # the same probe with a row split would be near perfect
    by_row = probe_accuracy(X, ori, rows, seed=0)
    assert by_row["accuracy"] > 0.9


def test_unknown_orientation_rows_are_left_out_and_bad_input_is_refused():
    pid, ori, rng = _labels(3)
    X = np.eye(8)[ori] + 0.1 * rng.normal(size=(len(pid), 8))
    ori_u = ori.copy()
    ori_u[::4] = -1
    r = probe_accuracy(X, ori_u, pid, seed=0)
    assert r["n_train"] + r["n_test"] == int((ori_u >= 0).sum())
    with pytest.raises(ValueError, match="rows"):
        probe_accuracy(X[:-1], ori, pid)
    with pytest.raises(ValueError, match="two identities"):
        probe_accuracy(X, ori, np.zeros_like(pid))


def test_identity_split_is_seeded_and_disjoint():
    g = np.repeat(np.arange(10), 3)
    a = identity_split(g, 0.5, seed=4)
    assert a.sum() == 15 and not set(g[a]) & set(g[~a])
    assert np.array_equal(a, identity_split(g, 0.5, seed=4))
    assert not np.array_equal(a, identity_split(g, 0.5, seed=5))
    with pytest.raises(ValueError, match="train_frac"):
        identity_split(g, 1.0)


def _parts(n_ids: int = 12, per_id: int = 8, seed: int = 0) -> DecoupledParts:
    """Hand-made decoupled features: ``rel`` = orientation code, ``inv`` = identity code."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_ids), per_id)
    ori = rng.integers(0, 8, size=len(pid))
    rel = np.eye(8)[ori] * 2 + 0.2 * rng.normal(size=(len(pid), 8))
    inv = rng.normal(size=(n_ids, 16))[pid] + 0.2 * rng.normal(size=(len(pid), 16))
    mod = np.where(np.arange(len(pid)) % 2 == 0, "rgb", "tir")
    return DecoupledParts({"inv": inv.astype(np.float32), "rel": rel.astype(np.float32),
                           "feat": np.concatenate([rel, inv], 1).astype(np.float32)},
                          pid, ori, mod, np.array(["query"] * len(pid)))


def test_probe_difference_is_paired_on_the_same_split():
    parts = _parts(n_ids=30)
    d = probe_difference(parts.parts["rel"], parts.parts["inv"], parts.orientation, parts.pid, n_boot=300)
    assert d["delta"] > 0.5 and d["ci_low"] > 0.3
    assert d["accuracy_a"] == pytest.approx(probe_accuracy(parts.parts["rel"], parts.orientation, parts.pid,
                                                           n_boot=0)["accuracy"])
    same = probe_difference(parts.parts["inv"], parts.parts["inv"], parts.orientation, parts.pid, n_boot=300)
    assert same["delta"] == 0.0 and same["ci_low"] == same["ci_high"] == 0.0


def test_orientation_probes_table_and_figure():
    parts = _parts()
    t = orientation_probes(parts, seed=0, n_boot=200, by_modality=True)
    assert set(t["modality"]) == {"all", "rgb", "tir"} and len(t) == 9
    allm = t[t["modality"] == "all"].set_index("part")
    assert allm.loc["rel", "accuracy"] > 0.9 > allm.loc["inv", "accuracy"] + 0.4
    assert allm.loc["inv", "dim"] == 16 and allm.loc["rel", "dim"] == 8
    emb = embed_parts(parts, seed=0, which=("inv", "rel"))
    assert set(emb) == {"inv", "rel"} and emb["inv"].shape == (len(parts), 2)
    from reidlab.analysis.figcheck import figure_problems

    fig = plot_decoupling(parts, emb, probes=t, title="hand-made")
    assert len(fig.axes) == 4 and not figure_problems(fig)
    assert "orientation probe" in fig.axes[0].get_title()
    import matplotlib.pyplot as plt

    plt.close(fig)
    no_labels = parts.subset(np.arange(len(parts)))
    no_labels.orientation[:] = -1
    with pytest.raises(ValueError, match="orientation label"):
        orientation_probes(no_labels)


def test_decouple_records_and_run_on_synthetic_ucmveid(synth_root):
    from reidlab.data import load_dataset
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.config import TrainConfig
    from reidlab.methods.registry import create_method

    root = synth_root("ucmveid")
    data = load_dataset("ucmveid", root)
    torch.manual_seed(0)
    model = create_method("hwdnet", 4, ("rgb", "tir"), backbone="tiny", pretrained=False).eval()
    tf = build_transforms(64, 32, train=False)
    recs = data.query
    parts = decouple_records(model, recs, ("rgb", "tir"), tf, batch_size=16, split="query")
    n = sum(len(r.images) for r in recs)
    assert len(parts) == n and set(parts.parts) == {"feat", "inv", "rel"}
    d = parts.parts["feat"].shape[1]
    assert parts.parts["rel"].shape == (n, d // 2) and parts.parts["inv"].shape == (n, d - d // 2)
    # feature split: υ and μ are the two halves of z
    assert np.allclose(np.concatenate([parts.parts["rel"], parts.parts["inv"]], 1), parts.parts["feat"])
    want = {(r.pid, m, int(r.attrs["orientation"])) for r in recs for m in r.images}
    assert set(zip(parts.pid.tolist(), parts.modality.tolist(), parts.orientation.tolist())) == want
    with pytest.raises(TypeError, match="decouple"):
        decouple_records(torch.nn.Linear(2, 2), recs, ("rgb",), tf)
    # a run-like object: its config's data, test splits (query + gallery), its model
    cfg = TrainConfig(method="hwdnet", dataset="ucmveid", root=str(root), modalities=["rgb", "tir"], height=64,
                      width=32)
    run = SimpleNamespace(config=cfg, record={"modalities": ["rgb", "tir"]}, run_dir="fake",
                          load_model=lambda device="cpu": model)
    whole = decoupled_parts_of_run(run, batch_size=32)
    assert set(whole.split) == {"query", "gallery"}
    assert len(whole) == n + sum(len(r.images) for r in data.gallery)
    assert whole.meta["decoupling"] == "split"
