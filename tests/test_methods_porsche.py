"""PORSCHE: PAM patching, the matcher's symmetry and shapes, the losses, and the progressive two-step update."""
from __future__ import annotations

import contextlib

import pytest
import torch

from reidlab.methods import create_method
from reidlab.methods import porsche as P

TINY = {"backbone": "tiny", "pretrained": False, "height": 64, "width": 32, "neck_mid": 16, "neck_dim": 16,
        "encoder_layers": 1, "encoder_ff": 32, "matcher_ff": 16, "pam_grid_a": [2, 2, 2, 0],
        "pam_grid_b": [2, 2, 2, 0]}
MODS = ("rgb", "nir")


def _model(**kw):
    torch.manual_seed(0)
    return create_method("porsche", 4, MODS, **{**TINY, **kw})


def _batch(b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(b, 3, 64, 32, generator=g) for m in MODS}, torch.arange(b) // 2


def test_split_and_stitch_are_inverse():
    x = torch.randn(3, 5, 8, 6)
    parts = P.split_patches(x, (2, 3))
    assert parts.shape == (18, 5, 4, 2)
    assert torch.equal(parts[:3], x[:, :, :4, :2]) and torch.equal(parts[3 * 4:3 * 5], x[:, :, 4:, 2:4])
    assert torch.equal(P.stitch_patches(parts, (2, 3)), x)


