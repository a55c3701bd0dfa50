"""Contrastive optical-SAR pre-training: pair layout, synthetic pairs, loss, retrieval gain, fine-tuning start, CLI."""
from __future__ import annotations

import math

import pytest
import torch

from reidlab.data.errors import LayoutError
from reidlab.data.layouts.optisar_pair import list_optisar_pairs
from reidlab.data.synth.optisar_pair import write_optisar_pairs
from reidlab.data.transforms import build_transforms
from reidlab.engine.contrastive import PairPretrainConfig, _build_model, clip_loss, pair_retrieval, pretrain_pairs

TINY = dict(backbone="vit_tiny_cpu", height=64, width=32, stride_size=8, drop_path=0.0)


def test_pair_layout_parsing_pairs_and_errors(tmp_path):
    root = write_optisar_pairs(tmp_path / "p", 4, size=(24, 24), sar_size=(16, 16))
    pairs = list_optisar_pairs(root)
    assert len(pairs.pairs) == 4 and pairs.locations == [100000, 100001, 100002, 100003]
    assert all(p.rgb.endswith("_RGB.png") and p.sar.endswith("_SAR.tif") for p in pairs.pairs)
    assert min(pairs.locations) > 9999  # disjoint from any synthetic HOSS identity (4-digit pids)
    # a second SAR image of one location pairs with its optical image too; a lone optical image is counted
    d = root / "OptiSar_Pair" / "0001"
    (d / "pair_100000_x_SAR.tif").write_bytes((d / "pair_100000_SAR.tif").read_bytes())
    (root / "OptiSar_Pair" / "0009").mkdir()
    (root / "OptiSar_Pair" / "0009" / "pair_7_RGB.png").write_bytes((d / "pair_100000_RGB.png").read_bytes())
    again = list_optisar_pairs(root / "OptiSar_Pair")
    assert len(again.pairs) == 5 and again.unpaired == 1 and again.warnings
    (d / "badname.png").write_bytes(b"x")
    with pytest.raises(LayoutError, match="badname.png"):
        list_optisar_pairs(root)


def test_synthetic_pairs_are_reproducible(tmp_path):
    a = write_optisar_pairs(tmp_path / "a", 3, seed=5, size=(24, 24), sar_size=(16, 16))
    b = write_optisar_pairs(tmp_path / "b", 3, seed=5, size=(24, 24), sar_size=(16, 16))
    for pa, pb in zip(list_optisar_pairs(a).pairs, list_optisar_pairs(b).pairs):
        assert open(pa.rgb, "rb").read() == open(pb.rgb, "rb").read()
        assert open(pa.sar, "rb").read() == open(pb.sar, "rb").read()


def test_clip_loss_values():
    x = torch.eye(4)
    scale = torch.tensor(math.log(2.0))
    # perfectly aligned orthogonal pairs: logits 2 on the diagonal, 0 off it; both directions alike
    want = -math.log(math.exp(2.0) / (math.exp(2.0) + 3))
    assert clip_loss(x, x, scale).item() == pytest.approx(want, rel=1e-5)
    same = torch.ones(4, 3)  # collapsed features: chance level ln N
    assert clip_loss(same, same, scale).item() == pytest.approx(math.log(4), rel=1e-6)
    with pytest.raises(ValueError, match="aligned pairs"):
        clip_loss(torch.ones(3, 2), torch.ones(4, 2), scale)


def test_pretraining_raises_held_out_optical_to_sar_retrieval(tmp_path):
    """Held-out locations (never trained on): optical->SAR mAP after pre-training > the untrained model's.

    Synthetic gap 0 (the SAR chip is the optical luminance on SAR's own grid and framing): at the
    default gap the /max-scaled SAR chips are dark but for reflector spikes and the tiny CPU ViT's
    features collapse within this budget (measured; see the TransOSS notes)."""
    cfg = PairPretrainConfig(synth_pairs=96, synth_gap=0.0, synth_cache=str(tmp_path), holdout=0.33, epochs=20,
                             batch_size=32, lr=1e-3, optimizer="adam", warmup_epochs=1, out=str(tmp_path / "pre.pth"),
                             device="cpu", transform={"erase_p": 0.0}, **TINY)
    res = pretrain_pairs(cfg)
    held = res["held_out"]
    assert res["n_held_out_pairs"] == 32 and not {p.loc for p in held} & {
        p.loc for p in list_optisar_pairs(res["root"]).pairs if p not in held}
    tf = build_transforms(64, 32, train=False)
    torch.manual_seed(cfg.seed)
    before = pair_retrieval(_build_model(cfg), held, tf)
    after = pair_retrieval(res["model"], held, tf)
    assert after["mAP"] > before["mAP"] + 0.1, (before, after)
    assert res["history"][-1]["loss"] < res["history"][0]["loss"]
    # fine-tuning starts from the checkpoint: every ViT tensor loaded, SSE (off in pre-training) and heads left
    from reidlab.methods import create_method
    from reidlab.methods.transoss import SMOKE_OVERRIDES

    m = create_method("transoss", 6, ("rgb", "sar"), height=64, width=32, **{**SMOKE_OVERRIDES,
                                                                          "pretrained": cfg.out})
    rep = m.init_report
    assert set(rep["missing"]) == {"vit.sse_embed.weight", "vit.sse_embed.bias", "bnneck.weight", "bnneck.bias",
                                   "bnneck.running_mean", "bnneck.running_var", "bnneck.num_batches_tracked",
                                   "classifier.weight"}
    assert set(rep["unexpected"]) == {"logit_scale"} and not rep["copied"]
    assert torch.equal(m.vit.patch_embed_sar.proj.weight, res["model"].vit.patch_embed_sar.proj.weight)


def test_import_weights_cli_reports_and_scores(tmp_path, capsys, synth_root):
    from reidlab.cli import main
    from reidlab.methods import create_method
    from reidlab.methods.transoss import SMOKE_OVERRIDES

    m = create_method("transoss", 3, ("rgb", "sar"), height=64, width=32, **SMOKE_OVERRIDES)
    sd = {("base." + k[4:] if k.startswith("vit.") else k): v for k, v in m.state_dict().items()}
    sd = {k.replace("patch_embed_sar", "patch_embed_SAR").replace("sse_embed", "wh_embed.linear_layer")
          .replace("bnneck.", "bottleneck."): v for k, v in sd.items()}
    sd["logit_scale"] = torch.tensor(2.6592)
    path = tmp_path / "public.pth"
    torch.save(sd, path)
    args = ["import-weights", "transoss", str(path), "backbone=vit_tiny_cpu", "height=64", "width=32", "stride_size=8",
            "--eval", "--root", str(synth_root("hoss")), "--save", str(tmp_path / "conv.pth")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "loaded" in out and "unexpected logit_scale" in out
    for proto in ("hoss/all", "hoss/opt2sar", "hoss/sar2opt"):
        assert proto in out
    conv = torch.load(tmp_path / "conv.pth")
    assert torch.equal(conv["vit.patch_embed_sar.proj.weight"], sd["base.patch_embed_SAR.proj.weight"])
