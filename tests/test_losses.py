"""Shared losses against small hand-computed examples (values worked out in the comments)."""
from __future__ import annotations

import math

import pytest
import torch

from reidlab.methods.losses import (batch_hard_triplet, cosine_alignment_loss, cross_entropy_ls,
                                    cross_modal_ranked_list_loss, pairwise_euclidean, ranked_list_loss)

LN3 = math.log(3.0)


def test_cross_entropy_label_smoothing_by_hand():
    # logits [0, ln3] -> softmax [1/4, 3/4]; label 0.
    logits = torch.tensor([[0.0, LN3]])
    labels = torch.tensor([0])
    # eps = 0: -ln(1/4) = ln 4 = 1.3862944
    assert cross_entropy_ls(logits, labels, 0.0).item() == pytest.approx(math.log(4.0), abs=1e-6)
    # eps = 0.2, C = 2: target q = [0.9, 0.1]; -(0.9 ln(1/4) + 0.1 ln(3/4)) = 1.2476649 + 0.0287682 = 1.2764332
    assert cross_entropy_ls(logits, labels, 0.2).item() == pytest.approx(1.2764332, abs=1e-6)
    # agrees with torch's own implementation on random input
    g = torch.Generator().manual_seed(0)
    lg, lb = torch.randn(6, 5, generator=g), torch.randint(0, 5, (6,), generator=g)
    ref = torch.nn.functional.cross_entropy(lg, lb, label_smoothing=0.1)
    assert cross_entropy_ls(lg, lb, 0.1).item() == pytest.approx(ref.item(), abs=1e-6)
    with pytest.raises(ValueError, match="epsilon"):
        cross_entropy_ls(logits, labels, 1.0)


def test_batch_hard_triplet_by_hand():
    # 1-D features 0, 1 (id 0) and 3, 5 (id 1).
    feats = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # (d_ap, d_an): x=0 (1, 3); x=1 (1, 2); x=3 (2, 2); x=5 (2, 4)
    # hinge, margin 0.3: relu(-1.7), relu(-0.7), relu(0.3), relu(-1.7) -> mean 0.3 / 4 = 0.075
    assert batch_hard_triplet(feats, labels, margin=0.3).item() == pytest.approx(0.075, abs=1e-5)
    # soft margin: softplus(-2) + softplus(-1) + softplus(0) + softplus(-2)
    #   = 0.12692801 + 0.31326169 + 0.69314718 + 0.12692801 = 1.26026489 -> / 4 = 0.31506622
    assert batch_hard_triplet(feats, labels, soft_margin=True).item() == pytest.approx(0.31506622, abs=1e-5)
    # an anchor without positive (id 2 alone) is left out of the mean
    feats3 = torch.cat([feats, torch.tensor([[100.0]])])
    assert batch_hard_triplet(feats3, torch.tensor([0, 0, 1, 1, 2])).item() == pytest.approx(0.075, abs=1e-5)


def test_pairwise_euclidean_zero_distance_has_finite_grad():
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0]], requires_grad=True)
    d = pairwise_euclidean(x, x)
    assert d[0, 1].item() == pytest.approx(0.0, abs=1e-5)
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


# Ranked list loss, 1-D, not normalised: margin 0.4, alpha 1.2 (positive boundary 0.8), lambda_r 0.5.
RLL_X = torch.tensor([[0.0], [1.0], [0.5], [2.0]])
RLL_Y = torch.tensor([0, 0, 1, 1])


