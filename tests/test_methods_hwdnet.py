"""HWDNet: each loss against a hand-computed case, the stage split (shared vs related parameters),
each decoupling structure, and unaligned batches with present masks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reidlab.methods.hwdnet import (SPLITS, centroid_loss, cross_modal_hard_triplet, restrainer_ab_closed_form,
                                   weight_restrainer_loss)
from reidlab.methods.registry import create_method

TINY = {"backbone": "tiny", "pretrained": False}
MODS = ("rgb", "tir")


def _model(**kw):
    torch.manual_seed(0)
    return create_method("hwdnet", 4, MODS, **{**TINY, **kw})


def _unaligned(b=8, seed=0):
    """Batch of b samples: 2 per ID (0,0,1,1,...), alternating RGB / IR; images hold only the present ones."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(b) // 2
    present = {"rgb": torch.arange(b) % 2 == 0, "tir": torch.arange(b) % 2 == 1}
    images = {m: torch.randn(int(p.sum()), 3, 64, 32, generator=g) for m, p in present.items()}
    return images, present, labels


def test_weight_restrainer_loss_hand_case():
    a, b = torch.tensor([2.0, 1.0]), torch.tensor([-1.0, 0.0])
    rgb = [[torch.tensor([[1.0, 2.0]])], [torch.tensor([[1.0]]), torch.tensor([[0.0, 0.0]])]]
    ir = [[torch.tensor([[3.0, 3.0]])], [torch.tensor([[4.0]]), torch.tensor([[0.0, 4.0]])]]
    # stage 0: 2*[1,2]-1 - [3,3] = [-2, 0] -> 2; stage 1: [1-4], [0, -4] -> sqrt(9 + 16) = 5
    assert weight_restrainer_loss(rgb, ir, a, b, torch.tensor([1.0, 1.0])).item() == pytest.approx(7.0)
    assert weight_restrainer_loss(rgb, ir, a, b, torch.tensor([0.0, 1.0])).item() == pytest.approx(5.0)


def test_cross_modal_hard_triplet_hand_case():
    fa, la = torch.tensor([[0.0], [12.0], [50.0]]), torch.tensor([0, 1, 2])
    fb, lb = torch.tensor([[1.0], [6.0], [5.0]]), torch.tensor([0, 0, 1])
    # anchor 0: hardest positive 6, hardest negative 5 -> 0.5 + 6 - 5 = 1.5
    # anchor 12: positive 7, negatives 11 and 6 -> 0.5 + 7 - 6 = 1.5; anchor of ID 2 has no positive: left out
    loss, n = cross_modal_hard_triplet(fa, la, fb, lb, margin=0.5)
    assert n == 2 and loss.item() == pytest.approx(1.5, abs=1e-5)
    loss_sum, _ = cross_modal_hard_triplet(fa, la, fb, lb, margin=0.5, reduction="sum")
    assert loss_sum.item() == pytest.approx(3.0, abs=1e-5)
    x = torch.tensor([[0.0], [100.0]])
    far, _ = cross_modal_hard_triplet(x, la[:2], x + 0.1, la[:2], margin=0.5)
    assert far.item() == pytest.approx(0.0, abs=1e-6)  # positives close, negatives far: no violation


def test_centroid_loss_hand_case_cross_and_single():
    feats = {"rgb": torch.tensor([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]]), "tir": torch.tensor([[0.0, 2.0]])}
    labels = {"rgb": torch.tensor([0, 0, 1]), "tir": torch.tensor([0])}
    # single: RGB ID 0 centroid (1, 0): distances 1, 1; RGB ID 1 alone: 0 -> mean 2/3; IR ID 0 alone: 0
    assert centroid_loss(feats, labels, "single").item() == pytest.approx(2 / 3, abs=1e-5)
    # cross (eq. 17): ID 0 centroid = ((1, 0) + (0, 2)) / 2 = (0.5, 1); ID 1 has only RGB: (5, 5)
    d = [math.hypot(0.5, 1.0), math.hypot(1.5, 1.0), 0.0]
    expected = sum(d) / 3 + math.hypot(0.5, 1.0)
    assert centroid_loss(feats, labels, "cross").item() == pytest.approx(expected, abs=1e-5)
    cos = centroid_loss(feats, labels, "single", distance="cosine").item()
    assert cos == pytest.approx((1 - 0.0) / 3 + (1 - 1.0) / 3, abs=1e-5)  # (0,0) vs (1,0): cos 0 (eps)


