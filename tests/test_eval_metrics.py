"""Hand-computed cases for the ranking metrics (every expected number is worked out in comments)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidlab.eval.distance import pairwise_distance
from reidlab.eval.metrics import rank_distances


def run(dist, qp, gp, qc=None, gc=None, junk="none", **kw):
    dist = np.atleast_2d(np.asarray(dist, dtype=np.float32))
    qp = np.atleast_1d(qp)
    if qc is None:
        qc, gc = np.zeros(len(qp), int), np.ones(len(gp), int)
    return rank_distances(dist, q_pid=qp, g_pid=np.asarray(gp), q_camid=np.atleast_1d(qc), g_camid=np.asarray(gc),
                          junk=junk, **kw)


def test_ties_are_broken_by_gallery_index():
    # all three gallery items at distance 1; stable order g0, g1, g2; pids 0, 1, 1; query pid 1
    # rel = [0, 1, 1] -> AP = (1/2)(1/2 + 2/3) = 7/12; first hit rank 2; INP = 2/3
    r = run([[1, 1, 1]], 1, [0, 1, 1])
    assert r.ap[0] == pytest.approx(7 / 12)
    assert r.first_hit[0] == 2
    assert r.inp[0] == pytest.approx(2 / 3)
    assert r.rank(1) == 0.0 and r.rank(2) == 1.0
    np.testing.assert_array_equal(r.topk_index[0], [0, 1, 2])
    # reverse the gallery order: the positives now come first -> rel [1, 1, 0] -> AP 1, INP 1
    r = run([[1, 1, 1]], 1, [1, 1, 0])
    assert r.ap[0] == 1.0 and r.inp[0] == 1.0 and r.first_hit[0] == 1


def test_query_without_positives_is_skipped_and_counted():
    # q0 (pid 0): gallery pids [0, 2] at distances [0.5, 0.1] -> rel [0, 1] -> AP 1/2
    # q1 (pid 9): no gallery item of ID 9 -> skipped, left out of the mean
    r = run([[0.5, 0.1], [0.5, 0.1]], [2, 9], [0, 2])
    assert r.n_skipped == 1
    assert np.isnan(r.ap[1]) and np.isnan(r.first_hit[1]) and r.n_pos[1] == 0
    assert r.mAP == pytest.approx(1.0)  # only q0 counts; its positive is ranked first (0.1)
    assert r.rank(1) == 1.0


def test_all_junk_query_is_skipped():
    # every gallery item has the query's ID and camera -> all junk under the Market rule
    r = run([[0.1, 0.2, 0.3]], 0, [0, 0, 0], qc=[4], gc=[4, 4, 4], junk="same_cam")
    assert r.n_skipped == 1 and r.n_junk[0] == 3 and r.n_pos[0] == 0
    assert np.isnan(r.mAP)
    assert r.topk_junk[0].all() and r.topk_match[0].all()


def test_one_positive():
    # positive (pid 0) at rank 3 of 4: AP = 1/3, INP = 1/3, first hit 3; CMC@1 = 0, CMC@3 = 1
    r = run([[0.1, 0.2, 0.3, 0.4]], 0, [1, 2, 0, 3])
    assert r.ap[0] == pytest.approx(1 / 3) and r.inp[0] == pytest.approx(1 / 3)
    assert r.first_hit[0] == 3 and r.rank(1) == 0.0 and r.rank(2) == 0.0 and r.rank(3) == 1.0 and r.rank(20) == 1.0
    np.testing.assert_allclose(r.cmc, [0, 0, 1, 1])


def test_several_positives_ap_and_inp():
    # rel = [1, 0, 1, 0, 0, 1]: AP = (1/3)(1/1 + 2/3 + 3/6) = 13/18; INP = 3/6 = 1/2
    r = run([np.arange(6) * 0.1], 7, [7, 1, 7, 2, 3, 7])
    assert r.ap[0] == pytest.approx(13 / 18) and r.inp[0] == pytest.approx(0.5) and r.first_hit[0] == 1


def test_same_camera_junk_is_removed_before_ranking():
    # gallery: g0 same ID + same cam (junk), g1 other ID, g2 same ID other cam
    # list after removal: [g1, g2] -> rel [0, 1] -> AP 1/2, first hit 2
    r = run([[0.1, 0.2, 0.3]], 0, [0, 5, 0], qc=[1], gc=[1, 2, 2], junk="same_cam")
    assert r.ap[0] == pytest.approx(0.5) and r.first_hit[0] == 2 and r.n_junk[0] == 1 and r.n_pos[0] == 1
    # without a junk rule the same-camera item counts: rel [1, 0, 1] -> AP (1 + 2/3)/2 = 5/6
    r = run([[0.1, 0.2, 0.3]], 0, [0, 5, 0], qc=[1], gc=[1, 2, 2], junk="none")
    assert r.ap[0] == pytest.approx(5 / 6)


def test_same_scene_rule():
    # same ID: g0 scene 3 (= query's scene -> junk), g1 scene 4; other ID g2 in between
    # after removal [g2, g1] -> AP 1/2
    r = rank_distances(np.array([[0.1, 0.3, 0.2]], np.float32), q_pid=[0], g_pid=[0, 0, 1], q_camid=[0],
                       g_camid=[1, 1, 1], q_scene=[3], g_scene=[3, 4, 4], junk="same_scene")
    assert r.ap[0] == pytest.approx(0.5) and r.n_junk[0] == 1


def test_camera_group_rule():
    # groups: cam 1 -> group 0; cams 2, 3 -> group 1 (SYSU-like). Query pid 0, cam 2.
    # ranked gallery: g0 (pid 7, cam 3) removed, g1 (4, cam 1), g2 (4, cam 1), g3 (5, cam 1),
    #                 g4 (0, cam 1) positive, g5 (0, cam 2) removed, g6 (0, cam 1) positive
    # raw list [4, 4, 5, 0, 0]: AP = (1/2)(1/4 + 2/5) = 0.325; INP = 2/5
    # ID-deduplicated list [4, 5, 0]: CMC first hit at rank 3
    r = run([np.arange(7) * 0.1], 0, [7, 4, 4, 5, 0, 0, 0], qc=[2], gc=[3, 1, 1, 1, 1, 2, 1], junk="cam_group",
            cam_groups={1: 0, 2: 1, 3: 1})
    assert r.ap[0] == pytest.approx(0.325) and r.inp[0] == pytest.approx(0.4)
    assert r.first_hit[0] == 3 and r.n_junk[0] == 2
    assert r.rank(2) == 0.0 and r.rank(3) == 1.0


def test_camera_group_rule_needs_every_camera():
    with pytest.raises(ValueError, match="not in the camera-group map"):
        run([[0.1]], 0, [0], qc=[9], gc=[1], junk="cam_group", cam_groups={1: 0})


def test_negative_pid_gallery_items_are_junk():
    # g0 pid -1 (Market "junk" image) ranked first, g1 the positive: dropped -> AP 1; kept -> AP 1/2
    r = run([[0.1, 0.2]], 3, [-1, 3])
    assert r.ap[0] == 1.0 and r.n_junk[0] == 1
    r = run([[0.1, 0.2]], 3, [-1, 3], drop_negative_pid=False)
    assert r.ap[0] == 0.5


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(0)
    d = rng.random((50, 80)).astype(np.float32)
    qp, gp = rng.integers(0, 5, 50), rng.integers(0, 5, 80)
    qc, gc = rng.integers(0, 3, 50), rng.integers(0, 3, 80)
    a = rank_distances(d, q_pid=qp, g_pid=gp, q_camid=qc, g_camid=gc, chunk_mb=1e-3)  # several chunks
    b = rank_distances(d, q_pid=qp, g_pid=gp, q_camid=qc, g_camid=gc, chunk_mb=256)
    np.testing.assert_array_equal(a.ap, b.ap)
    np.testing.assert_array_equal(a.topk_index, b.topk_index)


def test_distances_match_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(7, 8)).astype(np.float32)
    eu = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    np.testing.assert_allclose(pairwise_distance(a, b, "euclidean").numpy(), eu, rtol=1e-4, atol=1e-4)
    an, bn = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(pairwise_distance(a, b, "cosine").numpy(), 1 - an @ bn.T, atol=1e-5)
    with pytest.raises(ValueError, match="unknown metric"):
        pairwise_distance(a, b, "manhattan")


def test_nan_distances_refused():
    with pytest.raises(ValueError, match="NaN"):
        run([[np.nan, 0.1]], 0, [0, 1])


def test_runs_on_cuda_when_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    d = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    kw = dict(q_pid=np.arange(20) % 4, g_pid=np.arange(30) % 4, q_camid=np.zeros(20, int), g_camid=np.ones(30, int))
    np.testing.assert_allclose(rank_distances(d, device="cuda", **kw).ap, rank_distances(d, **kw).ap)