def test_ranked_list_loss_by_hand():
    # anchor 0 (x=0): pos d=1.0 -> L_P = 0.2; negs d=0.5 (viol, gap 0.7), d=2 (no) -> L_N = 0.7; L = 0.45
    # anchor 1 (x=1): pos d=1.0 -> 0.2; negs gaps 0.7 and 0.2, weights e^{10*0.7}, e^{10*0.2}:
    #   L_N = 0.2 + 0.5 / (1 + e^-5) = 0.69665357; L = 0.1 + 0.34832679 = 0.44832679
    # anchor 2 (x=0.5): pos d=1.5 -> 0.7; negs d=0.5, 0.5 -> 0.7; L = 0.7
    # anchor 3 (x=2): pos d=1.5 -> 0.7; negs d=2 (no), d=1 (gap 0.2) -> 0.2; L = 0.45
    # mean = (0.45 + 0.44832679 + 0.7 + 0.45) / 4 = 0.51208170
    got = ranked_list_loss(RLL_X, RLL_Y, normalize=False)
    assert got.item() == pytest.approx(0.51208170, abs=1e-5)
    # T_n = 0 (uniform negatives): anchor 1 L_N = (0.7 + 0.2) / 2 = 0.45 -> L = 0.325; mean = 1.925 / 4 = 0.48125
    assert ranked_list_loss(RLL_X, RLL_Y, normalize=False, t_n=0.0).item() == pytest.approx(0.48125, abs=1e-5)
    # lambda_r = 1 keeps only L_N: (0.7 + 0.69665357 + 0.7 + 0.2) / 4 = 0.57416339
    assert ranked_list_loss(RLL_X, RLL_Y, normalize=False, lambda_r=1.0).item() == pytest.approx(0.57416339, abs=1e-5)


def test_ranked_list_loss_paper_form_by_hand():
    # Kamenou eq. 2-4: per anchor unweighted L_P + L_N (no T_n weighting, no lambda_r), mean over anchors.
    # anchor 0: 0.2 + 0.7 = 0.9; anchor 1: 0.2 + (0.7 + 0.2) / 2 = 0.65; anchor 2: 0.7 + 0.7 = 1.4;
    # anchor 3: 0.7 + 0.2 = 0.9 -> mean 3.85 / 4 = 0.9625
    got = ranked_list_loss(RLL_X, RLL_Y, normalize=False, form="paper")
    assert got.item() == pytest.approx(0.9625, abs=1e-5)
    # t_n and lambda_r belong to the RLL code's form: the paper form ignores them
    assert ranked_list_loss(RLL_X, RLL_Y, normalize=False, form="paper", t_n=10.0, lambda_r=0.9).item() == \
        pytest.approx(0.9625, abs=1e-5)
    with pytest.raises(ValueError, match="form"):
        ranked_list_loss(RLL_X, RLL_Y, form="weighted")


def test_cross_modal_rll_paper_and_code_forms_by_hand():
    # labels 0 0 1 1, 1-D, not normalised, margin 0.4, alpha 1.2; positives exclude the aligned partner
    a = torch.tensor([[0.0], [0.2], [0.5], [3.0]])
    b = torch.tensor([[0.1], [0.3], [0.9], [3.0]])
    y = torch.tensor([0, 0, 1, 1])
    # anchors a: a0 neg b2 gap 0.3 -> L_N 0.3; a1 neg b2 gap 0.5; a2 pos b3 gap 1.7, negs b0 gap 0.8, b1 gap 1.0;
    #            a3 pos b2 gap 1.3
    # anchors b: b0 neg a2 gap 0.8; b1 neg a2 gap 1.0; b2 pos a3 gap 1.3, negs a0 gap 0.3, a1 gap 0.5;
    #            b3 pos a2 gap 1.7
    # paper (eq. 7-11): a: 0.3 + 0.5 + (1.7 + 0.9) + 1.3 = 4.7; b: 0.8 + 1.0 + (1.3 + 0.4) + 1.7 = 5.2
    #   -> 4.7 / 4 + 5.2 / 4 = 2.475
    got = cross_modal_ranked_list_loss(a, b, y, normalize=False, form="paper")
    assert got.item() == pytest.approx(2.475, abs=1e-5)
    # RLL code: 0.5 L_P + 0.5 L_N, negatives weighted exp(10 gap). a2: L_N = (0.8 e^8 + e^10) / (e^8 + e^10)
    #   = 1 - c, c = 0.2 / (1 + e^2); b2: L_N = (0.3 e^3 + 0.5 e^5) / (e^3 + e^5) = 0.5 - c.
    #   a: 0.15 + 0.25 + (0.85 + 0.5 - 0.5c) + 0.65 = 2.4 - 0.5c; b: 0.4 + 0.5 + (0.65 + 0.25 - 0.5c) + 0.85
    #   = 2.65 - 0.5c -> (5.05 - c) / 4
    c = 0.2 / (1 + math.exp(2))
    got = cross_modal_ranked_list_loss(a, b, y, normalize=False, form="rll_code")
    assert got.item() == pytest.approx((5.05 - c) / 4, abs=1e-5)