def test_id_and_orientation_losses_with_zeroed_classifiers_are_log_classes():
    model = _model(centroid="none", weight_restrainer=False)
    with torch.no_grad():
        model.id_classifier.weight.zero_()
        model.orient_classifier.weight.zero_()
        model.orient_classifier.bias.zero_()
    images, present, labels = _unaligned()
    out = model(images, present)
    orient = torch.tensor([0, 3, 7, -1, 2, 2, 5, 1])
    total, parts = model.loss(out, labels, orientation=orient)
    # uniform logits: CE = log C for every sample, per modality mean, summed over the two modalities
    assert parts["id"] == pytest.approx(2 * math.log(4), rel=1e-5)
    assert parts["orient"] == pytest.approx(2 * math.log(8), rel=1e-5) and parts["orient_n"] == 7
    assert total.item() == pytest.approx(parts["id"] + parts["tri"] + parts["orient"], rel=1e-5)


def test_total_is_the_weighted_sum_of_the_parts_and_restrainer_starts_at_zero():
    model = _model(wr_weight=2.0, centroid_weight=0.5, orient_weight=3.0, restrainer_ab="learned")
    images, present, labels = _unaligned()
    assert model.restrainer_loss().item() == pytest.approx(0.0, abs=1e-5)  # IR copy == RGB stages, a=1, b=0
    with torch.no_grad():
        next(p for p in model.ir_related[0].parameters() if p.ndim > 1).add_(0.1)  # move an IR stem conv
    total, parts = model.loss(model(images, present), labels, orientation=labels % 8)
    assert parts["wr"] > 0
    expect = parts["id"] + parts["tri"] + 2.0 * parts["wr"] + 3.0 * parts["orient"] + 0.5 * parts["centroid"]
    assert total.item() == pytest.approx(expect, rel=1e-4)
    total.backward()
    assert model.wr_a.grad is not None and model.wr_a.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_closed_form_a_b_hand_case():
    x = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, -1.0]])]
    y = [2.0 * w + 0.5 for w in x]  # IR = 2 RGB + 0.5 exactly
    a, b = restrainer_ab_closed_form(x, y)
    assert (a, b) == (pytest.approx(2.0), pytest.approx(0.5))
    assert weight_restrainer_loss([x], [y], torch.tensor([a]), torch.tensor([b]), torch.ones(1)).item() == \
        pytest.approx(0.0, abs=1e-5)
    # with noise: the least-squares line (numpy's polyfit as the reference)
    g = torch.Generator().manual_seed(1)
    xr = torch.randn(500, generator=g)
    yr = 0.7 * xr - 0.2 + 0.1 * torch.randn(500, generator=g)
    slope, icpt = np.polyfit(xr.double().numpy(), yr.double().numpy(), 1)
    a, b = restrainer_ab_closed_form([xr], [yr])
    assert (a, b) == (pytest.approx(slope, rel=1e-6), pytest.approx(icpt, abs=1e-6))
    assert restrainer_ab_closed_form([torch.zeros(3)], [torch.ones(3)]) == (1.0, pytest.approx(1.0))


def _restrainer_sgd(mode: str, n: int = 26000, steps: int = 40) -> list[float]:
    """L_wr alone under the paper's SGD (lr 0.01, momentum 0.9) from two nearly equal streams of n weights."""
    g = torch.Generator().manual_seed(0)
    wr = torch.nn.Parameter(torch.randn(n, generator=g) * 0.05)
    wi = torch.nn.Parameter(wr.detach() + torch.randn(n, generator=g) * 0.01)
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([wr, wi] + ([a, b] if mode == "learned" else []), lr=0.01, momentum=0.9)
    hist = []
    for _ in range(steps):
        if mode == "closed_form":
            with torch.no_grad():
                ca, cb = restrainer_ab_closed_form([wr], [wi])
                a.fill_(ca)
                b.fill_(cb)
        loss = weight_restrainer_loss([[wr]], [[wi]], a, b, torch.ones(1))
        hist.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return hist


