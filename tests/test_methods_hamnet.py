"""HAMNet: L_hsc (both forms), class-aware fusion (alpha by hand), L_caid, Table 5 switches, CAM export."""
from __future__ import annotations

import math

import pytest
import torch

from reidlab.eval.features import fused_key
from reidlab.methods import create_method
from reidlab.methods.hamnet import TABLE_5_ROWS, class_aware_fusion, hsc_loss_code, hsc_loss_paper
from reidlab.methods.losses import cross_entropy_ls

LN3 = math.log(3.0)
TINY = {"backbone": "tiny", "pretrained": False}
# class scores of 3 streams, 2 samples, 2 classes
S1 = torch.tensor([[0.0, LN3], [LN3, 0.0]])  # softmax [1/4, 3/4], [3/4, 1/4]
S2 = torch.tensor([[1.0, 1.0], [LN3, 0.0]])  # softmax [1/2, 1/2], [3/4, 1/4]
S3 = torch.tensor([[2.0, 2.0], [0.0, LN3]])  # softmax [1/2, 1/2], [1/4, 3/4]


def test_hsc_paper_form_by_hand():
    # 2 streams: sample 1: 1 - (1/4*1/2 + 3/4*1/2) = 0.5; sample 2: 1 - (9/16 + 1/16) = 0.375 -> mean 0.4375
    assert hsc_loss_paper([S1, S2]).item() == pytest.approx(0.4375, abs=1e-6)
    # 3 streams: sample 1: 1 - (1/16 + 3/16) = 0.75; sample 2: 1 - (9/64 + 3/64) = 0.8125 -> mean 0.78125
    assert hsc_loss_paper([S1, S2, S3]).item() == pytest.approx(0.78125, abs=1e-6)


def test_hsc_code_form_by_hand():
    # sum over batch of 1 - cos on logits. (S1, S2): sample 1 cos([0, ln3], [1, 1]) = 1/sqrt2 -> 0.29289322;
    # sample 2 identical -> 0. Sum 0.29289322
    assert hsc_loss_code([S1, S2]).item() == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    # 3 streams, all pairs: (1,2) 0.29289322 + 0; (1,3) 0.29289322 + 1 (orthogonal); (2,3) 0 + 1 -> 2.58578644
    assert hsc_loss_code([S1, S2, S3]).item() == pytest.approx(2 + 2 * (1 - 1 / math.sqrt(2)), abs=1e-6)


def test_class_aware_fusion_by_hand():
    # m=2 streams, B=1, C=2 classes, h=1, w=2
    cams = torch.zeros(2, 1, 2, 1, 2)
    cams[1, 0, 0, 0] = torch.tensor([LN3, -LN3])  # class 0: M^1 = [0, 0], M^2 = [ln3, -ln3]
    cams[0, 0, 1, 0] = torch.tensor([LN3, LN3])   # class 1: M^1 = [ln3, ln3], M^2 = [0, 0]
    fused, alpha = class_aware_fusion(cams)
    assert alpha.shape == (1, 2, 2) and fused.shape == (1, 2, 1, 2)
    # class 0: A^1 = [.5, .5], A^2 = [.75, .25], B = [.75, .5];
    #   eta^1 = .375 + .25 = .625, eta^2 = .5625 + .125 = .6875 -> alpha = 10/21, 11/21
    # class 1: A^1 = [.75, .75], A^2 = [.5, .5], B = [.75, .75];
    #   eta^1 = 1.125, eta^2 = .75 -> alpha = 0.6, 0.4
    assert torch.allclose(alpha[0], torch.tensor([[10 / 21, 11 / 21], [0.6, 0.4]]), atol=1e-6)
    # M'_0 = 11/21 [ln3, -ln3]; M'_1 = 0.6 [ln3, ln3]
    assert torch.allclose(fused[0, 0, 0], torch.tensor([11 / 21 * LN3, -11 / 21 * LN3]), atol=1e-6)
    assert torch.allclose(fused[0, 1, 0], torch.tensor([0.6 * LN3, 0.6 * LN3]), atol=1e-6)
    # S' = GAP(M') = [0, 0.6 ln3]; L_caid for label 1 = -log(3^0.6 / (1 + 3^0.6)) = log(1 + 3^-0.6) = 0.41692...
    s_fused = fused.mean(dim=(2, 3))
    expected = math.log(1 + 3 ** -0.6)
    assert cross_entropy_ls(s_fused, torch.tensor([1])).item() == pytest.approx(expected, abs=1e-6)



