"""Losses shared by several methods. Method-specific losses live in the method's own file.

* :func:`cross_entropy_ls` — cross-entropy with label smoothing (Szegedy et al. 2016).
* :func:`batch_hard_triplet` — batch-hard triplet loss (Hermans et al. 2017), hinge or soft margin.
* :func:`ranked_list_loss` / :func:`cross_modal_ranked_list_loss` — Ranked List Loss
  (Wang et al., CVPR 2019) within one set of embeddings, or with anchors from one modality and
  pairs from the other (Kamenou et al., ICPR 2022, eq. 7-11).
* :func:`cosine_alignment_loss` — mean (1 - cos) over aligned pairs (Kamenou et al. eq. 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["batch_hard_triplet", "cosine_alignment_loss", "cross_entropy_ls", "cross_modal_ranked_list_loss",
           "pairwise_euclidean", "ranked_list_loss"]


def cross_entropy_ls(logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """Cross-entropy with label smoothing, batch mean.

    ``logits`` (B, C), ``labels`` (B,) int64 in 0..C-1. Target q = (1-eps) one_hot + eps/C,
    loss = -sum_k q_k log softmax(logits)_k. ``epsilon=0`` is plain cross-entropy.
    """
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")
    logp = F.log_softmax(logits, dim=1)
    nll = -logp.gather(1, labels.view(-1, 1)).squeeze(1)
    if epsilon == 0.0:
        return nll.mean()
    return ((1.0 - epsilon) * nll - epsilon * logp.mean(dim=1)).mean()


def pairwise_euclidean(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances (N, M) between rows of ``a`` (N, D) and ``b`` (M, D).

    Clamped at ``eps`` before the square root so that the gradient at zero distance is finite.
    """
    d2 = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1).unsqueeze(0) - 2.0 * a @ b.t())
    return d2.clamp_min(eps).sqrt()


def batch_hard_triplet(feats: torch.Tensor, labels: torch.Tensor, margin: float = 0.3,
                       soft_margin: bool = False) -> torch.Tensor:
    """Batch-hard triplet loss on Euclidean distances of (un-normalised) ``feats`` (B, D).

    For each anchor: hardest positive d_ap = max over same-label others, hardest negative
    d_an = min over other labels; loss = mean relu(d_ap - d_an + margin), or with
    ``soft_margin`` mean softplus(d_ap - d_an). Anchors lacking a positive or a negative in
    the batch are left out of the mean; a batch with no valid anchor gives 0 (still a graph).
    """
    dist = pairwise_euclidean(feats, feats)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=feats.device)
    pos = same & ~eye
    neg = ~same
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return feats.sum() * 0.0
    d_ap = dist.masked_fill(~pos, float("-inf")).max(1).values[valid]
    d_an = dist.masked_fill(~neg, float("inf")).min(1).values[valid]
    if soft_margin:
        return F.softplus(d_ap - d_an).mean()
    return F.relu(d_ap - d_an + margin).mean()