def test_learned_a_b_blow_up_under_the_papers_sgd_and_closed_form_does_not():
    learned, closed = _restrainer_sgd("learned"), _restrainer_sgd("closed_form")
    assert learned[0] == pytest.approx(closed[0], rel=1e-3)
    assert max(learned) > 50 * learned[0]  # b's curvature ~ n / ||r||: it overshoots (the documented defect)
    assert max(closed) <= 1.01 * closed[0] and closed[-1] < 0.2 * closed[0]


def test_closed_form_model_solves_a_b_each_call():
    model = _model()  # default: closed_form
    assert not isinstance(model.wr_a, torch.nn.Parameter) and len(model.param_groups()) == 1
    assert model.restrainer_loss().item() == pytest.approx(0.0, abs=1e-5)
    ws = [p for p in model.ir_related[0].parameters() if p.ndim > 1]
    with torch.no_grad():
        for w in ws:
            w.mul_(1.5).add_(0.02)  # IR stem = 1.5 RGB stem + 0.02: an affine map, which L_wr forgives
    w = ws[0]
    assert model.restrainer_loss().item() == pytest.approx(0.0, abs=1e-4)
    assert float(model.wr_a[0]) == pytest.approx(1.5, rel=1e-4) and float(model.wr_b[0]) == pytest.approx(0.02, abs=1e-5)
    with torch.no_grad():
        w.add_(0.1 * torch.randn_like(w))
    images, present, labels = _unaligned()
    total, parts = model.loss(model(images, present), labels, orientation=labels % 8)
    assert parts["wr"] > 0
    total.backward()
    assert w.grad is not None and w.grad.abs().sum() > 0  # the gradient reaches the stream weights


def test_paper_config_reads_256x180_as_width_x_height():
    from reidlab.methods.hwdnet import HWDNET_CONFIG

    assert (HWDNET_CONFIG["height"], HWDNET_CONFIG["width"]) == (180, 256)  # landscape, like the UAV crops


@pytest.mark.parametrize("split", SPLITS)
def test_stage_split_which_parameters_are_shared_and_which_related(split):
    model = _model(split=split)
    k = int(split[1])
    rel = model.related_parameters()
    shared = model.shared_parameters()
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert len(model.ir_related) == k and model.wr_a.shape == (k,)
    assert not ids(rel["rgb"]) & ids(rel["tir"]) and not (ids(rel["rgb"]) | ids(rel["tir"])) & ids(shared)
    assert (len(rel["rgb"]) > 0) == (k > 0) and len(rel["rgb"]) == len(rel["tir"])
    body = model.backbone.body
    stem = ids(body.conv1.parameters())
    assert (stem <= ids(rel["rgb"])) == (k >= 1) and (stem <= ids(shared)) == (k == 0)
    assert (ids(body.layer1.parameters()) <= ids(rel["rgb"])) == (k >= 2)
    assert (ids(body.layer4.parameters()) <= ids(shared)) == (k <= 4)
    # an IR-only batch trains the IR related stages and the shared ones, never the RGB related ones
    images, present, labels = _unaligned()
    out = model({"tir": images["tir"]}, {"tir": present["tir"]})
    model.loss(out, labels)[0].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in rel["rgb"])
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in shared)
    if k:
        assert all(p.grad is not None for p in rel["tir"] if p.requires_grad)


