"""CAM tools: HAMNet fusion maps, Grad-CAM on a CNN whose answer is known, overlays and figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from reidlab.analysis.cams import (grad_cam, hamnet_cam_maps, overlay, plot_cam_panel, plot_dominance_gallery,
                                   plot_grad_cam_grid, spectrum_dominance, to_display)
from reidlab.methods.base import ReIDMethod


class _FakeHAMNet(ReIDMethod):
    """Exposes HAMNet's cam_fusion outputs, computed as in the paper (eq. 7-12), from tiny convs."""

    has_cam_fusion = True

    def __init__(self, modalities=("rgb", "nir"), num_classes=5):
        super().__init__()
        torch.manual_seed(0)
        self.modalities = tuple(modalities)
        self.feat = nn.ModuleDict({m: nn.Conv2d(3, 8, 3, stride=4, padding=1) for m in modalities})
        self.cls = nn.ModuleDict({m: nn.Conv2d(8, num_classes, 1, bias=False) for m in modalities})

    def cam_fusion(self, images):
        cams = {m: self.cls[m](torch.relu(self.feat[m](images[m]))) for m in self.modalities}
        A = torch.stack([torch.sigmoid(cams[m]) for m in self.modalities], -1)  # (B,C,h,w,m)
        eta = (A * A.max(-1, keepdim=True).values).sum((2, 3))                 # (B,C,m)
        alpha = eta / eta.sum(-1, keepdim=True)
        fused = sum(alpha[..., j, None, None] * cams[m] for j, m in enumerate(self.modalities))
        return {"cams": cams, "alpha": alpha, "fused": fused}


def _images(b=3, h=32, w=16, mods=("rgb", "nir"), seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(b, 3, h, w, generator=g) for m in mods}


def test_hamnet_cam_maps_alpha_and_fusion():
    model = _FakeHAMNet(("rgb", "nir", "tir"))
    imgs = _images(mods=("rgb", "nir", "tir"))
    out = hamnet_cam_maps(model, imgs)
    assert out["modalities"] == ("rgb", "nir", "tir")
    assert out["alpha"].shape == (3, 3)
    np.testing.assert_allclose(out["alpha"].sum(1), 1.0, atol=1e-5)
    assert out["fused"].shape == (3, 32, 16) and out["cams"]["nir"].shape == (3, 32, 16)
    # Fusion survives upsampling: M' = sum_j alpha_j M_j pixel by pixel.
    recon = sum(out["alpha"][:, j, None, None] * out["cams"][m] for j, m in enumerate(out["modalities"]))
    np.testing.assert_allclose(out["fused"], recon, atol=1e-4)
    np.testing.assert_array_equal(out["class_idx"], out["scores"].argmax(1))
    # An explicit class picks that class's slice.
    raw = model.cam_fusion(imgs)
    out2 = hamnet_cam_maps(model, imgs, class_idx=[4, 0, 2])
    np.testing.assert_allclose(out2["alpha"], raw["alpha"][[0, 1, 2], [4, 0, 2]].detach().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="training classes"):
        hamnet_cam_maps(model, imgs, class_idx=7)
    with pytest.raises(TypeError, match="has_cam_fusion"):
        hamnet_cam_maps(nn.Linear(2, 2), imgs)
    with pytest.raises(TypeError, match="has_cam_fusion"):  # a method without CAM fusion, through the contract
        hamnet_cam_maps(_TwoStream(), imgs)


class _DictDataset(torch.utils.data.Dataset):
    def __init__(self, n=7):
        self.imgs = _images(b=n)
        self.records = [type("R", (), {"attrs": {"daynight": "night" if i % 2 else "day", "challenge": "none"}})()
                        for i in range(n)]

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return {"images": {m: t[i] for m, t in self.imgs.items()}, "label": i % 5, "pid": 100 + i, "index": i}


def test_spectrum_dominance_table_and_gallery(tmp_path):
    model, ds = _FakeHAMNet(), _DictDataset()
    df = spectrum_dominance(model, ds, batch_size=3)
    assert len(df) == 7 and list(df.position) == list(range(7))
    np.testing.assert_allclose(df.alpha_rgb + df.alpha_nir, 1.0, atol=1e-5)
    np.testing.assert_allclose(df.dominance, (df.alpha_rgb - df.alpha_nir).abs(), atol=1e-6)
    assert (df.class_idx == df.position % 5).all()
    assert df.daynight.tolist()[:2] == ["day", "night"]
    assert set(df.dominant) <= {"rgb", "nir"}
    sub = spectrum_dominance(model, ds, max_samples=4, seed=1)
    assert len(sub) == 4 and sub.equals(spectrum_dominance(model, ds, max_samples=4, seed=1))
    fig = plot_dominance_gallery(model, ds, df, n=4)
    from reidlab.analysis.figcheck import check_figure

    check_figure(fig)
    assert len(fig.axes) == 2 * 4
    fig.savefig(tmp_path / "gallery.png")


