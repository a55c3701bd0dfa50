"""``train(cfg) -> Run``: the one training loop for every method, single process or DDP (torchrun).

Run folder (written by rank 0 only)::

    config.yaml         resolved config
    record.json         git SHA + dirty flag, package versions, seeds, device, world size,
                        dataset manifest checksum, start/end time, status
    history.jsonl       one line per epoch: loss parts, lr, images/s, time, eval results
    checkpoint_last.pth model, optimiser, scheduler, scaler, sampler, RNG states, epoch, history
    features.npz        final features of the evaluated splits
    results.csv/.json   final evaluation under every protocol of the dataset

Exact resume: an epoch's batches and augmentations are a pure function of
(seed, epoch, rank) — the sampler plan is, and the global RNGs plus the loader's worker
seeds are re-derived from (seed, epoch, rank) at the start of every epoch — so resuming
from the checkpoint of epoch e continues exactly as the uninterrupted run would have.
"""
from __future__ import annotations

import inspect
import json
import math
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from reidlab.engine.checkpoint import CHECKPOINT_NAME, load_checkpoint, load_model_state, save_atomic
from reidlab.engine.config import (MODEL_FIELDS, TrainConfig, _merge, config_from_dict, dump_config,
                                   import_method_class, load_config, parse_overrides, resolve_config)
from reidlab.engine.distributed import DistInfo, barrier, init_distributed, shutdown
from reidlab.engine.schedule import build_scheduler
from reidlab.utils import derive_seed, git_info, package_versions, rng_state, seed_everything, set_rng_state, worker_init_fn


class TrainingDiverged(RuntimeError):
    """A non-finite loss (or weights) stopped the run; the last good checkpoint is kept."""


# --------------------------------------------------------------------------------------------
# building blocks


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={spec!r} but CUDA is not available; use device=cpu or device=auto")
    return dev


def load_data(cfg: TrainConfig, dist_info: DistInfo | None = None):
    """The dataset of ``cfg``: ``load_dataset(cfg.dataset, root)``; root None -> synthetic preset."""
    from reidlab.data import load_dataset

    root = cfg.root
    if root is None:
        from reidlab.data.synth import ensure_synthetic

        # Rank 0 generates first; the others reuse its cache (no concurrent writers).
        if dist_info is None or dist_info.is_main:
            root = ensure_synthetic(cfg.dataset, preset=cfg.preset, seed=cfg.data_seed, cache_dir=cfg.synth_cache,
                                    **cfg.synth_overrides)
        if dist_info is not None:
            barrier(dist_info)
        if dist_info is not None and not dist_info.is_main:
            root = ensure_synthetic(cfg.dataset, preset=cfg.preset, seed=cfg.data_seed, cache_dir=cfg.synth_cache,
                                    **cfg.synth_overrides)
    return load_dataset(cfg.dataset, root)


def build_model(cfg: TrainConfig, num_classes: int, modalities: tuple[str, ...]) -> torch.nn.Module:
    """The method of ``cfg`` (registry name or ``module:Class``) with its overrides applied."""
    kwargs = dict(cfg.method_overrides)
    if ":" in cfg.method:
        for f in MODEL_FIELDS:
            if getattr(cfg, f) is not None:
                kwargs.setdefault(f, getattr(cfg, f))
        cls = import_method_class(cfg.method)
        return cls(num_classes=num_classes, modalities=modalities, **kwargs)
    from reidlab.methods import create_method, default_config

    # The method's config also lists the training set-up (lr, P, K, height...): hand it the
    # resolved values so that ``model.config`` describes the run actually made.
    resolved = cfg.to_dict()
    for key in default_config(cfg.method):
        if key in resolved and key not in ("method_overrides",) and resolved[key] is not None:
            kwargs.setdefault(key, resolved[key])
    return create_method(cfg.method, num_classes, modalities, **kwargs)


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or SGD over the method's ``param_groups()`` (groups may carry their own lr)."""
    groups = model.param_groups()
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum)