def test_pam_receptive_field_stays_inside_a_patch_and_nothing_is_split_at_test():
    model = _model().eval()  # BN in eval mode so that patches do not talk through batch statistics
    for bn in model.stages[0].modules():  # timm zero-initialises the last BN of a block: wake the residual path
        if isinstance(bn, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(bn.weight)
    x = torch.randn(1, model.stages[0][0].conv1.in_channels, 16, 8)  # layer1 input: 16 x 8, stride 1
    y = x.clone()
    y[:, :, 7, 3] += 5.0  # last pixel of the top-left cell of a 2 x 2 grid (cells 8 x 4)
    with torch.no_grad():
        d_split = (model.run_stage(y, 0, 2) - model.run_stage(x, 0, 2)).abs().sum(1)[0]
        d_full = (model.run_stage(y, 0, 0) - model.run_stage(x, 0, 0)).abs().sum(1)[0]
    assert d_split[:8, :4].sum() > 0
    outside = d_split.clone()
    outside[:8, :4] = 0
    assert outside.sum() == 0, "PAM: a change inside one cell leaked into another cell"
    assert d_full[8:, :].sum() > 0 or d_full[:, 4:].sum() > 0, "unsplit stage should see across the cell border"

    calls = []
    real = P.split_patches
    P.split_patches = lambda *a: calls.append(1) or real(*a)
    try:
        images, labels = _batch()
        with torch.no_grad():
            model.eval()
            model(images), model.embed(images), model.tokens(images)
            assert not calls, "something was split at test time"
            model.train()
            model(images, step="a")
            assert calls, "training forward did not split"
            calls.clear()
            _model(pam=False).train()(images, step="a")
            assert not calls, "pam=False still splits"
    finally:
        P.split_patches = real


def test_pam_grid_that_does_not_fit_warns_and_names_the_stage():
    model = _model(pam_grid_a=[4, 4, 4, 0]).train()
    images, _ = _batch()
    with pytest.warns(UserWarning, match=r"4x4 grid does not fit layer3 input 8x4"):
        model(images, step="a")


def test_matcher_shapes_and_symmetry():
    torch.manual_seed(0)
    m = P.TokenMatcher((4, 2), d=6, chunks=2, ff=8).eval()
    q, g = torch.randn(3, 4, 2, 12), torch.randn(5, 4, 2, 12)
    s = m(q, g)
    assert s.shape == (3, 5) and torch.isfinite(s).all()
    assert torch.allclose(s, m(g, q).t(), atol=1e-5)
    assert torch.allclose(m(q[1:2], g[2:4]), s[1:2, 2:4], atol=1e-5)  # a pair's score does not depend on the block
    assert m(torch.randn(2, 8, 4, 12), torch.randn(3, 8, 4, 12)).shape == (2, 3)  # another grid: prior resized
    with pytest.raises(ValueError, match="same grid"):
        m(q, torch.randn(5, 2, 4, 12))
    free = P.TokenMatcher((4, 2), d=6, chunks=2, ff=8, prior="free").eval()
    with torch.no_grad():
        for layer in free.layers:
            layer.prior.copy_(torch.randn(8, 8) * 5)
    assert not torch.allclose(free(q, g), free(g, q).t(), atol=1e-4)  # the code's free prior is not symmetric


def test_losses_match_brute_force():
    torch.manual_seed(0)
    f, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
    d = torch.cdist(f, f)
    ref = []
    for i in range(6):
        pos = [j for j in range(6) if y[j] == y[i]]
        neg = [j for j in range(6) if y[j] != y[i]]
        wp = torch.softmax(d[i, pos], 0)
        wn = torch.softmax(-d[i, neg], 0)
        ref.append(torch.log1p(torch.exp((wp * d[i, pos]).sum() - (wn * d[i, neg]).sum())))
    assert torch.allclose(P.wrt_triplet(f, y), torch.stack(ref).mean(), atol=1e-5)
    score = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    lab = torch.tensor([0, 1])
    sp = torch.nn.functional.softplus
    ref = ((sp(-score[0, 0]) + sp(score[0, 1])) + (sp(score[1, 0]) + sp(-score[1, 1]))) / 2
    assert torch.allclose(P.pairwise_match_loss(score, lab, lab), ref)


class _Ctx:
    """A stand-in for the trainer's StepContext: records the parameters at every backward_step."""

    def __init__(self, model):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        self.device = torch.device("cpu")
        self.grad_clip = None
        self.scaler = None
        self.seen: list[list[torch.Tensor]] = []

    def autocast(self):
        return contextlib.nullcontext()

    def forward(self, images, present=None):
        return self.model(images)

    def backward_step(self, loss, parts=None):
        self.seen.append([p.detach().clone() for p in self.model.parameters()])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def test_progressive_two_optimiser_steps_per_batch_parameters_inherited():
    images, labels = _batch()
    model = _model().train()
    ctx = _Ctx(model)
    before = [p.detach().clone() for p in model.parameters()]
    total, parts = model.training_step({"images": images, "labels": labels, "present": None}, ctx)
    assert len(ctx.seen) == 2, "progressive: one optimiser step per sub-step (A, B)"
    assert torch.isfinite(total) and {"a_match", "b_match", "a_tri", "b_ce", "a_loss", "b_loss"} <= set(parts)
    # step A started from the initial weights; step B from the weights step A left
    assert all(torch.equal(a, b) for a, b in zip(ctx.seen[0], before))
    assert any(not torch.equal(a, b) for a, b in zip(ctx.seen[1], before)), "step A changed nothing"
    after_a = ctx.seen[1]
    after_b = [p.detach() for p in model.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(after_a, after_b)), "step B changed nothing"
    # the layer-4 matcher is trained only in step B, the layer-3 matcher only in step A
    names = [n for n, _ in model.named_parameters()]
    i3 = names.index("matchers.layer3.layers.0.proj.weight")
    i4 = names.index("matchers.layer4.layers.0.proj.weight")
    assert not torch.equal(ctx.seen[1][i3], before[i3]) and torch.equal(ctx.seen[1][i4], before[i4])
    assert not torch.equal(after_b[i4], after_a[i4])

    joint = _model(progressive=False).train()
    ctx = _Ctx(joint)
    joint.training_step({"images": images, "labels": labels, "present": None}, ctx)
    assert len(ctx.seen) == 1


def test_pom_off_has_no_matcher_and_still_trains():
    images, labels = _batch()
    model = _model(pom=False).train()
    total, parts = model.loss(model(images), labels)
    assert "a_match" not in parts and torch.isfinite(total) and len(model.matchers) == 0
    with pytest.raises(ValueError, match="pom=False"):
        model.eval().match_scores(torch.zeros(1, 4, 2, 32), torch.zeros(1, 4, 2, 32))


def test_matcher_ranking_of_a_model_on_synthetic_data(synth_root):
    """extract_tokens + evaluate_with_matcher on the smoke data: cross-modal protocols ranked by the matcher (exhaustive
    and shortlist), the fused protocol by the feature, each row saying which."""
    from reidlab.data import load_dataset
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.extract import extract_features
    from reidlab.eval.pairwise import evaluate_with_matcher, extract_tokens

    data = load_dataset("rgbn300", synth_root("rgbn300"))
    model = _model().eval()
    tf = build_transforms(64, 32, train=False)
    fs = extract_features(model, data, ["query", "gallery"], tf, batch_size=32, progress=False)
    tm = extract_tokens(model, data, ["query"], tf, batch_size=32)
    rec, key, tok = tm.splits["query"]
    assert tok.shape[1:] == (4, 2, 16 * 2) and len(rec) == 2 * len(data["query"]) and set(key) == {"rgb", "nir"}
    protos = ["rgbn300/rgb2nir", "rgbn300/rgb-nir"]
    df = evaluate_with_matcher(model, data, fs, protos, tf, n_boot=0).set_index("protocol")
    assert df.loc["rgbn300/rgb2nir", "scorer"] == "porsche-matcher:layer3"
    assert df.loc["rgbn300/rgb2nir", "shortlist"] == "all" and df.loc["rgbn300/rgb-nir", "scorer"] == "feature"
    n_g = len(data["gallery"])
    short = evaluate_with_matcher(model, data, fs, protos[:1], tf, shortlist=n_g, n_boot=0).iloc[0]
    assert short["mAP"] == pytest.approx(df.loc["rgbn300/rgb2nir", "mAP"], abs=1e-6)  # N = G: exhaustive


def test_token_match_maps_are_the_matchers_pooled_similarities():
    model = _model().eval()
    q, g = torch.randn(4, 2, 32), torch.randn(4, 2, 32)
    qm, gm = model.token_match_maps(q, g)
    assert qm.shape == gm.shape == (4, 2)
    layer = model.matchers["layer3"].layers[0]
    qk, gk = layer.proj(q[..., :16].reshape(8, 16)), layer.proj(g[..., :16].reshape(8, 16))
    s = torch.einsum("td,sd->st", qk, gk) * layer._prior((4, 2))
    assert torch.allclose(qm.flatten(), s.amax(0), atol=1e-5) and torch.allclose(gm.flatten(), s.amax(1), atol=1e-5)
