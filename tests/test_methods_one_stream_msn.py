"""one_stream (IDE) and msn (HAMNet's baseline): loss composition, options, embeddings."""
from __future__ import annotations

import pytest
import torch

from reidlab.eval.features import fused_key
from reidlab.methods import create_method
from reidlab.methods.losses import batch_hard_triplet, cross_entropy_ls

TINY = {"backbone": "tiny", "pretrained": False}



def test_one_stream_options(make_batch):
    images, labels = make_batch(("rgb",))
    torch.manual_seed(0)
    plain = create_method("one_stream", 4, ("rgb",), **TINY)
    out = plain(images)
    total, parts = plain.loss(out, labels)
    assert set(parts) == {"id"}
    assert total.item() == pytest.approx(cross_entropy_ls(out["logits"], labels).item(), rel=1e-6)
    torch.manual_seed(0)
    full = create_method("one_stream", 4, ("rgb",), label_smoothing=0.1, triplet_weight=1.0, bnneck=True, **TINY)
    out = full(images)
    total, parts = full.loss(out, labels)
    assert set(parts) == {"id", "triplet"}
    ce = cross_entropy_ls(out["logits"], labels, 0.1).item()
    tri = batch_hard_triplet(out["feat"], labels, 0.3).item()
    assert total.item() == pytest.approx(ce + tri, rel=1e-5)
    full.eval()
    emb = full.embed(images)["rgb"]
    feat = full(images)["feat"]
    bn = full.stream.bnneck
    assert torch.allclose(emb, (feat - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias,
                          atol=1e-4)  # BNNeck output in eval mode
    plain.eval()
    assert torch.allclose(plain.embed(images)["rgb"], plain.stream.backbone(images["rgb"]).mean(dim=(2, 3)), atol=1e-6)


def test_msn_sums_stream_losses_and_features(make_batch):
    torch.manual_seed(0)
    model = create_method("msn", 4, ("nir", "rgb"), **TINY)  # canonical order regardless of the argument order
    assert model.modalities == ("rgb", "nir")
    images, labels = make_batch(("rgb", "nir"))
    out = model(images)
    total, parts = model.loss(out, labels)
    ce = {m: cross_entropy_ls(out["logits"][m], labels).item() for m in ("rgb", "nir")}
    assert parts["id_rgb"] == pytest.approx(ce["rgb"], rel=1e-6)
    assert parts["id_nir"] == pytest.approx(ce["nir"], rel=1e-6)
    assert total.item() == pytest.approx(ce["rgb"] + ce["nir"], rel=1e-6)
    # streams are not shared (their initialisation: test_stream_init_random_without_checkpoint_same_with_one)
    assert model.streams["rgb"].backbone is not model.streams["nir"].backbone
    model.eval()
    emb = model.embed(images)
    assert torch.allclose(emb[fused_key(("rgb", "nir"))], emb["rgb"] + emb["nir"], atol=1e-6)
    # the rgb embedding depends only on the rgb image
    other = dict(images, nir=torch.zeros_like(images["nir"]))
    assert torch.allclose(model.embed(other)["rgb"], emb["rgb"], atol=1e-6)


def test_modality_counts():
    with pytest.raises(ValueError, match="exactly one"):
        create_method("one_stream", 4, ("rgb", "nir"), **TINY)
    with pytest.raises(ValueError, match=">= 2 modalities"):
        create_method("msn", 4, ("rgb",), **TINY)


def _stream_bodies(model) -> dict:
    """The timm body of each stream of msn / hamnet (IDEStream.backbone) or kamenou (Backbone)."""
    return {m: getattr(st, "backbone", st).body for m, st in model.streams.items()}


@pytest.mark.parametrize("method", ["msn", "hamnet", "kamenou"])
def test_stream_init_random_without_checkpoint_same_with_one(method, tmp_path):
    """pretrained=False: each stream is its own random init. A checkpoint (here a .safetensors file):
    every stream starts from exactly its weights, as the papers start every stream from ImageNet."""
    from safetensors.torch import save_file

    from reidlab.methods import create_backbone

    torch.manual_seed(0)
    model = create_method(method, 4, ("rgb", "nir"), **TINY)
    a, b = _stream_bodies(model).values()
    assert a is not b
    assert not torch.equal(a.conv1[0].weight, b.conv1[0].weight)
    torch.manual_seed(123)
    ref = create_backbone("tiny", pretrained=False).body.state_dict()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in ref.items()}, str(path))
    torch.manual_seed(0)
    model = create_method(method, 4, ("rgb", "nir"), backbone="tiny", pretrained=str(path))
    bodies = _stream_bodies(model)
    for m, body in bodies.items():
        for k, v in body.state_dict().items():
            assert torch.equal(v, ref[k]), (method, m, k)
    assert bodies["rgb"] is not bodies["nir"]  # same start, still two unshared streams
