"""Chance level of retrieval metrics: the expected AP / mAP of a uniformly random ranking.

For one query with ``R`` positives among ``N`` ranked gallery items (junk already removed),
AP = (1/R) sum_j rel_j * prec@j. Under a uniformly random permutation
E[rel_j] = R/N and E[rel_i rel_j] = R(R-1) / (N(N-1)) for i != j, which gives the exact

    E[AP] = (1/N) * (H_N + (R - 1)/(N - 1) * (N - H_N)),   H_N = sum_{k=1..N} 1/k

(R = N gives 1; R = 1 gives H_N / N). Chance mAP of a protocol = the mean of E[AP] over its
queries (each with its own R and N).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["chance_ap", "chance_ap_array", "chance_map", "chance_rank_k"]


def chance_ap(n_pos: int, n_gallery: int) -> float:
    """Exact expected AP (fraction in [0, 1]) of a random ranking of ``n_gallery`` items with ``n_pos`` positives.

    Raises:
        ValueError: ``n_pos < 1`` or ``n_pos > n_gallery``.
    """
    R, N = int(n_pos), int(n_gallery)
    if R < 1 or R > N:
        raise ValueError(f"chance_ap needs 1 <= n_pos <= n_gallery, got n_pos={R}, n_gallery={N}")
    return float(chance_ap_array(R, N))


def chance_map(n_pos_per_query, n_gallery) -> float:
    """Expected mAP (fraction) of random rankings: the mean of :func:`chance_ap` over queries.

    Args:
        n_pos_per_query: (Q,) positives per query (queries without a positive must be left out).
        n_gallery: one gallery size for every query, or (Q,) sizes per query (after junk removal).
    """
    pos = np.atleast_1d(np.asarray(n_pos_per_query, dtype=int))
    gal = np.broadcast_to(np.asarray(n_gallery, dtype=int), pos.shape)
    if pos.size == 0:
        raise ValueError("chance_map needs at least one query")
    return float(np.mean([chance_ap(r, n) for r, n in zip(pos, gal)]))


def chance_ap_array(n_pos: int | np.ndarray, n_valid: int | np.ndarray) -> float | np.ndarray:
    """Expected average precision of a uniformly random ranking.

    ``n_pos`` positives (R) among ``n_valid`` ranked gallery items (N, junk excluded):
    E[AP] = (1/N) * (H_N + (R - 1) / (N - 1) * (N - H_N)), H_N the N-th harmonic number
    (AP = mean over positives of precision at their rank; a positive at rank k has on average
    1 + (R - 1)(k - 1)/(N - 1) positives at or above it). R = N gives 1. Vectorised; R = 0 -> NaN.
    """
    r = np.asarray(n_pos, dtype=np.float64)
    n = np.asarray(n_valid, dtype=np.float64)
    if np.any(r > n):
        raise ValueError("chance_ap_array: more positives than ranked items")
    h = _harmonic(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.where(n > 1, (h + (r - 1.0) / np.maximum(n - 1.0, 1.0) * (n - h)) / np.maximum(n, 1.0), 1.0)
    val = np.where(r > 0, val, np.nan)
    return float(val) if val.ndim == 0 else val


def _harmonic(n: np.ndarray) -> np.ndarray:
    """H_n for float arrays (exact sum below 1e4, asymptotic expansion above)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.empty_like(n)
    small = n < 1e4
    if small.any():
        cums = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 10001))])
        out[small] = cums[n[small].astype(np.int64)]
    big = ~small
    if big.any():
        x = n[big]
        out[big] = np.log(x) + 0.5772156649015329 + 1 / (2 * x) - 1 / (12 * x ** 2)
    return out


def chance_rank_k(n_pos: int | np.ndarray, n_valid: int | np.ndarray, k: int) -> float | np.ndarray:
    """Probability that a uniformly random ranking puts at least one of ``n_pos`` positives among
    the first ``k`` of ``n_valid`` items: 1 - C(N - R, k) / C(N, k)."""
    r = np.atleast_1d(np.asarray(n_pos, dtype=np.int64))
    n = np.atleast_1d(np.asarray(n_valid, dtype=np.int64))
    r, n = np.broadcast_arrays(r, n)
    out = np.empty(r.shape, dtype=np.float64)
    for i, (ri, ni) in enumerate(zip(r.ravel(), n.ravel())):
        kk = min(k, ni)
        out.ravel()[i] = np.nan if ri <= 0 else 1.0 - (math.comb(ni - ri, kk) / math.comb(ni, kk) if ni - ri >= kk else 0.0)
    return float(out[0]) if np.ndim(n_pos) == 0 and np.ndim(n_valid) == 0 else out
