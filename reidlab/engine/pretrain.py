"""An offline stand-in for ImageNet pre-training: a backbone pre-trained on synthetic RGB vehicles.

The papers start every stream from one ImageNet checkpoint. Offline there is none, and
``pretrained: false`` starts each stream of a multi-stream method from different random
weights. :func:`ensure_pretrained` trains a backbone once, on the CPU, as an identity
classifier on **visible-light (RGB) images only** of synthetic vehicles whose identities are
disjoint from every preset's: they are drawn with the generator seed
:data:`PRETRAIN_DATA_SEED`, which no preset or config uses (presets use ``data_seed`` 0 and
small integers). It never sees a cross-modal pair, so it cannot pre-solve the RGB<->NIR lesson.

The result is cached like synthetic data: ``cache_dir/<backbone>-<H>x<W>-<hash>.pth`` (the
backbone's state dict, loadable by ``create_backbone(name, pretrained=path)``) with a JSON
record next to it (``.json``: every setting, the synthetic-data parameters, seconds, final
train accuracy). ``<hash>`` covers every setting that changes the weights (backbone, sizes,
schedule, seeds, the synthetic generator's parameters and version, :data:`PRETRAIN_VERSION`).
The run is deterministic for a given torch build and thread count: init, shuffling and
augmentation draw from generators seeded by ``seed``.

``pretrained: synth`` (``synth:demo``) in a config resolves, through :func:`resolve_pretrained`
(called by :func:`reidlab.engine.build.build_model`), to :func:`ensure_pretrained` with the
``demo`` settings; the backbone then loads the file like any local checkpoint; ``synth:smoke`` is a tiny
(seconds) version for tests and the smoke preset. CLI: ``reidlab pretrain --backbone resnet10t
--preset demo``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from reidlab.methods.backbones import _resolve, create_backbone

__all__ = ["PRETRAIN_DATA_SEED", "PRETRAIN_PRESETS", "PRETRAIN_VERSION", "PretrainSettings", "ensure_pretrained",
           "parse_synth_spec", "pretrain_backbone", "pretrained_path", "resolve_pretrained"]

PRETRAIN_VERSION = "1"
# Generator seed of the pre-training identities. Presets and configs use data_seed 0 (and small
# integers for repeats); this one is reserved so the pre-training vehicles are other vehicles.
PRETRAIN_DATA_SEED = 90_001
DEFAULT_CACHE = "data/pretrained"


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that changes the pre-trained weights (all of it enters the cache hash).

    Sizes in pixels, ``lr`` per step (Adam, cosine decay to 0 over all steps), ``pad`` the
    zero-padding of the pad-and-crop augmentation (plus a horizontal flip with p = 0.5).
    ``synth_preset`` / ``num_ids`` / ``images``: the synthetic rgbn300 generation (only its
    RGB half is used); ``data_seed`` its generator seed; ``seed`` init, shuffling, augmentation;
    ``threads`` the torch thread count used while training (restored after): the weights then do
    not depend on the caller's thread count (measured: 1 vs 2 threads gave other weights, so other
    demo numbers, under one cache name).
    """

    height: int
    width: int
    num_ids: int
    images: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    pad: int = 4
    last_stride: int = 1
    synth_preset: str = "demo"
    data_seed: int = PRETRAIN_DATA_SEED
    seed: int = 0
    threads: int = 2  # torch CPU threads while pre-training: CPU kernels sum in a thread-count-dependent order


PRETRAIN_PRESETS: dict[str, PretrainSettings] = {
    # the demo's resolution (48x96 H x W). resnet10t, measured on the shared 2-core dev machine (contended):
    # 86 CPU-seconds in one thread (synthesis + decoding + 120 steps), final train accuracy 0.44 on 100 IDs
    "demo": PretrainSettings(height=48, width=96, num_ids=100, images=1000, epochs=6, batch_size=50, lr=2e-3),
    # seconds: for tests and the smoke preset (32x64)
    "smoke": PretrainSettings(height=32, width=64, num_ids=8, images=32, epochs=1, batch_size=16, lr=1e-3,
                              synth_preset="smoke"),
}


