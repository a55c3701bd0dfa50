"""k-reciprocal re-ranking: equals a naive set-based reference, helps on clustered data, guards memory."""
from __future__ import annotations

import numpy as np
import pytest

from reidlab.eval import RerankMemoryError, RerankParams, average_query_expansion, k_reciprocal_rerank
from reidlab.eval import evaluate, rank_distances, rank_features, rerank_memory_gb
from reidlab.eval.features import FeatureSet, SplitFeatures


def naive_rerank(q, g, k1, k2, lam):
    """Zhong et al. 2017 written with Python sets and loops (row-max-normalised Euclidean distances)."""
    x = np.concatenate([q, g]).astype(np.float64)
    n, nq = len(x), len(q)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    d = d / d.max(axis=1, keepdims=True)
    ranking = [np.argsort(d[p], kind="stable") for p in range(n)]

    def nbr(p, k):
        return set(ranking[p][: k + 1].tolist())

    def recip(p, k):
        return {j for j in nbr(p, k) if p in nbr(j, k)}

    v = np.zeros((n, n))
    for p in range(n):
        rp = recip(p, k1)
        full = set(rp)
        for j in rp:
            rj = recip(j, int(round(k1 / 2)))
            if len(rp & rj) >= 2 / 3 * len(rj):
                full |= rj
        for j in full:
            v[p, j] = np.exp(-d[p, j])
        v[p] /= v[p].sum()
    if k2 > 1:
        v = np.array([v[ranking[p][:k2]].mean(axis=0) for p in range(n)])
    out = np.zeros((nq, len(g)))
    for i in range(nq):
        for j in range(len(g)):
            a, b = v[i], v[nq + j]
            out[i, j] = (1 - lam) * (1 - np.minimum(a, b).sum() / np.maximum(a, b).sum()) + lam * d[i, nq + j]
    return out


@pytest.mark.parametrize("k1,k2,lam", [(4, 2, 0.3), (6, 1, 0.5), (3, 3, 0.0)])
def test_matches_naive_reference(k1, k2, lam):
    rng = np.random.default_rng(k1)
    q, g = rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(14, 6)).astype(np.float32)
    fast = k_reciprocal_rerank(q, g, RerankParams(k1, k2, lam))
    np.testing.assert_allclose(fast, naive_rerank(q, g, k1, k2, lam), atol=2e-5)


def _clustered(seed):
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(10, 8))
    gp, qp = np.repeat(np.arange(10), 8), np.repeat(np.arange(10), 2)
    g = protos[gp] + 0.55 * rng.normal(size=(len(gp), 8))
    q = protos[qp] + 0.55 * rng.normal(size=(len(qp), 8))
    return q.astype(np.float32), g.astype(np.float32), qp, gp


def test_rerank_improves_clustered_case():
    gains = []
    for seed in range(3):
        q, g, qp, gp = _clustered(seed)
        kw = dict(q_pid=qp, g_pid=gp, junk="none")
        plain = rank_features(q, g, **kw).mAP
        rr = rank_distances(k_reciprocal_rerank(q, g, RerankParams(k1=8, k2=3, lambda_=0.3)), **kw).mAP
        gains.append(rr - plain)
    assert min(gains) > 0, gains


def test_memory_guard_refuses_with_a_clear_message():
    assert rerank_memory_gb(4985, 24925) > 4  # RGBN300-size re-ranking is refused at the default budget
    q, g, *_ = _clustered(0)
    with pytest.raises(RerankMemoryError, match=r"needs about .* GiB.*raise memory_budget_gb.*subsample"):
        k_reciprocal_rerank(q, g, memory_budget_gb=1e-6)
    rows = np.repeat(np.arange(len(q)), 1)
    fs = FeatureSet("rgbn300", {
        "query": SplitFeatures(pid=np.arange(len(q)) // 2, camid=np.zeros(len(q)), scene=-np.ones(len(q)),
                               index=np.arange(len(q)), feats=q, record=rows, key=["rgb"] * len(q)),
        "gallery": SplitFeatures(pid=np.arange(len(g)) // 8, camid=np.ones(len(g)), scene=-np.ones(len(g)),
                                 index=np.arange(len(g)), feats=g, record=np.arange(len(g)), key=["rgb"] * len(g))})
    with pytest.raises(RerankMemoryError):
        evaluate(fs, "rgbn300/rgb", rerank=True, memory_budget_gb=1e-6)
    res = evaluate(fs, "rgbn300/rgb", rerank={"k1": 8, "k2": 3, "lambda": 0.3}, n_boot=0)
    assert res.summary["rerank"] == "k-reciprocal(k1=8, k2=3, lambda=0.3)"
    assert evaluate(fs, "rgbn300/rgb", rerank=True, n_boot=0).summary["rerank"] == \
        "k-reciprocal(k1=20, k2=6, lambda=0.3)"


def test_average_query_expansion():
    # query at 0; gallery at 1, 10, 3 (1-D): the 2 nearest are 1 and 3 -> (0 + 1 + 3) / 3 = 4/3
    out = average_query_expansion(np.array([[0.0]]), np.array([[1.0], [10.0], [3.0]]), k=2)
    assert out[0, 0] == pytest.approx(4 / 3)
    with pytest.raises(ValueError):
        average_query_expansion(np.zeros((1, 1)), np.zeros((1, 1)), k=0)
