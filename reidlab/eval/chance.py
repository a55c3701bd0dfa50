"""Chance level of retrieval metrics: the expected AP / mAP of a uniformly random ranking.

For one query with ``R`` positives among ``N`` ranked gallery items (junk already removed),
AP = (1/R) sum_j rel_j * prec@j. Under a uniformly random permutation
E[rel_j] = R/N and E[rel_i rel_j] = R(R-1) / (N(N-1)) for i != j, which gives the exact

    E[AP] = (1/N) * (H_N + (R - 1)/(N - 1) * (N - H_N)),   H_N = sum_{k=1..N} 1/k

(R = N gives 1; R = 1 gives H_N / N). Chance mAP of a protocol = the mean of E[AP] over its
queries (each with its own R and N).
"""
from __future__ import annotations

import numpy as np

__all__ = ["chance_ap", "chance_map"]


def chance_ap(n_pos: int, n_gallery: int) -> float:
    """Exact expected AP (fraction in [0, 1]) of a random ranking of ``n_gallery`` items with ``n_pos`` positives.

    Raises:
        ValueError: ``n_pos < 1`` or ``n_pos > n_gallery``.
    """
    R, N = int(n_pos), int(n_gallery)
    if R < 1 or R > N:
        raise ValueError(f"chance_ap needs 1 <= n_pos <= n_gallery, got n_pos={R}, n_gallery={N}")
    if N == 1:
        return 1.0
    h = float(np.sum(1.0 / np.arange(1, N + 1)))
    return (h + (R - 1) / (N - 1) * (N - h)) / N


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