@pytest.fixture(scope="module")
def model2():
    torch.manual_seed(0)
    return create_method("hamnet", 4, ("rgb", "nir"), **TINY)


def test_cams_scores_and_fusion_in_model(make_batch, model2):
    images, labels = make_batch(model2.modalities)
    model2.train()
    out = model2(images)
    for m in model2.modalities:
        cam = out["cams"][m]
        assert cam.shape == (8, 4, 4, 2)  # (B, C, h, w): 64x32 input, last stride 1
        # the 1x1 CAM conv and GAP commute with the classifier: S^j = W^j GAP(F^j) = logits
        assert torch.allclose(out["scores"][m], out["logits"][m], atol=1e-5)
    stacked = torch.stack([out["cams"][m] for m in model2.modalities])
    fused, alpha = class_aware_fusion(stacked)
    assert torch.allclose(out["fused_scores"], fused.mean(dim=(2, 3)), atol=1e-6)
    total, parts = model2.loss(out, labels)
    assert parts["caid"] == pytest.approx(cross_entropy_ls(out["fused_scores"], labels).item(), rel=1e-5)
    assert parts["hsc"] == pytest.approx(hsc_loss_paper([out["scores"]["rgb"], out["scores"]["nir"]]).item(), rel=1e-5)
    assert total.item() == pytest.approx(parts["msid"] + 0.001 * parts["hsc"] + parts["caid"], rel=1e-5)
    model2.eval()
    vis = model2.cam_fusion(images)
    assert vis["alpha"].shape == (8, 4, 2) and vis["fused"].shape == (8, 4, 4, 2)
    assert torch.allclose(vis["alpha"].sum(-1), torch.ones(8, 4), atol=1e-5)
    assert set(vis["cams"]) == {"rgb", "nir"} and vis["modalities"] == ("rgb", "nir")


def test_table5_switches_change_loss_parts(make_batch):
    images, labels = make_batch(("rgb", "nir"))
    seen = {}
    for row, overrides in TABLE_5_ROWS.items():
        torch.manual_seed(0)
        model = create_method("hamnet", 4, ("rgb", "nir"), **TINY, **overrides)
        _, parts = model.loss(model(images), labels)
        seen[row] = set(parts)
    base = {"id_rgb", "id_nir", "msid"}
    assert seen == {"baseline (MSN)": base, "+ L_hsc": base | {"hsc"}, "+ L_caid": base | {"caid"},
                    "+ L_hsc + L_caid": base | {"hsc", "caid"}}


def test_code_form_triplet_and_class_aware_embedding(make_batch):
    torch.manual_seed(0)
    model = create_method("hamnet", 4, ("rgb", "nir"), hsc_form="code", triplet_weight=1.0,
                          embed_weighting="class_aware", **TINY)
    images, labels = make_batch(("rgb", "nir"))
    out = model(images)
    total, parts = model.loss(out, labels)
    assert parts["hsc"] == pytest.approx(hsc_loss_code([out["scores"]["rgb"], out["scores"]["nir"]]).item(), rel=1e-5)
    assert {"triplet", "triplet_fused"} <= set(parts)
    assert total.item() == pytest.approx(parts["msid"] + 0.001 * parts["hsc"] + parts["caid"] + parts["triplet"]
                                         + parts["triplet_fused"], rel=1e-5)
    model.eval()
    emb = model.embed(images)
    vis = model.cam_fusion(images)
    w = vis["alpha"].mean(dim=1)  # (B, 2)
    expected = w[:, :1] * emb["rgb"] + w[:, 1:] * emb["nir"]
    assert torch.allclose(emb[fused_key(("rgb", "nir"))], expected, atol=1e-5)
    assert not torch.allclose(emb[fused_key(("rgb", "nir"))], emb["rgb"] + emb["nir"], atol=1e-3)
    with pytest.raises(ValueError, match="hsc_form"):
        create_method("hamnet", 4, ("rgb", "nir"), hsc_form="cosine", **TINY)


