"""Ranking by a learned pairwise scorer: exhaustive blocks equal a brute-force loop; shortlist mode."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidlab.eval import FeatureSet, SplitFeatures, evaluate
from reidlab.eval.metrics import rank_distances
from reidlab.eval.pairwise import MatcherScorer, TokenMaps
from reidlab.methods.porsche import TokenMatcher


def _split(rng, n, n_ids, key, dim=6):
    pid = rng.integers(0, n_ids, n)
    return SplitFeatures(pid=pid, camid=rng.integers(0, 3, n), scene=np.zeros(n, int), index=np.arange(n),
                         feats=rng.normal(size=(n, dim)).astype(np.float32), record=np.arange(n),
                         key=np.full(n, key))


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    fs = FeatureSet(dataset="rgbn300",
                    splits={"query": _split(rng, 11, 5, "rgb"), "gallery": _split(rng, 17, 5, "nir")})
    toks = {s: (np.arange(n), np.full(n, k), torch.randn(n, 4, 2, 8, generator=torch.Generator().manual_seed(i)))
            for i, (s, n, k) in enumerate((("query", 11, "rgb"), ("gallery", 17, "nir")))}
    torch.manual_seed(0)
    matcher = TokenMatcher((4, 2), d=4, chunks=2, ff=8).eval()
    dist = lambda q, g: 1 - torch.sigmoid(matcher(q, g) / 10)  # noqa: E731
    pair = lambda q, g: 1 - torch.sigmoid(matcher.pairs(q, g) / 10)  # noqa: E731
    return fs, TokenMaps(toks), dist, pair


def _naive_map(d, qp, gp, qc, gc):
    aps, r1 = [], []
    for i in range(len(qp)):
        keep = ~((gp == qp[i]) & (gc == qc[i]))
        order = np.argsort(d[i][keep], kind="stable")
        match = (gp[keep] == qp[i])[order]
        if not match.any():
            continue
        hits = np.cumsum(match)
        aps.append(float(np.mean((hits / np.arange(1, len(match) + 1))[match])))
        r1.append(float(match[0]))
    return np.mean(aps), np.mean(r1)


def test_pairs_mode_equals_the_block_diagonal(case):
    _, tm, dist, pair = case
    q, g = tm.tokens("query")[:5], tm.tokens("gallery")[:5]
    assert torch.allclose(pair(q, g), torch.diagonal(dist(q, g)), atol=1e-6)


def test_exhaustive_scorer_equals_brute_force_loop(case):
    fs, tm, dist, pair = case
    scorer = MatcherScorer(tm, dist, pair, name="tiny", q_chunk=3, g_chunk=4)  # blocks cross the chunk borders
    res = evaluate(fs, "rgbn300/rgb2nir", scorer=scorer, n_boot=0)
    qt, gt = tm.tokens("query"), tm.tokens("gallery")
    with torch.no_grad():
        brute = np.array([[float(dist(qt[i:i + 1], gt[j:j + 1])[0, 0]) for j in range(17)] for i in range(11)])
    ref = rank_distances(brute, q_pid=fs["query"].pid, g_pid=fs["gallery"].pid, q_camid=fs["query"].camid,
                         g_camid=fs["gallery"].camid, junk="same_cam")
    assert res.summary["mAP"] == pytest.approx(ref.mAP, abs=1e-6)
    assert res.summary["R1"] == pytest.approx(ref.rank(1), abs=1e-6)
    m, r1 = _naive_map(brute, fs["query"].pid, fs["gallery"].pid, fs["query"].camid, fs["gallery"].camid)
    assert res.summary["mAP"] == pytest.approx(m, abs=1e-6) and res.summary["R1"] == pytest.approx(r1, abs=1e-6)
    assert np.allclose(np.array(res.per_query["topk_dist"].tolist())[:, 0], np.sort(brute, axis=1)[:, 0], atol=1e-6)
    assert res.summary["scorer"] == "tiny" and res.summary["shortlist"] == "all"
    assert res.summary["scorer_pairs"] == 11 * 17
    # the matcher's ranking is not the feature ranking (the test could fail)
    assert res.summary["mAP"] != pytest.approx(evaluate(fs, "rgbn300/rgb2nir", n_boot=0).summary["mAP"], abs=1e-9)


def test_shortlist_modes(case):
    fs, tm, dist, pair = case
    full = evaluate(fs, "rgbn300/rgb2nir", scorer=MatcherScorer(tm, dist, pair), n_boot=0).summary
    # N = G re-scores everything: the exhaustive ranking
    allg = evaluate(fs, "rgbn300/rgb2nir", scorer=MatcherScorer(tm, dist, pair), shortlist=17, n_boot=0).summary
    assert allg["mAP"] == pytest.approx(full["mAP"], abs=1e-6) and allg["shortlist"] == 17
    # N = 1: the global top-1 stays first and the rest keeps the global order: the feature ranking
    sc = MatcherScorer(tm, dist, pair)
    one = evaluate(fs, "rgbn300/rgb2nir", metric="cosine", scorer=sc, shortlist=1, n_boot=0).summary
    feat = evaluate(fs, "rgbn300/rgb2nir", metric="cosine", n_boot=0).summary
    assert one["mAP"] == pytest.approx(feat["mAP"], abs=1e-6) and sc.n_pairs == 11
    with pytest.raises(ValueError, match="shortlist needs a scorer"):
        evaluate(fs, "rgbn300/rgb2nir", shortlist=5)
    with pytest.raises(ValueError, match=">= 1"):
        evaluate(fs, "rgbn300/rgb2nir", scorer=MatcherScorer(tm, dist, pair), shortlist=0)


def test_missing_tokens_is_a_clear_error(case):
    fs, tm, dist, pair = case
    bad = TokenMaps({"query": tm.splits["query"]})
    with pytest.raises(KeyError, match="no split 'gallery'"):
        evaluate(fs, "rgbn300/rgb2nir", scorer=MatcherScorer(bad, dist, pair), n_boot=0)