def test_ranked_list_loss_normalises_and_is_zero_when_separated():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 5, generator=g)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    assert ranked_list_loss(x, y).item() == pytest.approx(ranked_list_loss(3.7 * x, y).item(), abs=1e-6)
    # orthonormal classes with identical members: positives at 0 < 0.8, negatives at sqrt(2) > 1.2
    sep = torch.eye(4).repeat_interleave(2, dim=0)
    assert ranked_list_loss(sep, y).item() == pytest.approx(0.0, abs=1e-6)


def test_cross_modal_ranked_list_loss_by_hand():
    # aligned pairs (a_i, b_i), labels 0 0 1 1, 1-D, not normalised, margin 0.4, alpha 1.2
    a = torch.tensor([[0.0], [1.0], [3.0], [4.0]])
    b = torch.tensor([[0.5], [2.5], [3.0], [5.0]])
    y = torch.tensor([0, 0, 1, 1])
    # anchors a (positives b_j, j != i, same id):
    #   a0: pos b1 d=2.5 (gap 1.7); no neg < 1.2 -> 0.85
    #   a1: pos b0 d=0.5 (ok); negs d=2, 4 -> 0
    #   a2: pos b3 d=2 (gap 1.2); neg b1 d=0.5 (gap 0.7) -> 0.6 + 0.35 = 0.95
    #   a3: pos b2 d=1 (gap 0.2); negs d=3.5, 1.5 -> 0.1            mean_a = 1.9 / 4 = 0.475
    # anchors b: b0 -> 0; b1: pos a0 d=2.5 (1.7), neg a2 d=0.5 (0.7) -> 1.2; b2: pos a3 d=1 -> 0.1;
    #   b3: pos a2 d=2 (1.2) -> 0.6                                 mean_b = 1.9 / 4 = 0.475
    got = cross_modal_ranked_list_loss(a, b, y, normalize=False)
    assert got.item() == pytest.approx(0.95, abs=1e-5)
    # with the aligned partner counted as a positive: a1 gains b1 (d=1.5, gap 0.7) -> 0.35, a3 adds b3 (gap 0.2,
    # mean unchanged); b1 positives gaps 1.7, 0.7 -> 0.6 + 0.35 = 0.95; b3 positives 1.2, 0.2 -> 0.35
    # mean_a = 2.25 / 4 = 0.5625, mean_b = 1.4 / 4 = 0.35 -> 0.9125
    got = cross_modal_ranked_list_loss(a, b, y, normalize=False, exclude_partner=False)
    assert got.item() == pytest.approx(0.9125, abs=1e-5)
    with pytest.raises(ValueError, match="aligned"):
        cross_modal_ranked_list_loss(a, b[:3], y, normalize=False)


def test_cosine_alignment_by_hand():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    b = torch.tensor([[0.0, 1.0], [2.0, 2.0], [4.0, 3.0]])
    # cos = 0, 1, 24/25 -> 1 - cos = 1, 0, 0.04 -> mean 0.3466667
    assert cosine_alignment_loss(a, b).item() == pytest.approx(1.04 / 3, abs=1e-6)


def test_ranked_list_loss_large_distances_stay_finite():
    # un-normalised far-apart points: exp(T_n * gap) would overflow without the per-anchor shift
    x = torch.tensor([[0.0], [0.5], [-200.0], [-200.5]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    loss = ranked_list_loss(x, y, normalize=False, alpha=500.0, margin=0.4, t_n=10.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # anchor 0: negs at d=200, 200.5 -> gaps 300, 299.5, weights 1 : e^-5 -> L_N = 300 - 0.5 e^-5/(1+e^-5)
    l_n0 = 300 - 0.5 / (1 + math.exp(5))
    # anchors 1..3 by symmetry: anchor 1 gaps 299.5, 299 -> 299.5 - 0.5/(1+e^5); anchor 2 gaps 300, 299.5 -> as 0;
    # anchor 3 gaps 299.5, 299 -> as anchor 1. Positives (d=0.5 < 499.6) never violate.
    l_n1 = 299.5 - 0.5 / (1 + math.exp(5))
    assert loss.item() == pytest.approx(0.5 * (2 * l_n0 + 2 * l_n1) / 4, rel=1e-6)