class _KnownCNN(ReIDMethod):
    """Feature map = (red, green) channels of the image; logit c = GAP(channel c). Answer known."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.body.weight.zero_()
            self.body.weight[0, 0] = 1.0
            self.body.weight[1, 1] = 1.0

    def forward(self, images):
        f = self.body(images["rgb"])
        return {"scores": f.mean((2, 3))}

    def class_logits(self, outputs):
        return {"rgb": outputs["scores"]}


def test_grad_cam_follows_the_class():
    img = torch.zeros(1, 3, 16, 16)
    img[0, 0, :8, :8] = 1.0   # red top-left -> class 0
    img[0, 1, 8:, 8:] = 2.0   # green bottom-right -> class 1 (predicted: larger mean)
    model = _KnownCNN()
    c0 = grad_cam(model, {"rgb": img}, "rgb", class_idx=0, target_layer=model.body)["cam"][0]
    c1 = grad_cam(model, {"rgb": img}, "rgb", class_idx=1, target_layer=model.body)
    assert (c0 >= 0).all() and (c1["cam"] >= 0).all()
    assert c0[:8, :8].mean() > 10 * (c0[8:, 8:].mean() + 1e-6)
    assert c1["cam"][0, 8:, 8:].mean() > 10 * (c1["cam"][0, :8, :8].mean() + 1e-6)
    assert c1["class_idx"][0] == 1
    pred = grad_cam(model, {"rgb": img}, "rgb", target_layer=model.body)
    assert pred["class_idx"][0] == 1
    assert all(p.requires_grad for p in model.parameters())  # flags restored


class _TwoStream(ReIDMethod):
    def __init__(self):
        super().__init__()
        from reidlab.methods.backbones import create_backbone

        torch.manual_seed(0)
        self.modalities = ("rgb", "nir")
        self.streams = nn.ModuleDict({m: create_backbone("resnet10t", last_stride=1) for m in self.modalities})
        self.head = nn.Linear(self.streams["rgb"].out_channels, 4)

    def forward(self, images):
        return {"logits": {m: self.head(self.streams[m](images[m]).mean((2, 3))) for m in self.modalities}}

    def class_logits(self, outputs):
        return dict(outputs["logits"])


class _PlainRGB(nn.Module):
    """Not a ReIDMethod: returns a (B, 2, h, w) map whose channels are the class scores."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, images):
        return self.conv(images["rgb"])


def test_grad_cam_finds_the_modality_stream():
    model = _TwoStream()
    imgs = _images(b=2, h=64, w=32)
    auto = grad_cam(model, imgs, "nir", class_idx=1)
    explicit = grad_cam(model, imgs, "nir", class_idx=1, target_layer=model.streams["nir"])
    other = grad_cam(model, imgs, "rgb", class_idx=1, target_layer=model.streams["rgb"])
    assert auto["cam"].shape == (2, 64, 32) and (auto["cam"] >= 0).all()
    np.testing.assert_allclose(auto["cam"], explicit["cam"], rtol=1e-5, atol=1e-7)
    assert not np.allclose(auto["cam"], other["cam"])
    with pytest.raises(ValueError, match="no images"):
        grad_cam(model, imgs, "tir")
    # a plain module has no class_logits contract: a clear error unless score_fn says where the logits are
    plain = _PlainRGB()
    with pytest.raises(TypeError, match="score_fn"):
        grad_cam(plain, {"rgb": imgs["rgb"]}, "rgb", target_layer=plain.conv)
    g = grad_cam(plain, {"rgb": imgs["rgb"]}, "rgb", target_layer=plain.conv, score_fn=lambda o: o.mean((2, 3)))
    assert g["cam"].shape == (2, 64, 32)


def test_overlay_and_panels(tmp_path):
    img = torch.randn(3, 32, 16)
    cam = np.random.default_rng(0).random((8, 4))
    ov = overlay(img, cam)
    assert ov.shape == (32, 16, 3) and ov.min() >= 0 and ov.max() <= 1
    u8 = (np.random.default_rng(1).random((32, 16, 3)) * 255).astype(np.uint8)
    assert to_display(u8).max() <= 1 and overlay(u8, np.zeros((32, 16))).shape == (32, 16, 3)
    with pytest.raises(ValueError):
        overlay(img, np.zeros((2, 2, 2)))
    model = _FakeHAMNet()
    imgs = _images()
    maps = hamnet_cam_maps(model, imgs)
    fig = plot_cam_panel(imgs, maps, i=1, title="sample 1")
    fig.savefig(tmp_path / "panel.png")
    fig2 = plot_grad_cam_grid(imgs, {"a": {"rgb": maps["cams"]["rgb"]}, "b": {"nir": maps["cams"]["nir"]}})
    assert len(fig2.axes) == 3 * 2


def test_real_hamnet_and_msn_maps():
    from reidlab.methods.registry import create_method

    torch.manual_seed(0)
    imgs = _images(b=2, h=64, w=32)
    ham = create_method("hamnet", 4, ("rgb", "nir"), backbone="resnet10t", pretrained=False)
    out = hamnet_cam_maps(ham, imgs, class_idx=[1, 3])
    np.testing.assert_allclose(out["alpha"].sum(1), 1.0, atol=1e-5)
    recon = out["alpha"][:, 0, None, None] * out["cams"]["rgb"] + out["alpha"][:, 1, None, None] * out["cams"]["nir"]
    np.testing.assert_allclose(out["fused"], recon, rtol=1e-4, atol=1e-6)
    msn = create_method("msn", 4, ("rgb", "nir"), backbone="resnet10t", pretrained=False)
    g = grad_cam(msn, imgs, "nir", class_idx=2)
    assert g["cam"].shape == (2, 64, 32) and (g["cam"] >= 0).all() and g["cam"].max() > 0
    kam = create_method("kamenou", 4, ("rgb", "nir"), backbone="resnet10t", pretrained=False)
    g = grad_cam(kam, imgs, "rgb", class_idx=1)  # logits through Kamenou.class_logits, no key guessing
    assert g["cam"].shape == (2, 64, 32) and (g["cam"] >= 0).all()
    with torch.no_grad():
        want = kam.eval()(imgs)["logits"]["rgb"]
    np.testing.assert_allclose(g["scores"], want.numpy(), rtol=1e-4, atol=1e-6)
