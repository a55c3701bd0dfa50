"""Offline stand-in for ImageNet pre-training (reidlab.engine.pretrain): cached, deterministic, RGB only."""
from __future__ import annotations

import json

import pytest
import torch

from reidlab.engine.pretrain import (PRETRAIN_DATA_SEED, PRETRAIN_PRESETS, _load_rgb, ensure_pretrained,
                                     parse_synth_spec, pretrained_path, resolve_pretrained)
from reidlab.methods import create_backbone


def test_synth_pretraining_is_cached_deterministic_and_loaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "synth" resolves under ./data/pretrained and ./data/synth
    s = PRETRAIN_PRESETS["smoke"]
    assert s.data_seed == PRETRAIN_DATA_SEED != 0  # other identities than every preset's (data_seed 0)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    path = ensure_pretrained("tiny", "smoke", progress=False)
    assert torch.equal(torch.get_rng_state(), before)  # building a method around it keeps its init RNG
    assert path == pretrained_path("resnet10t", "smoke") and path.name.startswith("resnet10t-32x64-")
    rec = json.loads(path.with_suffix(".json").read_text())
    assert rec["settings"]["data_seed"] == PRETRAIN_DATA_SEED and rec["synth"]["seed"] == PRETRAIN_DATA_SEED
    assert rec["images"] == s.images and rec["num_ids"] == s.num_ids and 0.0 <= rec["train_acc"] <= 1.0
    assert rec["seconds"] > 0
    mtime = path.stat().st_mtime_ns
    assert ensure_pretrained("resnet10t", "smoke", progress=False) == path and path.stat().st_mtime_ns == mtime
    # deterministic: a second cache trains the same weights, whatever the caller's thread count
    prev = torch.get_num_threads()
    torch.set_num_threads(1 if s.threads != 1 else 2)
    try:
        again = ensure_pretrained("resnet10t", "smoke", cache_dir=tmp_path / "other", progress=False)
        assert torch.get_num_threads() == (1 if s.threads != 1 else 2)  # restored
    finally:
        torch.set_num_threads(prev)
    assert json.loads(again.with_suffix(".json").read_text())["threads"] == s.threads
    a, b = torch.load(path, weights_only=True), torch.load(again, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # `pretrained: "synth:smoke"` resolves to exactly these weights, which differ from a random init
    assert resolve_pretrained("resnet10t", "synth:smoke") == str(path)
    net = create_backbone("resnet10t", pretrained=resolve_pretrained("resnet10t", "synth:smoke"))
    assert all(torch.equal(v, a[k]) for k, v in net.body.state_dict().items())
    # a config's `pretrained: synth:smoke` reaches every stream through the engine's build_model
    from reidlab.engine.build import build_model
    from reidlab.engine.config import TrainConfig

    msn = build_model(TrainConfig(method="msn", backbone="resnet10t", pretrained="synth:smoke"), 4, ("rgb", "nir"))
    assert msn.config["pretrained"] == str(path)
    for m in ("rgb", "nir"):
        body = msn.streams[m].backbone.body.state_dict()
        assert all(torch.equal(v, a[k]) for k, v in body.items())
    rand = create_backbone("resnet10t", pretrained=False).body.state_dict()
    assert not torch.equal(rand["conv1.0.weight"], a["conv1.0.weight"])
    # every setting is in the key: another epoch count is another file
    from dataclasses import replace
    assert pretrained_path("resnet10t", replace(s, epochs=2)) != path


def test_pretraining_sees_rgb_images_only(tmp_path):
    s = PRETRAIN_PRESETS["smoke"]
    x, y = _load_rgb("resnet10t", s, tmp_path / "synth")
    assert x.shape == (s.images, 3, s.height, s.width) and int(y.max()) + 1 == s.num_ids
    from reidlab.data import load_dataset
    from reidlab.data.image import load_image
    from reidlab.data.synth import ensure_synthetic
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.pretrain import _synth_overrides

    root = ensure_synthetic("rgbn300", preset=s.synth_preset, seed=s.data_seed, cache_dir=tmp_path / "synth",
                            **_synth_overrides(s))
    first = load_dataset("rgbn300", root).train[0]
    tf = build_transforms(s.height, s.width, train=False)
    assert torch.equal(x[0], tf.to_tensor(load_image(first.images["rgb"])))
    assert not torch.equal(x[0], tf.to_tensor(load_image(first.images["nir"])))


def test_synth_spec_parsing():
    assert parse_synth_spec("synth") == "demo" and parse_synth_spec("synth:smoke") == "smoke"
    with pytest.raises(ValueError, match="synth:<preset>"):
        parse_synth_spec("synth:huge")
    with pytest.raises(ValueError, match="resolve_pretrained"):  # the backbone layer only loads files
        create_backbone("resnet10t", pretrained="synth:smoke")