def parse_synth_spec(spec: str) -> str:
    """``"synth"`` -> ``"demo"``; ``"synth:smoke"`` -> ``"smoke"``. Raises ValueError otherwise."""
    head, _, preset = spec.partition(":")
    preset = preset or "demo"
    if head != "synth" or preset not in PRETRAIN_PRESETS:
        raise ValueError(f"pretrained={spec!r}: expected 'synth' or 'synth:<preset>' with preset in "
                         f"{sorted(PRETRAIN_PRESETS)}")
    return preset


def _synth_overrides(s: PretrainSettings) -> dict[str, Any]:
    # Two test IDs is the generator's minimum: the test split is generated but never read.
    return dict(num_train_ids=s.num_ids, train_images=s.images, num_test_ids=2, query_images=2, gallery_images=4)


def _settings_hash(backbone: str, s: PretrainSettings) -> tuple[str, dict[str, Any]]:
    from reidlab.data.synth import resolve_params

    synth = resolve_params("rgbn300", s.synth_preset, s.data_seed, _synth_overrides(s))
    key = {"backbone": backbone, "settings": dataclasses.asdict(s), "synth": synth, "version": PRETRAIN_VERSION}
    blob = json.dumps(key, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12], key


def pretrained_path(backbone: str, settings: PretrainSettings | str = "demo",
                    cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """Where :func:`ensure_pretrained` keeps the weights of ``backbone`` with ``settings``."""
    s = PRETRAIN_PRESETS[settings] if isinstance(settings, str) else settings
    key, _ = _resolve(backbone)
    h, _ = _settings_hash(key, s)
    return Path(cache_dir) / f"{key}-{s.height}x{s.width}-{h}.pth"


def _load_rgb(backbone_key: str, s: PretrainSettings, synth_cache: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The RGB images (N, 3, H, W) normalised, and labels (N,) in 0..num_ids-1."""
    from reidlab.data import load_dataset
    from reidlab.data.image import load_image
    from reidlab.data.synth import ensure_synthetic
    from reidlab.data.transforms import build_transforms

    root = ensure_synthetic("rgbn300", preset=s.synth_preset, seed=s.data_seed, cache_dir=synth_cache,
                            **_synth_overrides(s))
    data = load_dataset("rgbn300", root)
    tf = build_transforms(s.height, s.width, train=False)
    records = [r for r in data.train if "rgb" in r.images]  # RGB only: never a cross-modal pair
    if not records:
        raise RuntimeError(f"{root}: no RGB training images to pre-train on")
    pids = sorted({r.pid for r in records})
    label = {p: i for i, p in enumerate(pids)}
    x = torch.stack([tf.to_tensor(load_image(r.images["rgb"])) for r in records])
    y = torch.tensor([label[r.pid] for r in records], dtype=torch.long)
    return x, y


def _augment(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Per-image horizontal flip (p = 0.5) and pad-and-crop (zero = mean colour after normalising)."""
    b, _, h, w = x.shape
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad))
        off = torch.randint(0, 2 * pad + 1, (b, 2), generator=g)
        x = torch.stack([xp[i, :, off[i, 0]:off[i, 0] + h, off[i, 1]:off[i, 1] + w] for i in range(b)])
    return x


