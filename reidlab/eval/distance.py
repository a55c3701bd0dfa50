"""Pairwise distances between feature matrices (torch, CPU or CUDA), computed per chunk.

``euclidean`` is the plain L2 distance ``sqrt(max(|q|^2 + |g|^2 - 2 q.g, 0))``; ``cosine`` is
``1 - cos(q, g)`` (features are L2-normalised first; a zero vector is left at zero, giving
distance 1 to everything). Both are float32 and unitless.
"""
from __future__ import annotations

import numpy as np
import torch

METRICS = ("euclidean", "cosine")


def as_tensor(x: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """``x`` as a float32 tensor on ``device`` (no copy when it already is one)."""
    t = torch.as_tensor(x)
    return t.to(device=device, dtype=torch.float32)


def prepare(feats: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-side precomputation: normalised features for cosine, squared norms for euclidean.

    Returns ``(feats', sq_norms)`` with ``feats'`` (N, D) and ``sq_norms`` (N,) or None.
    """
    if metric == "cosine":
        return torch.nn.functional.normalize(feats, dim=1), None
    if metric == "euclidean":
        return feats, (feats * feats).sum(dim=1)
    raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")


def distance_block(q: torch.Tensor, q_sq: torch.Tensor | None, g: torch.Tensor, g_sq: torch.Tensor | None,
                   metric: str) -> torch.Tensor:
    """Distances between prepared rows ``q`` (Qc, D) and ``g`` (G, D) -> (Qc, G) float32."""
    if metric == "cosine":
        return torch.addmm(torch.ones((), dtype=q.dtype, device=q.device), q, g.T, beta=1, alpha=-1)
    d = torch.addmm(g_sq.unsqueeze(0), q, g.T, beta=1, alpha=-2)
    d.add_(q_sq.unsqueeze(1)).clamp_(min=0).sqrt_()
    return d


def pairwise_distance(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, metric: str = "euclidean",
                      device: str | torch.device = "cpu") -> torch.Tensor:
    """Full distance matrix between ``a`` (N, D) and ``b`` (M, D) -> (N, M) float32 tensor on ``device``.

    Use only when N x M fits in memory; the evaluation engine works per chunk instead.
    """
    at, bt = as_tensor(a, device), as_tensor(b, device)
    if at.shape[1] != bt.shape[1]:
        raise ValueError(f"feature dimensions differ: {at.shape[1]} vs {bt.shape[1]}")
    pa, sa = prepare(at, metric)
    pb, sb = prepare(bt, metric)
    return distance_block(pa, sa, pb, sb, metric)
