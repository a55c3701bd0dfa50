"""Contrastive optical-SAR pre-training of the TransOSS ViT (CLIP-style, the paper's first stage).

Each batch holds N pairs (optical, SAR) of N different locations. The ViT embeds both (CLS after
the final LayerNorm, L2-normalised), logits ``s * sar @ opt.T`` with a learnable scale
``s = exp(t)``, ``t`` initialised to ln(1/0.07) (CLIP); the loss is the symmetric cross-entropy
``(CE(logits, diag) + CE(logits.T, diag)) / 2`` (public ``loss/contrastive_loss.py``). Public
set-up (``configs/pretrain_transoss.yml``): SGD lr 0.003, batch 512 pairs, 60 epochs, cosine
schedule with 5 warm-up epochs, MIE on, SSE off, from ImageNet ViT-B/16.

The checkpoint holds the ViT's tensors under reidlab's names (``vit.*``) and ``logit_scale``;
fine-tuning starts from it with ``method_overrides.pretrained=PATH`` (TransOSS imports it through
:func:`reidlab.methods.transoss.import_weights`, which reports what it loaded in the run record).

CLI: ``reidlab pretrain-pairs --root DATA | --synth N --out ckpt.pth``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from reidlab.data.image import load_image
from reidlab.data.layouts.optisar_pair import OptiSarPair, list_optisar_pairs
from reidlab.data.records import ImageRef

__all__ = ["PAIR_PRESETS", "PairPretrainConfig", "ensure_pair_checkpoint", "PairDataset", "clip_loss", "pair_retrieval", "pretrain_pairs", "split_pairs"]


def clip_loss(opt: torch.Tensor, sar: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over N aligned rows: ``opt``, ``sar`` (N, D) (normalised here), scalar log-scale."""
    if opt.shape != sar.shape:
        raise ValueError(f"clip_loss needs aligned pairs, got {tuple(opt.shape)} vs {tuple(sar.shape)}")
    logits = logit_scale.exp() * F.normalize(sar, dim=1) @ F.normalize(opt, dim=1).t()
    target = torch.arange(len(opt), device=opt.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


class PairDataset(Dataset):
    """Pairs -> ``{"images": {"rgb", "sar"} (3, H, W), "size": {"rgb", "sar"} (2,), "loc": int}``.

    ``transform``: ``{mod: PIL} -> {mod: Tensor}`` (``build_transforms``), applied to each image of a
    pair separately (independent random flip/crop/erasing, as the public loader).
    """

    def __init__(self, pairs: Sequence[OptiSarPair], transform) -> None:
        self.pairs = list(pairs)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        p = self.pairs[i]
        pil = {"rgb": load_image(ImageRef(p.rgb)), "sar": load_image(ImageRef(p.sar))}
        # each image transformed on its own: shared random crops/erasing would let the model match the
        # erased rectangle instead of the location (a shortcut the test of this module caught)
        out = {m: self.transform({m: pil[m]})[m] for m in ("rgb", "sar")}
        return {"images": {m: out[m] for m in ("rgb", "sar")},
                "size": {m: torch.tensor(pil[m].size, dtype=torch.float32) for m in ("rgb", "sar")},
                "loc": p.loc}


@dataclass
class PairPretrainConfig:
    """Pre-training set-up. ``root``: a folder holding ``OptiSar_Pair/``; None -> ``synth_pairs``
    synthetic pairs written under ``synth_cache``. ``init``: a checkpoint the ViT starts from
    (e.g. ImageNet ViT-B/16 .pth), False = random. Model keys as TransOSS's config."""

    root: str | None = None
    synth_pairs: int = 64
    synth_seed: int = 0
    synth_gap: float = 1.0           # generator's modality gap (0: SAR = optical luminance on its own grid)
    synth_cache: str = "data/synth"
    holdout: float = 0.0             # fraction of locations kept out of training (retrieval check)
    backbone: str = "vit_base_patch16"
    init: str | bool = False
    height: int = 256
    width: int = 128
    stride_size: int | None = None  # None = the patch size
    drop_path: float = 0.1
    mie: bool = True                 # public pre-training config: MIE on (3.0), SSE off
    mie_coef: float = 3.0
    sse: bool = False
    epochs: int = 60
    batch_size: int = 512
    optimizer: str = "sgd"           # "sgd" (public) or "adam" (the tiny CPU ViT learns faster with it)
    lr: float = 0.003
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: int = 5
    temperature_init: float = 0.07
    learn_temperature: bool = True
    seed: int = 0
    device: str = "auto"
    transform: dict[str, Any] = field(default_factory=dict)
    out: str = "runs/pretrain_pairs.pth"


def split_pairs(pairs: Sequence[OptiSarPair], holdout: float, seed: int) -> tuple[list[OptiSarPair], list[OptiSarPair]]:
    """Split by location (no location on both sides): ``(train, held_out)``."""
    locs = sorted({p.loc for p in pairs})
    n_out = int(round(holdout * len(locs)))
    rng = np.random.default_rng([seed, 51])
    out = set(rng.permutation(locs)[:n_out].tolist()) if n_out else set()
    return [p for p in pairs if p.loc not in out], [p for p in pairs if p.loc in out]


def _build_model(cfg: PairPretrainConfig):
    from reidlab.methods import create_method

    return create_method("transoss", 2, ("rgb", "sar"), backbone=cfg.backbone, pretrained=cfg.init,
                         height=cfg.height, width=cfg.width, stride_size=cfg.stride_size, drop_path=cfg.drop_path,
                         mie=cfg.mie, mie_coef=cfg.mie_coef, sse=cfg.sse)


def _encode_pairs(model, batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images = {m: t.to(device) for m, t in batch["images"].items()}
    sizes = {m: t.to(device) for m, t in batch["size"].items()}
    feats = model.encode(images, sizes)
    return feats["rgb"], feats["sar"]


@torch.no_grad()
def pair_retrieval(model, pairs: Sequence[OptiSarPair], transform, *, device: str | torch.device = "cpu",
                   batch_size: int = 64) -> dict[str, float]:
    """Optical -> SAR retrieval over ``pairs``: each optical image queries all SAR images (cosine);
    the positives are the SAR images of its location. Returns ``mAP``, ``R1`` (fractions) and ``n``."""
    device = torch.device(device)
    was = model.training
    model.eval()
    opt, sar, locs = [], [], []
    for batch in DataLoader(PairDataset(pairs, transform), batch_size=batch_size, shuffle=False):
        o, s = _encode_pairs(model, batch, device)
        opt.append(F.normalize(o, dim=1).cpu())
        sar.append(F.normalize(s, dim=1).cpu())
        locs.append(batch["loc"])
    model.train(was)
    o, s, loc = torch.cat(opt), torch.cat(sar), torch.cat(locs)
    # one gallery entry per distinct SAR file
    sar_paths = [p.sar for p in pairs]
    first = {}
    for i, path in enumerate(sar_paths):
        first.setdefault(path, i)
    gi = torch.tensor(sorted(first.values()))
    g, gloc = s[gi], loc[gi]
    qfirst = {}
    for i, p in enumerate(pairs):
        qfirst.setdefault(p.rgb, i)
    qi = torch.tensor(sorted(qfirst.values()))
    sim = o[qi] @ g.t()
    order = sim.argsort(dim=1, descending=True)
    match = (gloc[order] == loc[qi].unsqueeze(1)).float()
    r1 = match[:, 0].mean().item()
    cum = match.cumsum(1)
    ranks = torch.arange(1, match.shape[1] + 1).float()
    ap = ((cum / ranks) * match).sum(1) / match.sum(1).clamp_min(1)
    return {"mAP": ap.mean().item(), "R1": r1, "n": int(len(qi)), "chance_R1": 1.0 / max(1, len(torch.unique(gloc)))}


def _device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def pretrain_pairs(cfg: PairPretrainConfig, *, progress: bool = False) -> dict[str, Any]:
    """Run the contrastive pre-training; write ``cfg.out`` (+ ``.json`` beside it); return the summary.

    Summary: ``checkpoint``, ``history`` (per epoch loss, temperature, seconds), ``n_train_pairs``,
    ``held_out`` (the held-out pairs, for :func:`pair_retrieval`), ``config``.
    """
    from reidlab.data.transforms import build_transforms

    if cfg.root is None:
        from reidlab.data.synth.optisar_pair import write_optisar_pairs
        from reidlab.data.synth.presets import resolve_params

        hp = resolve_params("hoss", "smoke", cfg.synth_seed, {})
        root = Path(cfg.synth_cache) / f"optisar_pair-n{cfg.synth_pairs}-s{cfg.synth_seed}-g{cfg.synth_gap:g}"
        write_optisar_pairs(root, cfg.synth_pairs, seed=cfg.synth_seed, size=tuple(hp["size"]),
                            sar_size=tuple(hp["sar_size"]), gap=cfg.synth_gap)
    else:
        root = Path(cfg.root)
    listing = list_optisar_pairs(root)
    train_pairs, held = split_pairs(listing.pairs, cfg.holdout, cfg.seed)
    if len({p.loc for p in train_pairs}) < 2:
        raise ValueError(f"pre-training needs >= 2 training locations, got {len(train_pairs)} pairs")
    torch.manual_seed(cfg.seed)
    device = _device(cfg.device)
    model = _build_model(cfg).to(device)
    init_report = dict(model.init_report)
    logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.temperature_init), device=device),
                               requires_grad=cfg.learn_temperature)
    params = [p for n, p in model.named_parameters() if n.startswith("vit.") and p.requires_grad]
    groups = [{"params": params}, {"params": [logit_scale], "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {cfg.optimizer!r}")
    steps_per_epoch = max(1, len(train_pairs) // cfg.batch_size) if len(train_pairs) >= cfg.batch_size else 1
    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch

    def lr_at(step: int) -> float:  # linear warm-up from 0.01 x lr, then cosine to 0.002 x lr (public schedule)
        if step < warm:
            return cfg.lr * (0.01 + 0.99 * step / max(1, warm))
        t = (step - warm) / max(1, total - warm)
        return cfg.lr * (0.002 + 0.998 * 0.5 * (1 + math.cos(math.pi * t)))

    tf = build_transforms(cfg.height, cfg.width, train=True, **cfg.transform)
    ds = PairDataset(train_pairs, tf)
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(ds, batch_size=min(cfg.batch_size, len(ds)), shuffle=True, drop_last=True, generator=gen)
    history = []
    step = 0
    model.train()
    for epoch in range(cfg.epochs):
        t0, losses = time.perf_counter(), []
        for batch in loader:
            # a location twice in one batch would be a false negative: keep its first pair only
            loc = batch["loc"].tolist()
            keep = torch.tensor([i for i, l in enumerate(loc) if l not in loc[:i]])
            batch = {"images": {m: t[keep] for m, t in batch["images"].items()},
                     "size": {m: t[keep] for m, t in batch["size"].items()}}
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            o, s = _encode_pairs(model, batch, device)
            loss = clip_loss(o, s, logit_scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                logit_scale.clamp_(0, math.log(100.0))  # CLIP caps the scale at 100
            losses.append(float(loss.detach()))
            step += 1
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "temperature": float(1 / logit_scale.detach().exp()),
                        "lr": lr_at(max(0, step - 1)), "seconds": time.perf_counter() - t0})
        if progress:
            print(f"epoch {epoch + 1}/{cfg.epochs} loss {history[-1]['loss']:.4f} T {history[-1]['temperature']:.4f}")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items() if k.startswith("vit.")}
    sd["logit_scale"] = logit_scale.detach().cpu()
    torch.save(sd, out)
    summary = {"checkpoint": str(out), "root": str(root), "n_train_pairs": len(train_pairs),
               "n_held_out_pairs": len(held), "history": history, "init": init_report or None,
               "config": asdict(cfg), "warnings": listing.warnings}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    summary["held_out"] = held
    summary["model"] = model
    return summary