def pretrain_backbone(backbone: str, settings: PretrainSettings, *, synth_cache: str | Path = "data/synth",
                      progress: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train ``backbone`` with ``settings.threads`` torch threads (the caller's count restored after);
    see :func:`_train_backbone` for what is trained and returned."""
    prev = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return _train_backbone(backbone, settings, synth_cache=synth_cache, progress=progress)
    finally:
        torch.set_num_threads(prev)


def _train_backbone(backbone: str, settings: PretrainSettings, *, synth_cache: str | Path = "data/synth",
                    progress: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train ``backbone`` + a linear ID classifier on synthetic RGB images; return (state dict, stats).

    The state dict is the backbone's timm body only (the classifier is dropped). Stats:
    ``train_acc`` (accuracy over the last epoch's augmented batches, fraction), ``seconds`` (wall),
    ``cpu_seconds`` (process CPU time, all threads),
    ``loss`` (last epoch's mean), ``data_seconds`` (synthesis + decoding), ``images``, ``num_ids``. The global RNG state is untouched.
    """
    from tqdm.auto import tqdm

    s = settings
    t0, c0 = time.perf_counter(), time.process_time()
    x, y = _load_rgb(backbone, s, synth_cache)
    t_data = time.perf_counter() - t0
    num_ids = int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):  # building the model must not move the caller's RNG
        torch.manual_seed(s.seed)
        net = create_backbone(backbone, pretrained=False, last_stride=s.last_stride)
        head = nn.Linear(net.out_channels, num_ids)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
    steps_per_epoch = max(1, len(x) // s.batch_size)
    total = steps_per_epoch * s.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, total) / total)))
    g = torch.Generator().manual_seed(s.seed + 1)
    net.train()
    head.train()
    bar = tqdm(total=total, desc=f"pretrain {backbone}", disable=not progress, leave=False)
    correct = seen = 0
    loss_sum = 0.0
    for epoch in range(s.epochs):
        order = torch.randperm(len(x), generator=g)
        correct = seen = 0
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * s.batch_size:(i + 1) * s.batch_size]
            xb, yb = _augment(x[idx], s.pad, g), y[idx]
            logits = head(net(xb).mean(dim=(2, 3)))
            loss = F.cross_entropy(logits, yb, label_smoothing=s.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(yb)
            loss_sum += loss.item() * len(yb)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}", acc=f"{correct / seen:.2f}")
    bar.close()
    stats = {"train_acc": correct / max(seen, 1), "loss": loss_sum / max(seen, 1),
             "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "data_seconds": t_data, "images": len(x), "num_ids": num_ids,
             "threads": torch.get_num_threads()}
    return {k: v.detach().clone() for k, v in net.body.state_dict().items()}, stats


def ensure_pretrained(backbone: str, settings: PretrainSettings | str = "demo", *,
                      cache_dir: str | Path = DEFAULT_CACHE, synth_cache: str | Path = "data/synth",
                      progress: bool = True) -> Path:
    """Return the cached pre-trained weights of ``backbone`` (a ``.pth`` state dict), training them if needed.

    ``settings``: a :class:`PretrainSettings` or a name in :data:`PRETRAIN_PRESETS`. The file is
    reused only when its JSON record carries the same hash (the record is written last, so an
    interrupted run is redone).
    """
    s = PRETRAIN_PRESETS[settings] if isinstance(settings, str) else settings
    key, _ = _resolve(backbone)
    h, hashed = _settings_hash(key, s)
    path = Path(cache_dir) / f"{key}-{s.height}x{s.width}-{h}.pth"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists() and json.loads(meta.read_text()).get("hash") == h:
        return path
    import numpy as np

    np_state = np.random.get_state()
    try:  # the caller's RNG streams (model init of the method being built) stay as they were
        with torch.random.fork_rng(devices=[]):
            state, stats = pretrain_backbone(key, s, synth_cache=synth_cache, progress=progress)
    finally:
        np.random.set_state(np_state)
    path.parent.mkdir(parents=True, exist_ok=True)
    # per-process temporary names: DDP ranks may pre-train concurrently; each writes the same bytes
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    torch.save(state, tmp)
    tmp.replace(path)
    tmp_meta = meta.with_name(f"{meta.name}.{os.getpid()}.partial")
    tmp_meta.write_text(json.dumps({"hash": h, **hashed, **stats, "torch": torch.__version__}, indent=1))
    tmp_meta.replace(meta)
    return path


def resolve_pretrained(backbone: str, pretrained: bool | str | Path | None) -> bool | str | Path | None:
    """``pretrained`` as :func:`reidlab.methods.backbones.create_backbone` takes it.

    Parameters
    ----------
    backbone : str
        Backbone name (see :data:`reidlab.methods.backbones.BACKBONES`).
    pretrained : bool, str, Path or None
        ``"synth"`` / ``"synth:<preset>"`` becomes the path (a str) of :func:`ensure_pretrained`'s
        cached weights (trained on first use); anything else is returned unchanged.

    Returns
    -------
    bool, str, Path or None
    """
    if isinstance(pretrained, str) and pretrained.split(":")[0] == "synth":
        return str(ensure_pretrained(backbone, parse_synth_spec(pretrained)))  # str: configs stay YAML-friendly
    return pretrained
