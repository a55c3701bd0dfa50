"""TransOSS: shapes, routing by modality, MIE/SSE switches, unaligned batches, checkpoint import (tiny ViT, CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidlab.methods import create_method, default_config
from reidlab.methods.transoss import SMOKE_OVERRIDES, TransOSS, import_weights, ship_size_features

H, W = 64, 32
B = 8


def _model(num_classes=4, **kw) -> TransOSS:
    torch.manual_seed(0)
    return create_method("transoss", num_classes, ("rgb", "sar"), height=H, width=W, **{**SMOKE_OVERRIDES, **kw})


def _unaligned(seed=0):
    """8 batch positions: even = optical, odd = SAR; labels 0,0,1,1,..."""
    g = torch.Generator().manual_seed(seed)
    present = {"rgb": torch.arange(B) % 2 == 0}
    present["sar"] = ~present["rgb"]
    images = {m: torch.randn(int(p.sum()), 3, H, W, generator=g) for m, p in present.items()}
    sizes = {m: 20 + 80 * torch.rand(int(p.sum()), 2, generator=g) for m, p in present.items()}
    return images, present, sizes, torch.arange(B) // 2


def test_default_config_is_the_papers_setup():
    c = default_config("transoss")
    assert (c["backbone"], c["mie_coef"], c["sse"], c["mie"], c["dual_tokenizer"]) == ("vit_base_patch16", 3.0, True,
                                                                                       True, True)
    assert (c["P"], c["K"], c["height"], c["width"], c["optimizer"], c["lr"]) == (8, 4, 256, 128, "sgd", 5e-4)
    assert (c["drop_path"], c["optical_size_scale"], c["triplet_soft"], c["test_feature"]) == (0.1, 0.75, True, "before")
    assert (c["weight_decay"], c["momentum"], c["warmup_epochs"], c["warmup_factor"], c["epochs"]) == (1e-4, 0.9, 5, 0.01, 200)
    assert TransOSS.sample_fields == ("size",)


def test_vit_b16_shapes_match_the_public_model():
    m = create_method("transoss", 10, ("rgb", "sar"))
    sd = m.state_dict()
    assert m.vit.grid == (16, 8)  # 256x128 with 16x16 patches at stride 16
    assert sd["vit.pos_embed"].shape == (1, 129, 768) and sd["vit.mie_embed"].shape == (2, 1, 768)
    assert sd["vit.patch_embed_sar.proj.weight"].shape == (768, 3, 16, 16)
    assert sd["vit.sse_embed.weight"].shape == (768, 3) and len(m.vit.blocks) == 12
    assert m.vit.blocks[-1].drop_path1.drop_prob == pytest.approx(0.1)


def test_unaligned_forward_loss_embed_and_gradients():
    m = _model()
    images, present, sizes, labels = _unaligned()
    out = m(images, present, fields={"size": sizes})
    assert out["feat"]["rgb"].shape == (4, 64) and out["logits"]["sar"].shape == (4, 4)
    assert out["pos"]["sar"].tolist() == [1, 3, 5, 7]
    total, parts = m.loss(out, labels)
    assert set(parts) == {"id", "triplet"} and torch.isfinite(total)
    total.backward()
    for name in ("vit.patch_embed.proj.weight", "vit.patch_embed_sar.proj.weight", "vit.mie_embed",
                 "vit.sse_embed.weight", "classifier.weight"):
        g = dict(m.named_parameters())[name].grad
        assert g is not None and g.abs().sum() > 0, name
    assert set(m.class_logits(out)) == {"rgb", "sar"}
    m.eval()
    emb = m.embed(images, fields={"size": sizes})
    assert emb["rgb"].shape == (4, 64) and not emb["rgb"].requires_grad
    assert m.embedding_keys() == ("rgb", "sar") and m.feature_norm == "l2" and m.accepts_missing


def test_routing_each_sample_through_its_tokenizer():
    m = _model().eval()
    images, present, sizes, _ = _unaligned()
    before = m.embed(images, fields={"size": sizes})
    with torch.no_grad():
        m.vit.patch_embed_sar.proj.bias.add_(torch.linspace(-2, 2, 64))  # change only the SAR tokenizer
    after = m.embed(images, fields={"size": sizes})
    assert torch.allclose(before["rgb"], after["rgb"], atol=1e-6)
    assert not torch.allclose(before["sar"], after["sar"], atol=1e-3)
    # a mixed batch gives the same features as each sample alone (no cross-talk through routing)
    alone = m.embed({"sar": images["sar"][:1]}, fields={"size": {"sar": sizes["sar"][:1]}})
    assert torch.allclose(alone["sar"][0], after["sar"][0], atol=1e-5)
    shared = _model(dual_tokenizer=False)
    assert shared.vit.patch_embed_sar is None


def test_mie_and_sse_switches():
    images, present, sizes, _ = _unaligned()
    m = _model().eval()
    e1 = m.embed(images, fields={"size": sizes})
    e2 = m.embed(images, fields={"size": {k: v * 2 for k, v in sizes.items()}})
    assert not torch.allclose(e1["rgb"], e2["rgb"], atol=1e-4)  # the size token matters
    with pytest.raises(ValueError, match="original sizes"):
        m.embed(images)
    no_sse = _model(sse=False).eval()
    assert no_sse.vit.sse_embed is None
    f1, f2 = no_sse.embed(images), no_sse.embed(images, fields={"size": {k: v * 2 for k, v in sizes.items()}})
    assert torch.allclose(f1["rgb"], f2["rgb"])
    no_mie = _model(mie=False)
    assert no_mie.vit.mie_embed is None and "vit.mie_embed" not in no_mie.state_dict()
    # MIE: the same pixels through a shared tokenizer differ by modality only through the MIE
    shared = _model(dual_tokenizer=False, sse=False).eval()
    x = images["rgb"]
    a, b = shared.embed({"rgb": x}), shared.embed({"sar": x})
    assert not torch.allclose(a["rgb"], b["sar"], atol=1e-4)
    plain = _model(dual_tokenizer=False, sse=False, mie=False).eval()
    assert torch.allclose(plain.embed({"rgb": x})["rgb"], plain.embed({"sar": x})["sar"], atol=1e-6)


def test_ship_size_features_scale_optical():
    s = torch.tensor([[93.0, 427.0], [93.0, 427.0]])
    f = ship_size_features(s, torch.tensor([False, True]), [93.0, 0.434, 427.0, 0.461, 0.031], 0.75)
    assert f[0].tolist() == pytest.approx([(1 - 0.434) / 0.031, (1 - 0.461) / 0.031, 427 / 93])
    assert f[1, :2].tolist() == pytest.approx([(0.75 - 0.434) / 0.031, (0.75 - 0.461) / 0.031])
    assert f[1, 2] == pytest.approx(427 / 93)  # the aspect ratio does not change with the scale
    with pytest.raises(ValueError, match="positive"):
        ship_size_features(torch.zeros(1, 2), torch.tensor([True]), [93.0, 0.434, 427.0, 0.461, 0.031])


def test_bad_modalities_and_image_size():
    with pytest.raises(ValueError, match="optical 'rgb' and/or 'sar'"):
        create_method("transoss", 4, ("rgb", "nir"), **SMOKE_OVERRIDES, height=H, width=W)
    m = _model().eval()
    with pytest.raises(KeyError, match="needs modality 'rgb' or 'sar'"):
        m.embed({"nir": torch.randn(2, 3, 64, 32)})
    # another input size: tokens on its own grid, position embedding resized (no error, finite)
    e = m.embed({"rgb": torch.randn(2, 3, 96, 48)}, fields={"size": {"rgb": torch.ones(2, 2) * 50}})
    assert e["rgb"].shape == (2, 64) and torch.isfinite(e["rgb"]).all()


def test_grad_cam_on_the_token_map():
    """Grad-CAM through the contract on the grid of tokens entering the last block (SSE off: grad_cam
    calls model(images) without sizes)."""
    from reidlab.analysis.cams import grad_cam

    m = _model(sse=False)
    images, _, _, _ = _unaligned()
    out = grad_cam(m, {"sar": images["sar"]}, "sar", target_layer=m.vit.cam_layer)
    assert out["cam"].shape == (4, H, W) and (out["cam"] >= 0).all() and out["cam"].max() > 0


# --------------------------------------------------------------------------- checkpoints
def _public_state_dict(model: TransOSS, *, variant: str) -> dict[str, torch.Tensor]:
    """A state dict laid out as the public code writes it, built from its parameter names.

    ``finetuned``: ``build_transformer`` state (``base.*`` incl. the unused 1000-way ``base.fc``,
    ``bottleneck.*``, ``classifier.weight``, ``logit_scale``); ``self_pretrained``: the same with
    SSE off (the pre-training config) = the 162-key file users get from train_pair.py at ViT-B;
    ``released_pretrained``: backbone keys without the ``base.`` prefix, no cls_token, no mie_embed,
    no SAR tokenizer (an ImageNet-like file).
    """
    g = torch.Generator().manual_seed(1)
    vit = model.vit
    d = vit.embed_dim
    base: dict[str, torch.Tensor] = {}
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    base["cls_token"] = r(1, 1, d)
    base["pos_embed"] = r(1, vit.grid[0] * vit.grid[1] + 1, d)
    base["patch_embed.proj.weight"] = r(*vit.patch_embed.proj.weight.shape)
    base["patch_embed.proj.bias"] = r(d)
    base["patch_embed_SAR.proj.weight"] = r(*vit.patch_embed.proj.weight.shape)
    base["patch_embed_SAR.proj.bias"] = r(d)
    base["mie_embed"] = r(2, 1, d)
    for i, blk in enumerate(vit.blocks):
        for k, v in blk.state_dict().items():
            base[f"blocks.{i}.{k}"] = r(*v.shape)
    base["norm.weight"], base["norm.bias"] = r(d), r(d)
    base["fc.weight"], base["fc.bias"] = r(1000, d), r(1000)
    if variant == "finetuned":
        base["wh_embed.linear_layer.weight"], base["wh_embed.linear_layer.bias"] = r(d, 3), r(d)
    if variant == "released_pretrained":
        for k in ("cls_token", "mie_embed", "patch_embed_SAR.proj.weight", "patch_embed_SAR.proj.bias"):
            base.pop(k)
        return base
    sd = {f"base.{k}": v for k, v in base.items()}
    sd.update({"bottleneck.weight": r(d), "bottleneck.bias": torch.zeros(d), "bottleneck.running_mean": r(d),
               "bottleneck.running_var": r(d).abs(), "bottleneck.num_batches_tracked": torch.tensor(7),
               "classifier.weight": r(3, d), "logit_scale": torch.tensor(2.6592)})
    return sd


def test_import_finetuned_public_checkpoint_maps_every_key(tmp_path):
    m = _model()
    sd = _public_state_dict(m, variant="finetuned")
    path = tmp_path / "HOSS_TransOSS.pth"
    torch.save(sd, path)
    rep = import_weights(m, path)
    assert not rep.missing or set(rep.missing) == {"classifier.weight"}
    assert set(rep.unexpected) == {"base.fc.weight", "base.fc.bias", "logit_scale", "classifier.weight"}
    assert torch.equal(m.vit.patch_embed_sar.proj.weight, sd["base.patch_embed_SAR.proj.weight"])
    assert torch.equal(m.vit.sse_embed.weight, sd["base.wh_embed.linear_layer.weight"])
    assert torch.equal(m.bnneck.running_mean, sd["bottleneck.running_mean"])
    assert torch.equal(m.vit.blocks[1].mlp.fc2.weight, sd["base.blocks.1.mlp.fc2.weight"])
    assert not rep.copied and not rep.reshaped
    assert m.init_report["loaded"] == len(rep.loaded)


def test_import_self_pretrained_162_key_layout_at_vit_b16():
    """The file train_pair.py writes at ViT-B/16 has 162 keys (base.* incl. cls_token, mie_embed, fc; bottleneck;
    classifier; logit_scale); importing it sets every backbone tensor and leaves only SSE and the classifier."""
    m = create_method("transoss", 5, ("rgb", "sar"))
    sd = _public_state_dict(m, variant="self_pretrained")
    assert len(sd) == 162
    rep = import_weights(m, sd)
    assert set(rep.missing) == {"vit.sse_embed.weight", "vit.sse_embed.bias", "classifier.weight"}
    assert len(rep.loaded) == 162 - 4  # minus base.fc.{weight,bias}, classifier.weight, logit_scale
    assert torch.equal(m.vit.cls_token, sd["base.cls_token"]) and torch.equal(m.vit.mie_embed, sd["base.mie_embed"])


def test_import_released_pretrained_copies_optical_tokenizer_and_resizes_pos_embed():
    m = _model()
    sd = _public_state_dict(m, variant="released_pretrained")
    sd["pos_embed"] = torch.randn(1, 1 + 14 * 14, m.vit.embed_dim)  # ImageNet 224 grid
    rep = import_weights(m, sd)
    assert set(rep.copied) == {"vit.patch_embed_sar.proj.weight", "vit.patch_embed_sar.proj.bias"}
    assert torch.equal(m.vit.patch_embed_sar.proj.weight, sd["patch_embed.proj.weight"])
    assert "(1, 197, 64) -> (1, 33, 64)" in rep.reshaped["vit.pos_embed"]
    assert {"vit.mie_embed", "vit.cls_token", "bnneck.weight"} <= set(rep.missing)


def test_import_refuses_partial_or_mismatched_loads():
    m = _model()
    sd = _public_state_dict(m, variant="finetuned")
    bad = {k.replace("base.", "backbone."): v for k, v in sd.items()}  # an unknown wrapper name
    with pytest.raises(ValueError, match="refusing a partial load"):
        import_weights(m, bad)
    part = {k: v for k, v in sd.items() if ".blocks.1." not in k}
    with pytest.raises(ValueError, match=r"missing vit\.blocks\.1\.attn\.qkv\.weight"):
        import_weights(m, part)
    wide = _public_state_dict(_model(backbone="vit_small_patch16", stride_size=8), variant="finetuned")
    with pytest.raises(ValueError, match="shape mismatch"):
        import_weights(m, wide)
    before = m.vit.blocks[0].attn.qkv.weight.clone()
    assert torch.equal(before, m.vit.blocks[0].attn.qkv.weight)  # nothing was written by the refused loads


def test_pretrained_config_loads_a_file_and_records_it(tmp_path):
    src = _model()
    path = tmp_path / "pre.pth"
    torch.save(_public_state_dict(src, variant="released_pretrained"), path)
    m = _model(pretrained=str(path))
    assert m.init_report["copied"] and m.init_report["source"] == str(path)


def test_sar_tiff_32bit_scaled_by_its_max(tmp_path):
    """SAR preprocessing of the paper: 32-bit float TIFF / max x 255 -> uint8, grey -> 3 equal channels."""
    import tifffile

    from reidlab.data.image import load_image
    from reidlab.data.records import ImageRef

    a = np.zeros((6, 4), np.float32)
    a[0, 0], a[1, 1], a[2, 2] = 1000.0, 500.0, 4.0  # max 1000 -> 255, 500 -> 127.5 -> 128, 4 -> 1.02 -> 1
    a[3, 3] = -7.0  # negative amplitudes clip to 0
    path = tmp_path / "0001_s01c1_SAR.tif"
    tifffile.imwrite(path, a)
    img = load_image(ImageRef(str(path)))
    px = np.asarray(img)
    assert img.mode == "RGB" and img.size == (4, 6) and px.dtype == np.uint8
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()
    assert (px[0, 0, 0], px[1, 1, 0], px[2, 2, 0], px[3, 3, 0], px[5, 0, 0]) == (255, 128, 1, 0, 0)


def test_sar_chips_are_contrast_stretched_for_display(tmp_path):
    """Browser tiles (notebook 05) show SAR chips stretched between percentiles, not the near-black /max image."""
    import tifffile

    from reidlab.analysis.ranked import record_tile
    from reidlab.data.image import load_image
    from reidlab.data.records import ImageRef, Record

    rng = np.random.default_rng(0)
    a = rng.gamma(1.0, 0.02, (40, 20)).astype(np.float32)
    a[5, 5] = 50.0  # one bright reflector sets the max
    path = tmp_path / "0001_s01c1_SAR.tif"
    tifffile.imwrite(path, a)
    raw = np.asarray(load_image(ImageRef(str(path))))
    assert np.median(raw) < 2  # what the model sees: black but for the reflector
    rec = Record(pid=1, camid=1, images={"sar": ImageRef(str(path))}, split="query")
    tile = np.asarray(record_tile(rec, height=40))
    assert np.median(tile) > 20 and tile.max() == 255
    from reidlab.data.display import display_image  # also used by notebook 01's sample grid

    crop = display_image(ImageRef(str(path), box=(0, 0, 10, 12)), "sar")  # a crop box is honoured
    assert crop.size == (10, 12) and np.median(np.asarray(crop)) > 20
    assert np.array_equal(np.asarray(display_image(ImageRef(str(path)), "rgb")), raw)  # other modalities: as decoded