def build_sampler(records, aligned: bool, cfg: TrainConfig, modalities: tuple[str, ...], rank: int = 0,
                  world_size: int = 1):
    """P x K over aligned tuples; modality-balanced P x K (K per modality) for unaligned data.

    ``records`` must be the training dataset's own list (``ReIDImageDataset.records``): the
    sampler yields positions in it.
    """
    from reidlab.data.samplers import ModalityBalancedPKSampler, PKSampler

    pids = [r.pid for r in records]
    if aligned:
        return PKSampler(pids, cfg.P, cfg.K, seed=cfg.seed, rank=rank, world_size=world_size)
    mods = [r.modalities[0] if r.modalities else "" for r in records]
    return ModalityBalancedPKSampler(pids, mods, cfg.P, cfg.K, seed=cfg.seed, rank=rank,
                                     world_size=world_size, modality_set=modalities)


def _forward_accepts(model: torch.nn.Module, arg: str) -> bool:
    try:
        return arg in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _forward_accepts_present(model: torch.nn.Module) -> bool:
    try:
        return "present" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _to_float(v: Any) -> float:
    return float(v.detach().float().item()) if torch.is_tensor(v) else float(v)


def _eval_splits(data, protocols: list[str] | None) -> list[str]:
    """Splits the evaluation needs: those of the named protocols, else every non-train split."""
    if protocols:
        from reidlab.eval import get_protocol

        need = []
        for name in protocols:
            p = get_protocol(name)
            cand = (p.query_split, *getattr(p, "query_split_aliases", ()), p.gallery_split)
            need += [s for s in cand if s in data.splits]
        return sorted(set(need))
    return [s for s in data.splits if s != "train"]


def evaluate_features(features, dataset: str, protocols: list[str] | None):
    """Evaluation table (one row per protocol) from the evaluation engine."""
    import pandas as pd

    if not protocols:
        from reidlab.eval import evaluate_all

        return evaluate_all(features, dataset)
    from reidlab.eval import evaluate, get_protocol

    return pd.DataFrame([evaluate(features, get_protocol(n)).summary for n in protocols])


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    return x


def _write_history(run_dir: Path, history: list[dict]) -> None:
    tmp = run_dir / "history.jsonl.tmp"
    tmp.write_text("".join(json.dumps(_jsonable(h)) + "\n" for h in history))
    tmp.replace(run_dir / "history.jsonl")


def _write_record(run_dir: Path, record: dict) -> None:
    (run_dir / "record.json").write_text(json.dumps(_jsonable(record), indent=2))


def _last_good(run_dir: Path, history: list[dict]) -> str:
    if not history:
        return "none: no epoch finished"
    return f"{run_dir / CHECKPOINT_NAME}, epoch {history[-1]['epoch']}"


def _default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.method.replace(':', '.')}-{cfg.dataset}-s{cfg.seed}-{datetime.now():%Y%m%d-%H%M%S}"


# --------------------------------------------------------------------------------------------
# the loop