def test_default_config_is_the_papers():
    from reidlab.methods import default_config

    h = default_config("hamnet")
    assert (h["hsc_weight"], h["hsc_form"], h["use_hsc"], h["use_caid"]) == (0.001, "paper", True, True)
    assert (h["epochs"], h["warmup_epochs"], h["warmup_factor"], h["optimizer"]) == (120, 10, 0.1, "adam")
    assert h["backbone"] == "resnet50" and h["lr"] == 3.5e-4 and h["milestones"] == [40, 70]
    with pytest.raises(ValueError, match=">= 2 modalities"):
        create_method("hamnet", 4, ("rgb",), **TINY)


def test_three_streams(make_batch):
    """HAMNet on RGBNT100's three spectra (the smoke set-up uses two)."""
    mods = ("rgb", "nir", "tir")
    model = create_method("hamnet", 4, mods, **TINY)
    images, labels = make_batch(mods)
    out = model(images)
    total, parts = model.loss(out, labels)
    assert torch.isfinite(total) and {"hsc", "caid"} <= set(parts) and out["alpha"].shape == (8, 4, 3)
    assert set(model.class_logits(out)) == set(mods)
    assert set(model.eval().embed(images)) == set(model.embedding_keys()) == {*mods, fused_key(mods)}


def test_class_aware_test_embedding_reaches_the_method_fusion_protocol(synth_root):
    """HAMNet's default fused row is the class-aware embedding; ``rgbn300/rgb-nir-method`` scores it,
    ``rgbn300/rgb-nir`` the paper's sum of the per-modality rows."""
    import numpy as np

    from reidlab.data import load_dataset
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.extract import extract_features
    from reidlab.eval import evaluate, get_protocol

    assert get_protocol("rgbn300/rgb-nir-method").fusion == "method"
    torch.manual_seed(0)
    model = create_method("hamnet", 4, ("rgb", "nir"), **TINY)
    assert model.config["embed_weighting"] == "class_aware"
    data = load_dataset("rgbn300", synth_root("rgbn300"))
    fs = extract_features(model, data, ["query", "gallery"], build_transforms(64, 32, train=False), progress=False)
    q = fs["query"]
    rec_f, fused = q.rows(fused_key(("rgb", "nir")))
    rec_r, rgb = q.rows("rgb")
    rec_n, nir = q.rows("nir")
    assert (rec_f == rec_r).all() and (rec_f == rec_n).all()
    assert not np.allclose(fused, rgb + nir, atol=1e-4)  # not the plain sum ...
    # ... but a per-record convex combination of the stream features with weights mean_c alpha_c^j in (0, 1)
    w = np.linalg.lstsq(np.stack([rgb[0], nir[0]], 1), fused[0], rcond=None)[0]
    assert w.sum() == pytest.approx(1.0, abs=1e-3) and (w > 0).all()
    m = evaluate(fs, "rgbn300/rgb-nir-method", n_boot=0)
    s = evaluate(fs, "rgbn300/rgb-nir", n_boot=0)
    assert set(m.per_query["key"]) == {"fused:rgb+nir"} and m.summary["fusion"] == "method"
    assert s.summary["fusion"] == "sum"