#: Synthetic pre-training runs that ``pretrained="pairs:<name>"`` in TransOSS's config resolves to (cached).
#: Gap 0 (SAR = optical luminance on its own grid): at the default gap the /max-scaled synthetic SAR
#: chips are dark but for reflector spikes and the tiny CPU ViT collapses (see tests/test_transoss_pretrain.py).
PAIR_PRESETS: dict[str, dict[str, Any]] = {
    "synthetic": dict(synth_pairs=96, synth_gap=0.0, epochs=20, batch_size=32, lr=1e-3, optimizer="adam",
                      warmup_epochs=1, transform={"erase_p": 0.0}),
    # lr 3e-4: at 1e-3 the tiny ViT at 64x64 collapses to ln 64 from epoch 3 (measured, docs/MEASUREMENTS.md)
    "synthetic-demo": dict(synth_pairs=384, synth_gap=0.0, epochs=30, batch_size=64, lr=3e-4, optimizer="adam",
                           warmup_epochs=2, transform={"erase_p": 0.0}),
}


def ensure_pair_checkpoint(spec: str, model_config: dict[str, Any], cache_dir: str | Path = "data/synth") -> Path:
    """Checkpoint of the pre-training ``spec`` = ``"pairs:<preset>"`` for a model shaped as ``model_config``
    (backbone, height, width, stride_size, mie, mie_coef; SSE off as in the public pre-training);
    trained once and cached under ``cache_dir/pretrain_pairs/<hash>.pth``."""
    import hashlib

    name = spec.split(":", 1)[1] if spec.startswith("pairs:") else spec
    if name not in PAIR_PRESETS:
        raise ValueError(f"unknown pre-training preset {spec!r}; known: {['pairs:' + k for k in PAIR_PRESETS]}")
    shape = {k: model_config[k] for k in ("backbone", "height", "width", "stride_size", "mie", "mie_coef")}
    kw = {**PAIR_PRESETS[name], **shape, "sse": False, "drop_path": float(model_config.get("drop_path", 0.1)),
          "synth_cache": str(cache_dir), "device": "cpu" if not torch.cuda.is_available() else "cuda"}
    key = hashlib.sha256(json.dumps({k: v for k, v in kw.items() if k not in ("synth_cache", "device")},
                                    sort_keys=True).encode()).hexdigest()[:12]
    out = Path(cache_dir) / "pretrain_pairs" / f"{name}-{key}.pth"
    if not out.exists():
        tmp = out.with_name(out.stem + ".partial.pth")
        pretrain_pairs(PairPretrainConfig(out=str(tmp), **kw))
        tmp.with_suffix(".json").replace(out.with_suffix(".json"))
        tmp.replace(out)
    return out