def _row_softweights(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """exp(logits) on ``mask`` (0 elsewhere), scaled per row by exp(-row max) so large gaps cannot overflow;
    the RLL normalises weights per anchor, so the scale cancels."""
    shift = logits.masked_fill(~mask, float("-inf")).max(dim=1, keepdim=True).values
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    return torch.exp((logits - shift).masked_fill(~mask, float("-inf")))


RLL_FORMS = ("paper", "rll_code")


def _rll_from_distances(dist: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float, alpha: float,
                        t_n: float, t_p: float, lambda_r: float, form: str = "rll_code") -> torch.Tensor:
    """Per-anchor Ranked List Loss (N,) from distances (N, M) and boolean masks (N, M).

    Positive boundary alpha - margin, negative boundary alpha. L_P = weighted mean over the
    violating positives (d > alpha - margin) of d - (alpha - margin), weights exp(t_p * (d - (alpha - margin)));
    L_N = weighted mean over violating negatives (d < alpha) of alpha - d, weights
    exp(t_n * (alpha - d)). Weights are constants (detached), as in the authors' code.
    An anchor without violators contributes 0 to that part.
    ``form="rll_code"``: returns (1-lambda_r) L_P + lambda_r L_N (the RLL authors' code).
    ``form="paper"``: unweighted means (t_n = t_p = 0) and L_P + L_N (Kamenou et al. eq. 2-4, 7-11);
    ``t_n``, ``t_p`` and ``lambda_r`` are then unused.
    """
    if form not in RLL_FORMS:
        raise ValueError(f"RLL form must be one of {RLL_FORMS}, got {form!r}")
    if form == "paper":
        t_n = t_p = 0.0
    b_pos = alpha - margin
    p_viol = pos & (dist > b_pos)
    n_viol = neg & (dist < alpha)
    p_gap = (dist - b_pos).clamp_min(0.0)
    n_gap = (alpha - dist).clamp_min(0.0)
    w_p = _row_softweights(t_p * p_gap.detach(), p_viol)
    w_n = _row_softweights(t_n * n_gap.detach(), n_viol)
    l_p = (w_p * p_gap).sum(1) / w_p.sum(1).clamp_min(1e-12)
    l_n = (w_n * n_gap).sum(1) / w_n.sum(1).clamp_min(1e-12)
    if form == "paper":
        return l_p + l_n
    return (1.0 - lambda_r) * l_p + lambda_r * l_n


def ranked_list_loss(emb: torch.Tensor, labels: torch.Tensor, *, margin: float = 0.4, alpha: float = 1.2,
                     t_n: float = 10.0, t_p: float = 0.0, lambda_r: float = 0.5,
                     normalize: bool = True, form: str = "rll_code") -> torch.Tensor:
    """Ranked List Loss (Wang et al., CVPR 2019) over a batch; mean over the B anchors.

    ``emb`` (B, D), ``labels`` (B,). Every sample is an anchor; positives are the other samples
    of its label, negatives all samples of other labels; d = Euclidean distance of the
    L2-normalised embeddings (``normalize``). Defaults follow the authors' code: margin
    m = 0.4, negative boundary alpha = 1 + m/2 = 1.2 (positive boundary alpha - m = 0.8),
    T_n = 10, T_p = 0 (uniform positives), L = (1 - lambda_r) L_P + lambda_r L_N with lambda_r = 0.5.
    ``form="paper"``: Kamenou et al.'s eq. (2)-(4), unweighted means and L_P + L_N (t_n, t_p,
    lambda_r unused); ``form="rll_code"`` (default here): the weighted form above.
    """
    if normalize:
        emb = F.normalize(emb, dim=1)
    dist = pairwise_euclidean(emb, emb)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    return _rll_from_distances(dist, same & ~eye, ~same, margin, alpha, t_n, t_p, lambda_r, form).mean()


def cross_modal_ranked_list_loss(emb_a: torch.Tensor, emb_b: torch.Tensor, labels: torch.Tensor, *,
                                 margin: float = 0.4, alpha: float = 1.2, t_n: float = 10.0, t_p: float = 0.0,
                                 lambda_r: float = 0.5, normalize: bool = True,
                                 exclude_partner: bool = True, form: str = "rll_code") -> torch.Tensor:
    """Cross-domain RLL (Kamenou et al. eq. 7-11) on aligned pairs (a_i, b_i) with label ``labels[i]``.

    ``emb_a``, ``emb_b`` (B, D). Anchors a_i rank the b_j (d_ij = ||a_i - b_j||) and anchors b_i
    rank the a_j; positives are same-label j != i (``exclude_partner``, as the paper writes:
    the aligned partner of the anchor is not a pair), negatives other labels. Returns
    (1/B) sum_i [L(a_i) + L(b_i)], i.e. the mean over a-anchors plus the mean over b-anchors.
    Other arguments (``form`` included: ``"paper"`` is eq. 7-11 exactly) as :func:`ranked_list_loss`.
    """
    if emb_a.shape != emb_b.shape:
        raise ValueError(f"cross-modal RLL needs aligned pairs: shapes {tuple(emb_a.shape)} vs {tuple(emb_b.shape)}")
    if normalize:
        emb_a, emb_b = F.normalize(emb_a, dim=1), F.normalize(emb_b, dim=1)
    same = labels.view(-1, 1) == labels.view(1, -1)
    pos = same
    if exclude_partner:
        pos = same & ~torch.eye(len(labels), dtype=torch.bool, device=emb_a.device)
    args = (margin, alpha, t_n, t_p, lambda_r, form)
    l_a = _rll_from_distances(pairwise_euclidean(emb_a, emb_b), pos, ~same, *args)
    l_b = _rll_from_distances(pairwise_euclidean(emb_b, emb_a), pos, ~same, *args)
    return l_a.mean() + l_b.mean()


def cosine_alignment_loss(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Domain alignment (Kamenou et al. eq. 1): mean_i (1 - cos(a_i, b_i)) for aligned rows of (B, D) tensors."""
    if a.shape != b.shape:
        raise ValueError(f"cosine alignment needs aligned pairs: shapes {tuple(a.shape)} vs {tuple(b.shape)}")
    return (1.0 - F.cosine_similarity(a, b, dim=1, eps=eps)).mean()
