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
(seed, epoch, rank) — the sampler plan is, the global RNGs are re-derived from (seed, epoch,
rank) at the start of every epoch, and with loader workers (persistent, built once per run)
each batch is augmented under its own seed (seed, epoch, rank, batch; see engine.loader) — so
resuming from the checkpoint of epoch e continues exactly as the uninterrupted run would have.

DDP: any rank's failure at a point where ranks could diverge (set-up, end of epoch, checkpoint,
evaluation) stops every rank with the failing rank's message (engine.distributed.agree);
evaluation extracts features on every rank (a slice each, gathered in order); logged losses are
the mean over ranks.
"""
from __future__ import annotations

import dataclasses

import json
import math
import sys
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from tqdm.auto import tqdm

from reidlab.data.loading import build_sampler, load_data
from reidlab.data.sample_fields import fields_to
from reidlab.engine.build import build_model, build_optimizer, method_class, resolve_device
from reidlab.engine.checkpoint import CHECKPOINT_NAME, load_checkpoint, load_model_state, save_atomic
from reidlab.engine.config import TrainConfig, _merge, config_from_dict, dump_config, load_config, parse_overrides, resolve_config
from reidlab.engine.determinism import deterministic_mode
from reidlab.engine.distributed import (DistInfo, all_ranks, broadcast_buffers, convert_sync_bn,
                                        init_distributed, mean_over_ranks, shutdown)
from reidlab.engine.loader import build_train_loader
from reidlab.engine.runs import jsonable, load_run, write_history, write_record
from reidlab.engine.schedule import build_scheduler, lr_scale_factor
from reidlab.eval.run_eval import eval_splits, evaluate_features
from reidlab.utils import derive_seed, git_info, package_versions, rng_state, seed_everything, set_rng_state

# Re-exported for callers of the former single-module engine.
__all__ = ["train", "Trainer", "StepContext", "TrainingDiverged", "extract_features_for", "build_model",
           "build_optimizer", "build_sampler", "load_data", "resolve_device", "evaluate_features"]


class TrainingDiverged(RuntimeError):
    """A non-finite loss (or weights) stopped the run; the last good checkpoint is kept."""


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _to_float(v: Any) -> float:
    return float(v.detach().float().item()) if torch.is_tensor(v) else float(v)


def _default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.method.replace(':', '.')}-{cfg.dataset}-s{cfg.seed}-{datetime.now():%Y%m%d-%H%M%S}"


class StepContext:
    """What a method's ``training_step(batch, ctx)`` may use for its update(s) on one batch.

    Attributes
    ----------
    optimizer : torch.optim.Optimizer
    scaler : torch.amp.GradScaler (disabled unless amp=fp16)
    device : torch.device
    grad_clip : float or None
        Max global grad norm applied in :meth:`backward_step` (None/0 = off).
    """

    def __init__(self, trainer: "Trainer") -> None:
        self._t = trainer
        self.optimizer = trainer.optimizer
        self.scaler = trainer.scaler
        self.device = trainer.device
        self.grad_clip = trainer.cfg.grad_clip
        self.epoch = 0   # 0-based
        self.step = 0    # 0-based, within the epoch

    def autocast(self):
        """The mixed-precision context of the run (a no-op for amp=none)."""
        return _autocast(self.device, self._t.cfg.amp)

    def forward(self, images: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None,
                fields: Mapping[str, Any] | None = None):
        """The model's forward through the DDP wrapper when there is one (gradients are synchronised).

        ``present`` and ``fields`` (the batch's ``sample_fields``) are passed only when given."""
        kw: dict[str, Any] = {}
        if present is not None:
            kw["present"] = present
        if fields:
            kw["fields"] = fields
        return self._t.net(images, **kw)

    def check_finite(self, loss: torch.Tensor, parts: Mapping[str, Any] | None = None) -> None:
        """Raise :class:`TrainingDiverged` (every rank together) when ``loss`` is NaN/Inf."""
        finite = torch.isfinite(loss.detach()).float()
        if self._t.dist.enabled:  # every rank must stop together, or the others hang in all-reduce
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        if finite.item() < 1:
            self._t.diverged_loss(loss, parts or {})

    def backward_step(self, loss: torch.Tensor, parts: Mapping[str, Any] | None = None) -> None:
        """Finite check, zero_grad, scaled backward, optional grad clip, optimiser step, scaler update."""
        self.check_finite(loss, parts)
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(self._t.model.parameters(), self.grad_clip)
        self.scaler.step(opt)
        self.scaler.update()


class Trainer:
    """The training loop in four parts: :meth:`setup`, :meth:`run_epoch`, :meth:`step`, :meth:`finish`.

    The loop itself is fixed; a method changes its per-batch update through
    ``ReIDMethod.training_step(batch, ctx)`` only.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device, dist_info: DistInfo,
                 resume: str | Path | None = None, progress: bool = True) -> None:
        self.cfg, self.device, self.dist, self.resume, self.progress = cfg, device, dist_info, resume, progress
        self.main = dist_info.is_main
        self.history: list[dict] = []
        self.record: dict[str, Any] = {}
        self.start_epoch = 0
        self.global_step = 0
        self.loader = None  # built on the first epoch, reused after (persistent workers)
        self.lr_factor = 1.0
        self.sync_bn_modules = 0

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        """Data, sampler, model, optimiser, scheduler, scaler; resume state; run folder and record.

        Any rank's failure here stops every rank (one agreement before the DDP wrapper, whose
        construction is itself a collective).
        """
        with all_ranks(self.dist, "setup"):
            self._setup_local()
        self.net: torch.nn.Module = self.model
        if self.dist.enabled:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.cfg.ddp_find_unused_parameters)
        self.ctx = StepContext(self)
        self.global_step = self.start_epoch * len(self.sampler)

    def _setup_local(self) -> None:
        from reidlab.data.torch_dataset import ReIDImageDataset
        from reidlab.data.transforms import build_transforms

        cfg, dist_info = self.cfg, self.dist
        if cfg.sync_bn and dist_info.enabled and self.device.type != "cuda":
            raise ValueError(f"sync_bn=true needs CUDA (torch's SyncBatchNorm runs on GPUs only) but the device is "
                             f"{self.device}; set sync_bn=false for a CPU (gloo) run")
        seed_everything(derive_seed(cfg.seed, "init"))  # model init depends on the seed only
        data = self.data = load_data(cfg, dist_info)
        modalities = self.modalities = tuple(cfg.modalities) if cfg.modalities else tuple(data.modalities)
        missing = sorted(set(modalities) - set(data.modalities))
        if missing:
            raise ValueError(f"modalities {missing} are not in dataset {data.name} ({data.modalities})")

        train_tf = build_transforms(cfg.height, cfg.width, train=True, **cfg.transform)
        self.test_tf = build_transforms(cfg.height, cfg.width, train=False)
        # the per-sample fields the method declares ride along with its images (no field is named here)
        fields = tuple(getattr(method_class(cfg), "sample_fields", ()))
        self.train_ds = ReIDImageDataset(data.train, modalities, train_tf, relabel=True, fields=fields)
        self.num_classes = self.train_ds.num_classes
        self.sampler = build_sampler(self.train_ds.records, data.aligned, cfg, modalities, dist_info.rank,
                                     dist_info.world_size)
        if len(self.sampler) == 0:
            raise ValueError(f"P={cfg.P} x K={cfg.K} gives no batch on {len(data.train)} train records "
                             f"over {dist_info.world_size} process(es); lower P or K")

        # Resuming loads the checkpoint's weights: never fetch or build pretrained ones first.
        build_cfg = cfg if self.resume is None else dataclasses.replace(cfg, pretrained=False)
        model = self.model = build_model(build_cfg, self.num_classes, modalities).to(self.device)
        if cfg.channels_last:
            model = self.model = model.to(memory_format=torch.channels_last)
        if cfg.sync_bn and dist_info.enabled:  # one process: nothing to synchronise
            model, self.sync_bn_modules = convert_sync_bn(model)
            self.model = model
        # Unaligned batches (some modalities absent per sample) only go to methods that say they take them.
        self.pass_present = bool(getattr(model, "accepts_missing", False))
        if not data.aligned and len(modalities) > 1 and not self.pass_present:
            raise ValueError(f"method {cfg.method!r} ({type(model).__name__}) has accepts_missing=False but dataset "
                             f"{data.name!r} is unaligned with modalities {list(modalities)}; train it on one "
                             "modality (modalities=[...]) or use a method that accepts missing modalities")
        self.optimizer = build_optimizer(model, cfg)
        # lr scaling rule (before the scheduler records its base lrs): every group's lr alike.
        self.reference_batch = cfg.lr_reference_batch or self.sampler.batch_size
        self.global_batch = self.sampler.batch_size * dist_info.world_size
        self.lr_factor = lr_scale_factor(cfg.lr_scaling, self.global_batch, self.reference_batch)
        for group in self.optimizer.param_groups:
            group["lr"] *= self.lr_factor
        self.scheduler = build_scheduler(self.optimizer, warmup_epochs=cfg.warmup_epochs,
                                         warmup_factor=cfg.warmup_factor, milestones=cfg.milestones,
                                         gamma=cfg.gamma)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")

        if self.resume is not None:
            ckpt = load_checkpoint(self.resume, map_location="cpu")
            self.run_dir = Path(self.resume) if Path(self.resume).is_dir() else Path(self.resume).parent
            old_factor = float(ckpt.get("lr_factor", 1.0))
            if not math.isclose(old_factor, self.lr_factor, rel_tol=1e-9):
                raise ValueError(f"resume of {self.run_dir}: lr_scaling={cfg.lr_scaling!r} gives an lr factor of "
                                 f"{self.lr_factor:g} at world size {dist_info.world_size}, but the run was trained "
                                 f"with {old_factor:g} (world size {ckpt.get('world_size', '?')}); resume with the "
                                 "same number of processes")
            load_model_state(model, ckpt["model"], source=str(self.resume))
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            self.scaler.load_state_dict(ckpt["scaler"])
            self.sampler.load_state_dict({**ckpt["sampler"], "rank": dist_info.rank,
                                          "world_size": dist_info.world_size})
            set_rng_state(ckpt["rng"])
            self.history = list(ckpt["history"])
            self.start_epoch = int(ckpt["epoch"]) + 1
        else:
            self.run_dir = Path(cfg.out_dir) / (cfg.run_name or _default_run_name(cfg))
            if self.main and (self.run_dir / CHECKPOINT_NAME).exists():
                raise FileExistsError(f"{self.run_dir} already holds a run; resume it (--resume {self.run_dir}) "
                                      "or choose another run_name/out_dir")
        if self.main:
            self._start_record()

    def _start_record(self) -> None:
        cfg, data, run_dir, device = self.cfg, self.data, self.run_dir, self.device
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run_dir / "config.yaml")
        record = {
            "git": git_info(), "versions": package_versions(), "seed": cfg.seed, "data_seed": cfg.data_seed,
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "world_size": self.dist.world_size, "dataset": data.name, "root": str(data.root),
            "manifest_checksum": data.manifest_checksum(), "num_classes": self.num_classes,
            "modalities": list(self.modalities), "num_train_records": len(data.train),
            "feature_norm": getattr(self.model, "feature_norm", "none"),
            # what the method's weight initialisation did (checkpoint import report), when it says
            "init": getattr(self.model, "init_report", None) or None,
            "started": datetime.now(timezone.utc).isoformat(), "status": "running",
            "resumed_from_epoch": self.start_epoch if self.resume is not None else None,
            # DDP options as applied (the config holds them as asked)
            "lr_scaling": {"rule": cfg.lr_scaling, "reference_batch": self.reference_batch,
                           "global_batch": self.global_batch, "factor": self.lr_factor},
            "effective_lr": cfg.lr * self.lr_factor,
            "sync_bn": self.sync_bn_modules > 0, "sync_bn_modules": self.sync_bn_modules,
            "deterministic": cfg.deterministic,
            "num_workers": cfg.num_workers, "persistent_workers": cfg.num_workers > 0,
        }
        if self.resume is not None and (run_dir / "record.json").exists():
            old = json.loads((run_dir / "record.json").read_text())
            record["started"] = old.get("started", record["started"])
            record["resumes"] = old.get("resumes", []) + [record.pop("resumed_from_epoch")]
        self.record = record
        write_record(run_dir, record)

    # -- failure --------------------------------------------------------------------------------
    def _last_good(self) -> str:
        if not self.history:
            return "none: no epoch finished"
        return f"{self.run_dir / CHECKPOINT_NAME}, epoch {self.history[-1]['epoch']}"

    def _stop(self, msg: str, **extra: Any) -> None:
        if self.main:
            self.record.update(status="diverged", error=msg, **extra)
            write_record(self.run_dir, self.record)
        raise TrainingDiverged(msg)

    def diverged_loss(self, total: torch.Tensor, parts: Mapping[str, Any]) -> None:
        """Stop the run on a non-finite loss; the message names epoch, step and the bad parts."""
        bad = [k for k, v in parts.items() if not math.isfinite(_to_float(v))]
        msg = (f"non-finite loss {_to_float(total)} at epoch {self.ctx.epoch + 1}, step {self.ctx.step + 1} "
               f"(global step {self.global_step}); non-finite parts: {bad or 'none (total only)'}; "
               f"parts: { {k: _to_float(v) for k, v in parts.items()} }. Training stopped; the last "
               f"good checkpoint ({self._last_good()}) is kept. "
               "Lower lr, enable grad_clip or check the data.")
        self._stop(msg, ended=datetime.now(timezone.utc).isoformat())

    # -- the loop -------------------------------------------------------------------------------
    def step(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Move one loader batch to the device and run the method's ``training_step`` on it."""
        images = {m: t.to(self.device, non_blocking=True) for m, t in batch["images"].items()}
        if self.cfg.channels_last:
            images = {m: t.contiguous(memory_format=torch.channels_last) for m, t in images.items()}
        on_dev: dict[str, Any] = {"images": images, "labels": batch["label"].to(self.device, non_blocking=True),
                                  "present": None}
        if self.pass_present and not self.data.aligned and batch.get("present") is not None:
            on_dev["present"] = {m: v.to(self.device) for m, v in batch["present"].items()}
        # the per-sample fields the method declared (ReIDMethod.sample_fields), whatever their names
        on_dev["fields"] = fields_to(batch.get("fields") or {}, self.device)
        return self.model.training_step(on_dev, self.ctx)

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch: seeded loader, steps, scheduler, weight check; returns the history entry."""
        cfg, dist_info = self.cfg, self.dist
        if self.loader is None:  # once per run: persistent workers live across epochs
            self.loader = build_train_loader(self.train_ds, self.sampler, num_workers=cfg.num_workers, seed=cfg.seed,
                                             rank=dist_info.rank, pin_memory=self.device.type == "cuda",
                                             collate_fn=getattr(self.train_ds, "collate", None))
        self.sampler.set_epoch(epoch)
        self.loader.batch_sampler.set_epoch(epoch)  # the reshuffle (and, with workers, the batch seeds)
        seed_everything(derive_seed(cfg.seed, epoch, dist_info.rank))
        loader = self.loader
        self.net.train()
        lr = self.optimizer.param_groups[0]["lr"]
        sums: dict[str, float] = {}
        n_img, n_steps, t0 = 0, 0, time.perf_counter()
        self.ctx.epoch = epoch
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (self.progress and self.main),
                   leave=False)
        for step, batch in enumerate(bar):
            self.ctx.step = step
            total, parts = self.step(batch)
            n_img += int(batch["label"].shape[0])
            n_steps += 1
            self.global_step += 1
            sums["loss"] = sums.get("loss", 0.0) + _to_float(total)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + _to_float(v)
            dt = time.perf_counter() - t0
            bar.set_postfix(loss=f"{sums['loss'] / n_steps:.3f}", lr=f"{lr:.2e}", img_s=f"{n_img / dt:.1f}")
        elapsed = time.perf_counter() - t0
        with all_ranks(dist_info, f"end of epoch {epoch + 1}"):
            self.scheduler.step()
            bad_w = [n for n, p in self.model.named_parameters() if not torch.isfinite(p).all()]
            if bad_w:
                self._stop(f"non-finite weights after epoch {epoch + 1} ({bad_w[:5]}); the last good checkpoint "
                           f"in {self.run_dir} is kept. Lower lr or enable grad_clip.")
        entry: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "steps": n_steps,
                                 "images_per_s": n_img * dist_info.world_size / max(elapsed, 1e-9),
                                 "time_s": elapsed}
        # logged losses: this rank's mean over its steps, then the mean over ranks
        entry.update(mean_over_ranks(dist_info, {k: v / max(n_steps, 1) for k, v in sums.items()}))
        if cfg.eval_every and (epoch + 1) % cfg.eval_every == 0 and epoch + 1 < cfg.epochs:
            broadcast_buffers(dist_info, self.model)  # every rank embeds with rank 0's model
            with all_ranks(dist_info, f"evaluation after epoch {epoch + 1}"):
                feats = extract_features_for(self.model, self.data, cfg, self.test_tf, self.device, self.progress,
                                             dist=dist_info)
                if self.main:
                    entry["eval"] = evaluate_features(feats, self.data.name,
                                                      cfg.eval_protocols).to_dict(orient="records")
        return entry

    def save_checkpoint(self, epoch: int) -> None:
        """checkpoint_last.pth + history.jsonl (rank 0)."""
        ckpt = {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "sampler": self.sampler.state_dict(), "rng": rng_state(), "history": self.history,
                "config": self.cfg.to_dict(), "num_classes": self.num_classes,
                "modalities": list(self.modalities), "lr_factor": self.lr_factor,
                "world_size": self.dist.world_size}
        save_atomic(ckpt, self.run_dir / CHECKPOINT_NAME)
        write_history(self.run_dir, self.history)

    def finish(self):
        """Final features and evaluation, record status; returns the Run (None on other ranks)."""
        cfg, run_dir = self.cfg, self.run_dir
        broadcast_buffers(self.dist, self.model)  # the saved model is rank 0's: every rank embeds with it
        with all_ranks(self.dist, "final evaluation"):
            # every rank embeds its slice; rank 0 scores and writes
            feats = extract_features_for(self.model, self.data, cfg, self.test_tf, self.device, self.progress,
                                         dist=self.dist)
            if self.main:
                feats.save(run_dir / "features.npz")
                if cfg.final_eval:
                    table = evaluate_features(feats, self.data.name, cfg.eval_protocols)
                    table.to_csv(run_dir / "results.csv", index=False)
                    (run_dir / "results.json").write_text(json.dumps(jsonable(table.to_dict(orient="records")),
                                                                     indent=2))
                    if self.history:
                        self.history[-1]["eval"] = table.to_dict(orient="records")
                        write_history(run_dir, self.history)
                self.record.update(status="finished", ended=datetime.now(timezone.utc).isoformat())
                write_record(run_dir, self.record)
        return load_run(run_dir) if self.main else None

    def fit(self):
        """setup -> epochs (checkpoint after each) -> finish."""
        self.setup()
        for epoch in range(self.start_epoch, self.cfg.epochs):
            self.history.append(self.run_epoch(epoch))
            with all_ranks(self.dist, f"checkpoint of epoch {epoch + 1}"):  # also the epoch's barrier
                if self.main:
                    self.save_checkpoint(epoch)
        self.loader = None  # ends the persistent workers before the final extraction
        return self.finish()


def train(cfg: TrainConfig | Mapping[str, Any] | str | Path, overrides: Iterable[str] = (), *,
          resume: str | Path | None = None, progress: bool = True):
    """Train ``cfg.method`` on ``cfg.dataset``, evaluate, and return the run (:class:`reidlab.engine.runs.Run`).

    Parameters
    ----------
    cfg : TrainConfig, dict or path
        A :class:`TrainConfig`, a dict of its fields, or a YAML path.
    overrides : iterable of str
        Dotted ``key=value`` strings applied on top (``lr=1e-3``).
    resume : path, optional
        A run folder or checkpoint to continue exactly; its config.yaml is used
        (``overrides`` may change only the keys of :data:`RESUME_MUTABLE` and ``eval_*``).
    progress : bool
        Show tqdm bars.

    Returns
    -------
    Run or None
        The Run (on DDP ranks other than 0: None).

    Raises
    ------
    TrainingDiverged
        A NaN/Inf loss; the message names the epoch, step and loss part.
    ValueError
        Unaligned data for a method with ``accepts_missing = False`` (several modalities).
    """
    if resume is not None:
        ckpt_path = Path(resume)
        run_dir = ckpt_path if ckpt_path.is_dir() else ckpt_path.parent
        stored = load_config(run_dir / "config.yaml").to_dict()
        base = load_config(run_dir / "config.yaml", overrides)
        check_resume_overrides(stored, base.to_dict(), str(run_dir))
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
        with deterministic_mode(cfg.deterministic):
            return Trainer(cfg, device, dist_info, resume, progress).fit()
    except Exception as e:
        if dist_info.enabled:  # torchrun interleaves the ranks' output: say whose failure this is
            print(f"[reidlab] rank {dist_info.rank} of {dist_info.world_size} stops: {type(e).__name__}: {e}",
                  file=sys.stderr, flush=True)
        raise
    finally:
        shutdown(dist_info)


def extract_features_for(model: torch.nn.Module, data, cfg: TrainConfig, transform, device: torch.device,
                         progress: bool = True, dist: DistInfo | None = None):
    """Features of the splits the configured evaluation needs (``cfg.num_workers`` loader workers).

    Under DDP every rank must call it: each embeds a slice, every rank gets the whole FeatureSet.
    """
    from reidlab.engine.extract import extract_features

    return extract_features(model, data, eval_splits(data, cfg.eval_protocols), transform,
                            batch_size=cfg.eval_batch_size, device=device, progress=progress,
                            num_workers=cfg.num_workers, dist=dist,
                            meta={"method": cfg.method, "backbone": str(cfg.backbone)})


# config keys a resume may change: they do not alter what the finished epochs computed.
# ``deterministic`` only selects kernels for the epochs still to run (like ``device``); switching it
# on when resuming a run that turns out irreproducible on the GPU is the expected use.
RESUME_MUTABLE = ("epochs", "num_workers", "device", "final_eval", "out_dir", "run_name", "deterministic")


def check_resume_overrides(old: Mapping[str, Any], new: Mapping[str, Any], run: str) -> None:
    """Refuse a resume whose config differs from the stored one outside :data:`RESUME_MUTABLE` / ``eval_*``.

    Raises
    ------
    ValueError
        Naming the key and its old and new values.
    """
    for key in sorted(set(old) | set(new)):
        if key in RESUME_MUTABLE or key.startswith("eval_"):
            continue
        if old.get(key) != new.get(key):
            raise ValueError(f"resume of {run}: config key {key!r} would change from {old.get(key)!r} to "
                             f"{new.get(key)!r}; only {list(RESUME_MUTABLE)} and eval_* may change on resume "
                             f"(start a new run for a different {key})")