def train(cfg: TrainConfig | Mapping[str, Any] | str | Path, overrides: Iterable[str] = (), *,
          resume: str | Path | None = None, progress: bool = True):
    """Train ``cfg.method`` on ``cfg.dataset``, evaluate, and return the run (:class:`reidlab.engine.runs.Run`).

    Args:
        cfg: a :class:`TrainConfig`, a dict of its fields, or a YAML path.
        overrides: dotted ``key=value`` strings applied on top (``lr=1e-3``).
        resume: a run folder or checkpoint to continue exactly; its config.yaml is used
            (``overrides`` may change only ``epochs``, ``eval_*``, ``num_workers``).
        progress: show tqdm bars.
    Returns:
        The Run (on DDP ranks other than 0: None).
    Raises:
        TrainingDiverged: a NaN/Inf loss; message names the epoch, step and loss part.
    """
    if resume is not None:
        ckpt_path = Path(resume)
        run_dir = ckpt_path if ckpt_path.is_dir() else ckpt_path.parent
        base = load_config(run_dir / "config.yaml", overrides)
    elif isinstance(cfg, (TrainConfig, Mapping)):
        d = cfg.to_dict() if isinstance(cfg, TrainConfig) else dict(cfg)
        base = config_from_dict(_merge(d, parse_overrides(overrides)))
    else:
        base = load_config(cfg, overrides)
    cfg = resolve_config(base)

    device = resolve_device(cfg.device)
    if device.type != "cuda" and cfg.amp != "none":
        raise ValueError(f"amp={cfg.amp!r} needs CUDA but the device is {device}; set amp=none on the CPU")
    dist_info = init_distributed(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    try:
        return _train(cfg, device, dist_info, resume, progress)
    finally:
        shutdown(dist_info)


def _train(cfg: TrainConfig, device: torch.device, dist_info: DistInfo, resume, progress: bool):
    from reidlab.data.transforms import build_transforms
    from reidlab.data.torch_dataset import ReIDImageDataset

    main = dist_info.is_main
    seed_everything(derive_seed(cfg.seed, "init"))  # model init depends on the seed only
    data = load_data(cfg, dist_info)
    modalities = tuple(cfg.modalities) if cfg.modalities else tuple(data.modalities)
    missing = sorted(set(modalities) - set(data.modalities))
    if missing:
        raise ValueError(f"modalities {missing} are not in dataset {data.name} ({data.modalities})")

    train_tf = build_transforms(cfg.height, cfg.width, train=True, **cfg.transform)
    test_tf = build_transforms(cfg.height, cfg.width, train=False)
    train_ds = ReIDImageDataset(data.train, modalities, train_tf, relabel=True)
    num_classes = train_ds.num_classes
    sampler = build_sampler(train_ds.records, data.aligned, cfg, modalities, dist_info.rank, dist_info.world_size)
    if len(sampler) == 0:
        raise ValueError(f"P={cfg.P} x K={cfg.K} gives no batch on {len(data.train)} train records "
                         f"over {dist_info.world_size} process(es); lower P or K")

    model = build_model(cfg, num_classes, modalities).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, warmup_epochs=cfg.warmup_epochs, warmup_factor=cfg.warmup_factor,
                                milestones=cfg.milestones, gamma=cfg.gamma)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")

    history: list[dict] = []
    start_epoch = 0
    if resume is not None:
        ckpt = load_checkpoint(resume, map_location="cpu")
        run_dir = Path(resume) if Path(resume).is_dir() else Path(resume).parent
        load_model_state(model, ckpt["model"], source=str(resume))
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        sampler.load_state_dict({**ckpt["sampler"], "rank": dist_info.rank, "world_size": dist_info.world_size})
        set_rng_state(ckpt["rng"])
        history = list(ckpt["history"])
        start_epoch = int(ckpt["epoch"]) + 1
    else:
        run_dir = Path(cfg.out_dir) / (cfg.run_name or _default_run_name(cfg))
        if main and (run_dir / CHECKPOINT_NAME).exists():
            raise FileExistsError(f"{run_dir} already holds a run; resume it (--resume {run_dir}) "
                                  "or choose another run_name/out_dir")

    record: dict[str, Any] = {}
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run_dir / "config.yaml")
        record = {
            "git": git_info(), "versions": package_versions(), "seed": cfg.seed, "data_seed": cfg.data_seed,
            "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "world_size": dist_info.world_size, "dataset": data.name, "root": str(data.root),
            "manifest_checksum": data.manifest_checksum(), "num_classes": num_classes,
            "modalities": list(modalities), "num_train_records": len(data.train),
            "started": datetime.now(timezone.utc).isoformat(), "status": "running",
            "resumed_from_epoch": start_epoch if resume is not None else None,
            # how the weights were initialised when the method reports it (e.g. TransOSS's checkpoint import)
            "init": getattr(model, "init_report", None) or None,
        }
        if resume is not None and (run_dir / "record.json").exists():
            old = json.loads((run_dir / "record.json").read_text())
            record["started"] = old.get("started", record["started"])
            record["resumes"] = old.get("resumes", []) + [record.pop("resumed_from_epoch")]
        _write_record(run_dir, record)

    net: torch.nn.Module = model
    if dist_info.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.ddp_find_unused_parameters)
    pass_present = _forward_accepts_present(model)
    pass_sizes = _forward_accepts(model, "sizes")  # original image sizes (TransOSS's ship-size embedding)
    global_step = start_epoch * len(sampler)

    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        seed_everything(derive_seed(cfg.seed, epoch, dist_info.rank))
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, epoch, dist_info.rank, "loader"))
        loader = DataLoader(train_ds, batch_sampler=sampler, num_workers=cfg.num_workers,
                            worker_init_fn=worker_init_fn, generator=gen, pin_memory=device.type == "cuda")
        net.train()
        lr = optimizer.param_groups[0]["lr"]
        sums: dict[str, float] = {}
        n_img, n_steps, t0 = 0, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (progress and main), leave=False)
        for step, batch in enumerate(bar):
            images = {m: t.to(device, non_blocking=True) for m, t in batch["images"].items()}
            if cfg.channels_last:
                images = {m: t.contiguous(memory_format=torch.channels_last) for m, t in images.items()}
            labels = batch["label"].to(device, non_blocking=True)
            with _autocast(device, cfg.amp):
                if pass_present:
                    extra = ({"sizes": {m: v.to(device) for m, v in batch["size"].items()}}
                             if pass_sizes else {})
                    outputs = net(images, present={m: v.to(device) for m, v in batch["present"].items()}, **extra)
                else:
                    outputs = net(images)
                total, parts = model.loss(outputs, labels)
            finite = torch.isfinite(total.detach()).float()
            if dist_info.enabled:  # every rank must stop together, or the others hang in all-reduce
                torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
            if finite.item() < 1:
                bad = [k for k, v in parts.items() if not math.isfinite(_to_float(v))]
                msg = (f"non-finite loss {_to_float(total)} at epoch {epoch + 1}, step {step + 1} "
                       f"(global step {global_step}); non-finite parts: {bad or 'none (total only)'}; "
                       f"parts: { {k: _to_float(v) for k, v in parts.items()} }. Training stopped; the last "
                       f"good checkpoint ({_last_good(run_dir, history)}) is kept. "
                       "Lower lr, enable grad_clip or check the data.")
                if main:
                    record.update(status="diverged", error=msg, ended=datetime.now(timezone.utc).isoformat())
                    _write_record(run_dir, record)
                raise TrainingDiverged(msg)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            bs = labels.shape[0]
            n_img += bs
            n_steps += 1
            global_step += 1
            sums["loss"] = sums.get("loss", 0.0) + _to_float(total)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + _to_float(v)
            dt = time.perf_counter() - t0
            bar.set_postfix(loss=f"{sums['loss'] / n_steps:.3f}", lr=f"{lr:.2e}", img_s=f"{n_img / dt:.1f}")
        elapsed = time.perf_counter() - t0
        scheduler.step()
        bad_w = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
        if bad_w:
            msg = (f"non-finite weights after epoch {epoch + 1} ({bad_w[:5]}); the last good checkpoint "
                   f"in {run_dir} is kept. Lower lr or enable grad_clip.")
            if main:
                record.update(status="diverged", error=msg)
                _write_record(run_dir, record)
            raise TrainingDiverged(msg)
        entry: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "steps": n_steps,
                                 "images_per_s": n_img * dist_info.world_size / max(elapsed, 1e-9),
                                 "time_s": elapsed}
        entry.update({k: v / max(n_steps, 1) for k, v in sums.items()})
        if main and cfg.eval_every and (epoch + 1) % cfg.eval_every == 0 and epoch + 1 < cfg.epochs:
            feats = extract_features_for(model, data, cfg, test_tf, device, progress)
            table = evaluate_features(feats, data.name, cfg.eval_protocols)
            entry["eval"] = table.to_dict(orient="records")
        history.append(entry)
        if main:
            ckpt = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                    "sampler": sampler.state_dict(), "rng": rng_state(), "history": history,
                    "config": cfg.to_dict(), "num_classes": num_classes, "modalities": list(modalities)}
            save_atomic(ckpt, run_dir / CHECKPOINT_NAME)
            _write_history(run_dir, history)
        barrier(dist_info)

    if main:
        feats = extract_features_for(model, data, cfg, test_tf, device, progress)
        feats.save(run_dir / "features.npz")
        if cfg.final_eval:
            table = evaluate_features(feats, data.name, cfg.eval_protocols)
            table.to_csv(run_dir / "results.csv", index=False)
            (run_dir / "results.json").write_text(json.dumps(_jsonable(table.to_dict(orient="records")), indent=2))
            if history:
                history[-1]["eval"] = table.to_dict(orient="records")
                _write_history(run_dir, history)
        record.update(status="finished", ended=datetime.now(timezone.utc).isoformat())
        _write_record(run_dir, record)
    barrier(dist_info)
    if not main:
        return None
    from reidlab.engine.runs import load_run

    return load_run(run_dir)


def extract_features_for(model: torch.nn.Module, data, cfg: TrainConfig, transform, device: torch.device,
                         progress: bool = True):
    """Features of the splits the configured evaluation needs."""
    from reidlab.engine.extract import extract_features

    return extract_features(model, data, _eval_splits(data, cfg.eval_protocols), transform,
                            batch_size=cfg.eval_batch_size, device=device, progress=progress,
                            meta={"method": cfg.method, "backbone": str(cfg.backbone)})
