"""Every method learns: a few CPU epochs beat the same network, same seed, untrained, on the same test data.

The untrained baseline is computed here, not assumed: the engine's own building blocks
(``resolve_config``, ``load_data``, ``build_model`` after ``seed_everything(derive_seed(seed, "init"))``,
exactly as ``reidlab.engine.trainer`` initialises its model) give the network the run starts from;
it is embedded with ``extract_features_for`` and scored with ``evaluate_features`` under the
same protocol as the trained run's ``results``. ``test_baseline_is_the_engines_initial_model``
checks that this really is the run's starting point (a zero-lr epoch leaves the engine's
parameters equal to the baseline's).

Set-up (tuned for ~20-35 s per method on one CPU thread): synthetic RGBN300 at the smoke
preset's 32x64 images, but with 60 training identities (480 tuples) and 20 test identities,
``resnet10t`` from scratch (last stride 2), Adam lr 1e-3 without warm-up or decay,
P x K = 8 x 4, 6 epochs (~14 steps each) unless the method's ``smoke`` overrides say otherwise
(one_stream: 8). Each method keeps its own default losses. Cases come from ``list_methods()`` and
``smoke_setup(name)`` (dataset, modalities, overrides; the scored protocol is the dataset's
protocol over the smoke modalities), so a new method is tested without editing this file. With seeds 0, 1 and 2 (data seeds 0, 0, 1) the
smallest gain seen was +0.08 mAP (hamnet, seed 2); the test asserts +0.03 at seed 0.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from reidlab.engine import TrainConfig, resolve_config, train
from reidlab.engine.checkpoint import load_checkpoint
from reidlab.engine.trainer import build_model, evaluate_features, extract_features_for, load_data
from reidlab.methods import list_methods
from reidlab.methods.registry import canonical_modalities, smoke_setup

pytestmark = pytest.mark.slow

# generator knobs: more training identities than the smoke preset's 12, fewer test IDs
SYNTH = dict(num_train_ids=60, train_images=480, num_test_ids=20, query_images=40, gallery_images=160)
SEED = 0
MARGIN = 0.03  # trained mAP must beat the untrained one by this much (observed: >= +0.08)

EPOCHS = 6  # default; a method's smoke set-up may override it (one_stream: 8)
METHODS = list_methods()


def _setup(method: str) -> tuple[str, list[str], str, dict]:
    """``(dataset, modalities, protocol, overrides)`` from the method's registered smoke set-up."""
    from reidlab.data.registry import get_layout
    from reidlab.eval.protocols import list_protocols

    s = smoke_setup(method)
    ds = s["dataset"]
    mods = canonical_modalities(s["modalities"] or get_layout(ds).modalities)
    proto = s.get("protocol")
    if proto is None:
        cands = sorted(p.name for p in list_protocols(ds) if p.query_modalities == p.gallery_modalities == mods)
        if not cands:
            raise ValueError(f"{method}: no {ds} protocol scores modalities {mods}; give smoke={{'protocol': ...}} "
                             "in its register_method call")
        proto = cands[0]
    return ds, list(mods), proto, dict(s["overrides"])


def _cfg(method: str, root: Path, out: Path, **kw) -> TrainConfig:
    ds, mods, proto, smoke = _setup(method)
    base = dict(method=method, dataset=ds, modalities=mods, root=str(root), seed=SEED,
                backbone="resnet10t", pretrained=False, last_stride=2, height=32, width=64, P=8, K=4,
                epochs=EPOCHS, optimizer="adam", lr=1e-3, warmup_epochs=0, warmup_factor=1.0, milestones=[],
                gamma=0.1, device="cpu", eval_protocols=[proto], eval_batch_size=64, out_dir=str(out),
                run_name=method)
    base.update(smoke)
    base.update(kw)
    return TrainConfig(**base)


def _initial_model(cfg: TrainConfig):
    """The network ``train(cfg)`` starts from, built as the engine builds it (same seed, same order)."""
    from reidlab.data.torch_dataset import ReIDImageDataset
    from reidlab.utils import derive_seed, seed_everything

    rc = resolve_config(cfg)
    seed_everything(derive_seed(rc.seed, "init"))  # the engine's model-init seed
    data = load_data(rc)
    mods = tuple(rc.modalities)
    num_classes = ReIDImageDataset(data.train, mods, None, relabel=True).num_classes
    return build_model(rc, num_classes, mods), data, rc


def _untrained_map(cfg: TrainConfig, protocol: str) -> float:
    from reidlab.data.transforms import build_transforms

    model, data, rc = _initial_model(cfg)
    feats = extract_features_for(model, data, rc, build_transforms(rc.height, rc.width, train=False),
                                 torch.device("cpu"), progress=False)
    table = evaluate_features(feats, data.name, [protocol])
    assert table["protocol"].tolist() == [protocol]
    return float(table["mAP"].iloc[0])


