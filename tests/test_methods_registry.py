"""Method registry, default configs, and the contract every registered method follows (tiny backbone, CPU)."""
from __future__ import annotations

import pytest
import torch

from reidlab.eval.features import fused_key
from reidlab.methods import ReIDMethod, create_method, default_config, list_methods
from reidlab.methods.registry import canonical_modalities

TINY = {"backbone": "tiny", "pretrained": False}
ENGINE_KEYS = {"optimizer", "lr", "weight_decay", "epochs", "warmup_epochs", "warmup_start_lr", "milestones",
               "gamma", "P", "K", "height", "width", "backbone", "pretrained", "last_stride"}
CASES = [("one_stream", ("nir",)), ("msn", ("rgb", "nir")), ("hamnet", ("rgb", "nir", "tir")),
         ("kamenou", ("rgb", "nir"))]


def _batch(mods, b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(b, 3, 64, 32, generator=g) for m in mods}, torch.arange(b) // 2


def test_list_and_default_configs():
    assert {"one_stream", "msn", "hamnet", "kamenou"} <= set(list_methods())
    for name in ("one_stream", "msn", "hamnet", "kamenou"):
        cfg = default_config(name)
        assert ENGINE_KEYS <= set(cfg), name
        assert cfg["backbone"] == "resnet50" and cfg["lr"] == 3.5e-4 and cfg["milestones"] == [40, 70]
    h = default_config("hamnet")
    assert (h["hsc_weight"], h["hsc_form"], h["use_hsc"], h["use_caid"]) == (0.001, "paper", True, True)
    assert (h["epochs"], h["warmup_epochs"], h["warmup_start_lr"], h["optimizer"]) == (120, 10, 3.5e-5, "adam")
    k = default_config("kamenou")
    assert (k["lambda_cos"], k["cd_rll_weight"], k["embed_dim"], k["rll_margin"]) == (0.5, 3.0, 512, 0.4)
    assert (k["P"], k["K"], k["label_smoothing"]) == (8, 4, 0.1)
    # a copy: editing it does not change the registry
    k["lambda_cos"] = 0.9
    assert default_config("kamenou")["lambda_cos"] == 0.5


def test_unknown_keys_methods_and_modalities():
    with pytest.raises(ValueError, match=r"unknown config keys \['lamda_cos'\].*valid keys: \[.*lambda_cos"):
        create_method("kamenou", 4, ("rgb", "nir"), lamda_cos=0.3, **TINY)
    with pytest.raises(ValueError, match="unknown method 'hamnett'.*hamnet"):
        create_method("hamnett", 4, ("rgb", "nir"))
    with pytest.raises(ValueError, match="unknown modalities"):
        canonical_modalities(("rgb", "ir"))
    assert canonical_modalities(("nir", "rgb")) == ("rgb", "nir")
    with pytest.raises(ValueError, match="exactly one"):
        create_method("one_stream", 4, ("rgb", "nir"), **TINY)
    with pytest.raises(ValueError, match="exactly two"):
        create_method("kamenou", 4, ("rgb", "nir", "tir"), **TINY)
    with pytest.raises(ValueError, match=">= 2 modalities"):
        create_method("hamnet", 4, ("rgb",), **TINY)


@pytest.mark.parametrize("name,mods", CASES)
def test_contract_shapes_keys_and_finite_gradients(name, mods):
    torch.manual_seed(0)
    model = create_method(name, 4, mods, **TINY)
    assert isinstance(model, ReIDMethod) and model.name == name and model.modalities == mods
    assert model.config["backbone"] == "tiny"
    images, labels = _batch(mods)
    images["sar"] = torch.zeros(8, 3, 64, 32)  # modalities the model does not use are ignored
    model.train()
    total, parts = model.loss(model(images), labels)
    assert total.ndim == 0 and torch.isfinite(total)
    assert parts and all(isinstance(v, float) for v in parts.values())
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # every stream's backbone learns
    for m in mods:
        stream = model.stream.backbone if name == "one_stream" else (
            model.streams[m] if name == "kamenou" else model.streams[m].backbone)
        assert stream.body.conv1[0].weight.grad.abs().sum() > 0, m
    model.eval()
    emb = model.embed(images)
    want = set(mods) | ({fused_key(mods)} if len(mods) > 1 else set())
    assert set(emb) == want
    dim = 512  # resnet10t channels; kamenou's D_e is 512 too
    for k, v in emb.items():
        assert v.shape == (8, dim) and torch.isfinite(v).all() and not v.requires_grad, k
    if len(mods) > 1:  # every method here fuses by summing its per-modality embeddings
        assert torch.allclose(emb[fused_key(mods)], sum(emb[m] for m in mods), atol=1e-5)


@pytest.mark.parametrize("name,mods", CASES)
def test_missing_modality_is_a_clear_error(name, mods):
    model = create_method(name, 4, mods, **TINY)
    images, labels = _batch(("sar",))
    with pytest.raises(KeyError, match=f"needs modality '{mods[0]}'"):
        model(images)


def test_seeded_build_is_reproducible():
    torch.manual_seed(3)
    a = create_method("msn", 4, ("rgb", "nir"), **TINY)
    torch.manual_seed(3)
    b = create_method("msn", 4, ("rgb", "nir"), **TINY)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


@pytest.mark.parametrize("name", ["hwdnet", "porsche"])
def test_planned_methods_raise_not_implemented(name):
    with pytest.raises(NotImplementedError, match=f"{name}.*not implemented"):
        create_method(name, 4, ("rgb", "nir"))
    with pytest.raises(NotImplementedError):
        default_config(name)
    assert name not in list_methods()
