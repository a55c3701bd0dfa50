"""Property tests: the vectorised, chunked evaluation equals a plain per-query loop.

The reference below is deliberately naive (one query at a time, Python lists, explicit junk
removal) and independent of reidlab.eval.metrics.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reidlab.eval.metrics import rank_distances, rank_features


def reference(dist, qp, gp, qc, gc, qs, gs, junk, groups=None, drop_negative_pid=True):
    """Per-query loop: returns lists ap, inp, first_hit (NaN for skipped) and the CMC curve."""
    aps, inps, firsts = [], [], []
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")  # ties -> lower gallery index first
        ranked = []
        for j in order:
            same = gp[j] == qp[i]
            if junk == "same_cam":
                is_junk = same and gc[j] == qc[i]
            elif junk == "same_scene":
                is_junk = same and gs[j] == qs[i]
            elif junk == "cam_group":
                is_junk = groups[gc[j]] == groups[qc[i]]
            else:
                is_junk = False
            if drop_negative_pid and gp[j] < 0:
                is_junk = True
            if not is_junk:
                ranked.append(j)
        rel = [gp[j] == qp[i] for j in ranked]
        n_pos = sum(rel)
        if n_pos == 0:
            aps.append(math.nan), inps.append(math.nan), firsts.append(math.nan)
            continue
        hits, ap, last = 0, 0.0, 0
        for k, r in enumerate(rel, start=1):
            if r:
                hits += 1
                ap += hits / k
                last = k
        aps.append(ap / n_pos)
        inps.append(n_pos / last)
        if junk == "cam_group":  # CMC on the ID-deduplicated list
            seen, rank = set(), 0
            for j in ranked:
                if gp[j] in seen:
                    continue
                seen.add(gp[j])
                rank += 1
                if gp[j] == qp[i]:
                    break
            firsts.append(rank)
        else:
            firsts.append(rel.index(True) + 1)
    g = dist.shape[1]
    valid = [f for f in firsts if not math.isnan(f)]
    cmc = [sum(f <= k for f in valid) / len(valid) if valid else math.nan for k in range(1, g + 1)]
    return np.array(aps), np.array(inps), np.array(firsts, dtype=float), np.array(cmc)


def _random_case(seed: int, nq: int, ng: int, n_levels: int):
    rng = np.random.default_rng(seed)
    dist = rng.integers(0, n_levels, size=(nq, ng)).astype(np.float32)  # few levels -> many ties
    qp = rng.integers(0, 4, nq)
    gp = rng.integers(-1, 4, ng)
    qc, gc = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    qs, gs = rng.integers(0, 2, nq), rng.integers(0, 2, ng)
    return dist, qp, gp, qc, gc, qs, gs


def _check(fast, ref):
    ap, inp, first, cmc = ref
    np.testing.assert_allclose(fast.ap, ap, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(fast.inp, inp, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(fast.first_hit, first)
    np.testing.assert_allclose(fast.cmc, cmc, equal_nan=True)
    assert fast.n_skipped == int(np.isnan(ap).sum())


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**31), nq=st.integers(1, 9), ng=st.integers(1, 40), n_levels=st.integers(1, 6),
       junk=st.sampled_from(["same_cam", "same_scene", "none", "cam_group"]), drop_neg=st.booleans(),
       chunk_mb=st.sampled_from([1e-6, 256.0]))
def test_fast_equals_per_query_loop(seed, nq, ng, n_levels, junk, drop_neg, chunk_mb):
    dist, qp, gp, qc, gc, qs, gs = _random_case(seed, nq, ng, n_levels)
    groups = {0: 0, 1: 1, 2: 1}  # SYSU-like: cameras 1 and 2 share a location group
    fast = rank_distances(dist, q_pid=qp, g_pid=gp, q_camid=qc, g_camid=gc, q_scene=qs, g_scene=gs, junk=junk,
                          cam_groups=groups, drop_negative_pid=drop_neg, chunk_mb=chunk_mb, topk=5)
    _check(fast, reference(dist, qp, gp, qc, gc, qs, gs, junk, groups, drop_neg))
    # the top-k list is the head of the stable order, junk included
    order = np.argsort(dist, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(fast.topk_index, order)
    np.testing.assert_array_equal(fast.topk_match, gp[order] == qp[:, None])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), nq=st.integers(1, 8), ng=st.integers(2, 30), dup=st.integers(0, 10))
def test_features_path_with_duplicated_gallery_rows(seed, nq, ng, dup):
    """Integer-valued features give exact Euclidean distances, so duplicated gallery rows tie exactly."""
    rng = np.random.default_rng(seed)
    g = rng.integers(-2, 3, size=(ng, 4)).astype(np.float32)
    g = np.concatenate([g, g[rng.integers(0, ng, size=dup)]])
    q = rng.integers(-2, 3, size=(nq, 4)).astype(np.float32)
    gp, gc = rng.integers(0, 3, len(g)), rng.integers(0, 2, len(g))
    qp, qc = rng.integers(0, 3, nq), rng.integers(0, 2, nq)
    dist = np.sqrt(((q[:, None, :].astype(np.float64) - g[None]) ** 2).sum(-1)).astype(np.float32)
    fast = rank_features(q, g, metric="euclidean", q_pid=qp, g_pid=gp, q_camid=qc, g_camid=gc, junk="same_cam",
                         chunk_mb=1e-6)
    _check(fast, reference(dist, qp, gp, qc, gc, None, None, "same_cam"))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), junk=st.sampled_from(["same_cam", "same_scene", "none"]), drop_neg=st.booleans())
def test_sparse_pair_codes_equal_dense_codes(seed, junk, drop_neg):
    import torch

    from reidlab.eval.metrics import gallery_by_pid, pair_codes, sparse_pair_codes

    rng = np.random.default_rng(seed)
    nq, ng = int(rng.integers(1, 10)), int(rng.integers(1, 30))
    t = lambda a: torch.as_tensor(a)  # noqa: E731
    qp, gp = t(rng.integers(-1, 5, nq)), t(rng.integers(-1, 5, ng))
    qc, gc, qs, gs = (t(rng.integers(0, 3, n)) for n in (nq, ng, nq, ng))
    dense = pair_codes(qp, qc, qs, gp, gc, gs, junk, drop_negative_pid=drop_neg)
    sparse = sparse_pair_codes(qp, qc, qs, gp, gc, gs, junk, gallery_by_pid(gp), drop_negative_pid=drop_neg)
    assert torch.equal(dense, sparse)