# Measured failures, kept visible (strict xfail: the test fails the day the method starts learning here,
# so the marker must then be removed).
KNOWN_NOT_LEARNING = {
    # hwdnet on synthetic UCM-VeID at smoke size does not learn: gain over untrained +0.035 / -0.005 / +0.008
    # at seeds 0 / 1 / 2 (1 thread; +0.008 at seed 0 with 2 threads), i.e. noise around 0. Measured one
    # lever at a time (benchmarks/bench_hwdnet_levers.py, table in data_cards/ucmveid.md): no HWDNet part is
    # the cause (the plain baseline row, ID + triplet only, does not learn either, even for 30 epochs), nor
    # optimiser, lr, epochs, P x K, input size or the synth:smoke start; the training ID loss falls but
    # test retrieval does not rise, within a modality either. Not strict because seed 0 lands on +0.035.
    "hwdnet": "synthetic UCM-VeID at smoke size: gain over untrained is noise (+0.035/-0.005/+0.008 at seeds "
              "0/1/2 with learned restrainer a, b; still failing with closed form), baseline row too (see data_cards/ucmveid.md)",
                      # porsche's smoke set-up trains one epoch (two optimiser steps per batch are costly on
                      # the CPU), so the loss cannot be seen to fall: learning is NOT verified here (issue 12)
                      "porsche": "smoke set-up trains 1 epoch: loss history has one value; learning not verified",
                      # transoss (2-layer CPU ViT from random init) on synthetic HOSS: trained 0.089 vs untrained
                      # 0.102 mAP on hoss/all (2026-11-26); at the demo preset every lever tried (lr, optimiser,
                      # CE or triplet alone, stride 4, SAR = optical luminance, 60 epochs) and a two-stream CNN
                      # (hwdnet) stay near chance cross-modally: docs/MEASUREMENTS.md, TransOSS section (issue 11)
                      "transoss": "tiny ViT from scratch on synthetic HOSS: trained 0.089 vs untrained 0.102 mAP"}


@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.xfail(strict=m != "hwdnet", reason=KNOWN_NOT_LEARNING[m]))
                                    if m in KNOWN_NOT_LEARNING else m for m in METHODS])
def test_trained_beats_untrained(method, synth_root, tmp_path):
    ds, _, proto, _ = _setup(method)
    root = synth_root(ds, preset="smoke", seed=0, **SYNTH)  # cached per session: methods share it
    cfg = _cfg(method, root, tmp_path)
    t0 = time.perf_counter()
    run = train(cfg, progress=False)
    t_train = time.perf_counter() - t0
    res = run.results
    assert res["protocol"].tolist() == [proto]
    trained = float(res["mAP"].iloc[0])
    untrained = _untrained_map(cfg, proto)
    loss = run.history["loss"].tolist()
    print(f"\n{method} on {proto}: trained mAP {trained:.4f} vs untrained {untrained:.4f} "
          f"(gain {trained - untrained:+.4f}); {len(loss)} epochs x {int(run.history['steps'].iloc[0])} steps "
          f"in {t_train:.1f} s; loss {loss[0]:.3f} -> {loss[-1]:.3f}")
    assert 0.0 < untrained < 1.0 and 0.0 < trained <= 1.0
    assert loss[-1] < loss[0], f"{method}: training loss did not decrease: {loss}"
    assert trained > untrained + MARGIN, (
        f"{method}: trained mAP {trained:.4f} does not beat the untrained network's {untrained:.4f} "
        f"by {MARGIN} under {proto}")


@pytest.mark.parametrize("method", METHODS)
def test_baseline_is_the_engines_initial_model(method, synth_root, tmp_path):
    """With lr = 0 and no weight decay an epoch changes no parameter (only BN statistics), so the
    engine's checkpoint parameters must equal those of :func:`_initial_model`: the baseline above
    is the very network each run starts from."""
    root = synth_root(_setup(method)[0])  # smoke preset: cheap
    cfg = _cfg(method, root, tmp_path, epochs=1, lr=0.0, weight_decay=0.0, final_eval=False)
    run = train(cfg, progress=False)
    saved = load_checkpoint(run.run_dir)["model"]
    model, _, _ = _initial_model(cfg)
    params = dict(model.named_parameters())
    assert set(model.state_dict()) == set(saved)
    for name, p in params.items():
        assert torch.equal(p, saved[name]), f"{method}: {name} differs from the engine's initial weights"


# Kamenou's cross-modal lesson at the smoke preset: Baseline + FC_e + L_cos (no L_cd-rll) trained from
# scratch must match vehicles across modalities (V->I) better than its untrained copy (0.075 mAP; chance
# for 20 test IDs is about 0.07). The result depends on the thread count (float summation order): at
# 6 epochs the gain was +0.106 (1 thread), +0.034 (2 threads), +0.024 (make test); at 10 epochs, used
# here, +0.068 (1 thread) and +0.125 (2 threads), ~35-55 s.
CROSS_MARGIN = 0.03
CROSS_EPOCHS = 10


def test_kamenou_cross_modal_beats_untrained(synth_root, tmp_path):
    proto = "rgbn300/rgb2nir"
    root = synth_root("rgbn300", preset="smoke", seed=0, **SYNTH)
    cfg = _cfg("kamenou", root, tmp_path, epochs=CROSS_EPOCHS,
               method_overrides={"lambda_cos": 0.5, "use_fc_e": True, "cd_rll_weight": 0.0},
               eval_protocols=[proto])
    run = train(cfg, progress=False)
    res = run.results.set_index("protocol")
    trained = float(res.loc[proto, "mAP"])
    untrained = _untrained_map(cfg, proto)
    print(f"\nkamenou {proto}: trained mAP {trained:.4f} vs untrained {untrained:.4f} "
          f"(gain {trained - untrained:+.4f})")
    assert trained > untrained + CROSS_MARGIN, (
        f"kamenou V->I: trained mAP {trained:.4f} does not beat the untrained copy's {untrained:.4f} by {CROSS_MARGIN}")