def test_each_decoupling_structure():
    images, present, labels = _unaligned()
    for dec in ("split", "subtraction", "prediction", "none"):
        model = _model(decoupling=dec)
        model.eval()
        out = model(images, present)
        z, inv = out["feat"]["rgb"], out["inv"]["rgb"]
        d = z.shape[1]
        if dec == "split":
            r = model.split_at
            assert r == d // 2 and torch.equal(out["rel"]["rgb"], z[:, :r]) and torch.equal(inv, z[:, r:])
        elif dec == "subtraction":
            torch.testing.assert_close(inv + out["rel"]["rgb"], z)
            torch.testing.assert_close(out["rel"]["rgb"], model.g_rel(z))
        elif dec == "prediction":
            torch.testing.assert_close(inv, model.g_inv(z))
            torch.testing.assert_close(out["rel"]["rgb"], model.g_rel(z))
            assert inv.shape[1] + out["rel"]["rgb"].shape[1] == d
        else:
            assert torch.equal(inv, z) and "orient_logits" not in out and model.orient_classifier is None
        if dec != "none":
            assert out["orient_logits"]["tir"].shape == (4, 8)
        emb = model.embed({"rgb": images["rgb"]})  # only the invariant part is the test embedding
        torch.testing.assert_close(emb["rgb"], inv)
        parts = model.decouple({"tir": images["tir"]})["tir"]
        torch.testing.assert_close(parts["inv"], out["inv"]["tir"])
        assert ("rel" in parts) == (dec != "none")
        assert model.embedding_keys() == MODS


def test_unaligned_batch_uses_labels_of_present_samples_and_refuses_placeholders():
    model = _model()
    images, present, labels = _unaligned()
    out = model(images, present)
    assert out["logits"]["rgb"].shape == (4, 4) and out["logits"]["tir"].shape == (4, 4)
    _, parts = model.loss(out, labels, orientation=torch.zeros(8, dtype=torch.long))
    lab_rgb = labels[present["rgb"]]
    ce = (F.cross_entropy(out["logits"]["rgb"].detach(), lab_rgb)
          + F.cross_entropy(out["logits"]["tir"].detach(), labels[present["tir"]]))
    assert parts["id"] == pytest.approx(float(ce), rel=1e-5)
    assert parts["tri_anchors"] == 8  # every ID has both modalities: all 8 anchors mined across modalities
    padded = {m: torch.zeros(8, 3, 64, 32) for m in MODS}
    with pytest.raises(ValueError, match="no placeholder images"):
        model(padded, present)
    with pytest.raises(ValueError, match="split"):
        _model(split="s6")
    with pytest.raises(ValueError, match="ResNet-family"):
        create_method("hwdnet", 4, MODS, backbone="mobilenetv2", pretrained=False)


class _Ctx:
    """The part of the engine's StepContext that training_step uses."""

    def __init__(self, model):
        self.model, self.steps = model, []
        self.opt = torch.optim.SGD(model.param_groups(), lr=0.01, momentum=0.9)

    def autocast(self):
        import contextlib

        return contextlib.nullcontext()

    def forward(self, images, present):
        return self.model(images, present)

    def backward_step(self, loss, parts):
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps.append(parts)


def test_training_step_passes_orientation_and_refuses_batches_without_it():
    model = _model()
    images, present, labels = _unaligned()
    ctx = _Ctx(model)
    assert model.sample_fields == ("orientation",)
    ori = (torch.arange(8) % 8).float()
    ori[3] = float("nan")  # an unlabelled sample (the dataset's NaN) is not counted
    batch = {"images": images, "present": present, "labels": labels, "fields": {"orientation": ori}}
    total, parts = model.training_step(batch, ctx)
    assert parts["orient_n"] == 7 and len(ctx.steps) == 1 and torch.isfinite(total)
    with pytest.raises(ValueError, match="no orientation label"):
        model.training_step({**batch, "fields": {"orientation": torch.full((8,), float("nan"))}}, ctx)
    with pytest.raises(ValueError, match="no orientation label"):
        model.training_step({**batch, "fields": {}}, ctx)
    plain = _model(decoupling="none")
    assert "orient" not in plain.training_step({**batch, "fields": {}}, _Ctx(plain))[1]
