"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) and average query expansion.

Re-ranking, written from the paper's definitions, over the N = Q + G probe and gallery items:

1. ``d`` = pairwise distances (the evaluation metric), each row divided by its maximum so that
   the Gaussian weights below do not underflow (values in [0, 1]);
2. ``N(p, k)`` = the first k + 1 items of p's ranking (p itself included; ties by index);
   ``R(p, k) = {j in N(p, k) : p in N(j, k)}`` (k-reciprocal neighbours);
3. ``R*(p, k1)`` = ``R(p, k1)`` united with every ``R(j, round(k1 / 2))``, j in ``R(p, k1)``, that
   shares at least 2/3 of its items with ``R(p, k1)``;
4. ``V[p, j] = exp(-d[p, j])`` for j in ``R*(p, k1)`` (0 elsewhere), rows normalised to sum 1;
   local query expansion: ``V[p] <- mean of V[j]`` over j in ``N(p, k2)`` (when k2 > 1);
5. Jaccard distance ``d_J(p, g) = 1 - sum_j min(V[p,j], V[g,j]) / sum_j max(V[p,j], V[g,j])``;
6. final distance ``(1 - lambda) * d_J + lambda * d``, (Q, G).

Memory: the N x N distance and weight matrices dominate; :func:`rerank_memory_gb` estimates
it and :func:`k_reciprocal_rerank` refuses above ``memory_budget_gb``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .distance import as_tensor, pairwise_distance


@dataclass(frozen=True)
class RerankParams:
    """k-reciprocal parameters; defaults 20 / 6 / 0.3 (TransReID's forks use 50 / 15 / 0.3)."""

    k1: int = 20
    k2: int = 6
    lambda_: float = 0.3

    def __post_init__(self) -> None:
        if self.k1 < 1 or self.k2 < 1 or not 0.0 <= self.lambda_ <= 1.0:
            raise ValueError(f"re-ranking needs k1 >= 1, k2 >= 1, 0 <= lambda <= 1; got {self}")

    def __str__(self) -> str:
        return f"k-reciprocal(k1={self.k1}, k2={self.k2}, lambda={self.lambda_})"


class RerankMemoryError(MemoryError):
    """Re-ranking would need more memory than the budget allows."""


def rerank_memory_gb(n_query: int, n_gallery: int) -> float:
    """Estimated peak memory (GiB) of :func:`k_reciprocal_rerank`: about 12 bytes per (N x N) pair
    (float32 distances, float32 weights, float32 expanded weights) plus 8 bytes per (Q x G) pair."""
    n = n_query + n_gallery
    return (12.0 * n * n + 8.0 * n_query * n_gallery) / 2**30


def _stable_topk(d: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Indices (N, k) of the k smallest entries per row, ties broken by column index."""
    out = []
    for s in range(0, d.shape[0], chunk):
        out.append(torch.sort(d[s:s + chunk], dim=1, stable=True)[1][:, :k])
    return torch.cat(out) if out else torch.zeros((0, k), dtype=torch.int64)


def _reciprocal(nn: torch.Tensor, k: int) -> list[np.ndarray]:
    """R(p, k) for every p, from the neighbour table ``nn`` (N, >= k + 1)."""
    nnk = nn[:, : k + 1]
    back = nnk[nnk]  # (N, k+1, k+1): neighbours of each neighbour
    keep = (back == torch.arange(len(nn))[:, None, None]).any(dim=2)
    nnk_np, keep_np = nnk.numpy(), keep.numpy()
    return [nnk_np[p][keep_np[p]] for p in range(len(nn))]


def k_reciprocal_rerank(q_feats: np.ndarray | torch.Tensor, g_feats: np.ndarray | torch.Tensor,
                        params: RerankParams = RerankParams(), *, metric: str = "euclidean",
                        memory_budget_gb: float = 4.0, progress: bool = False) -> np.ndarray:
    """Re-ranked distances (Q, G) float32 between ``q_feats`` (Q, D) and ``g_feats`` (G, D).

    Raises :class:`RerankMemoryError` when :func:`rerank_memory_gb` exceeds ``memory_budget_gb``.
    """
    q, g = as_tensor(q_feats), as_tensor(g_feats)
    nq, ng = len(q), len(g)
    need = rerank_memory_gb(nq, ng)
    if need > memory_budget_gb:
        raise RerankMemoryError(
            f"k-reciprocal re-ranking of {nq} queries + {ng} gallery items needs about {need:.1f} GiB "
            f"(the (Q+G)^2 matrices), above the budget of {memory_budget_gb:g} GiB; raise memory_budget_gb "
            "(CLI: --rerank-budget-gb) if the machine has the memory, or subsample the gallery")
    n = nq + ng
    feats = torch.cat([q, g])
    d = pairwise_distance(feats, feats, metric)
    d.div_(d.max(dim=1, keepdim=True).values.clamp(min=1e-12))
    nn = _stable_topk(d, max(params.k1, params.k2) + 1)
    half = max(1, int(round(params.k1 / 2)))
    r_full, r_half = _reciprocal(nn, params.k1), _reciprocal(nn, half)
    v = torch.zeros((n, n), dtype=torch.float32)
    for p in tqdm(range(n), desc="k-reciprocal", disable=not progress):
        rp = r_full[p]
        expanded = [rp]
        rp_set = set(rp.tolist())
        for j in rp:
            rj = r_half[j]
            if len(rj) and len(rp_set.intersection(rj.tolist())) >= 2.0 / 3.0 * len(rj):
                expanded.append(rj)
        idx = torch.from_numpy(np.unique(np.concatenate(expanded)))
        w = torch.exp(-d[p, idx])
        v[p, idx] = w / w.sum()
    if params.k2 > 1:
        vqe = torch.empty_like(v)
        for s in range(0, n, 256):  # chunked so that the (rows, k2, N) gather stays small
            vqe[s:s + 256] = v[nn[s:s + 256, : params.k2]].mean(dim=1)
        v = vqe
    vq, vg = v[:nq], v[nq:]
    sum_g = vg.sum(dim=1)
    jac = torch.empty((nq, ng), dtype=torch.float32)
    for i in range(nq):
        cols = torch.nonzero(vq[i], as_tuple=True)[0]
        mins = torch.minimum(vq[i, cols][None, :], vg[:, cols]).sum(dim=1)
        jac[i] = 1.0 - mins / (vq[i].sum() + sum_g - mins)
    del v
    return ((1.0 - params.lambda_) * jac + params.lambda_ * d[:nq, nq:]).numpy()


def average_query_expansion(q_feats: np.ndarray | torch.Tensor, g_feats: np.ndarray | torch.Tensor, k: int = 5,
                            *, metric: str = "euclidean", chunk: int = 1024) -> np.ndarray:
    """Average query expansion: each query (Q, D) becomes the mean of itself and its ``k`` nearest
    gallery features (G, D) under ``metric`` (ties by gallery index). Returns (Q, D) float32.

    The neighbours may include the query's junk items (same ID, same camera): standard average
    QE does not know the junk rule.
    """
    if k < 1:
        raise ValueError(f"query expansion needs k >= 1, got {k}")
    q, g = as_tensor(q_feats), as_tensor(g_feats)
    if metric == "cosine":
        q, g = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(g, dim=1)
    k = min(k, len(g))
    out = []
    for s in range(0, len(q), chunk):
        d = pairwise_distance(q[s:s + chunk], g, metric)
        idx = torch.sort(d, dim=1, stable=True)[1][:, :k]
        out.append((q[s:s + chunk] + g[idx].sum(dim=1)) / (k + 1))
    return (torch.cat(out) if out else q).numpy()
