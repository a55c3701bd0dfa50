"""A tiny ReIDMethod for engine tests (importable as ``_engine_dummy:TinyMethod``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reidlab.eval.features import fused_key
from reidlab.methods.base import ReIDMethod


class TinyMethod(ReIDMethod):
    """One small conv stream per modality, shared classifier; dropout exercises the RNG state.

    ``nan_at_call``: the ``nan_part`` loss part becomes NaN at that loss call (0-based), to
    test divergence handling.
    """

    name = "tiny"

    def __init__(self, num_classes: int, modalities, dim: int = 16, nan_at_call: int | None = None,
                 nan_part: str = "ce_nir", **_: object) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.streams = nn.ModuleDict({m: nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, dim, 3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()) for m in self.modalities})
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(dim, num_classes)
        self.nan_at_call, self.nan_part, self.calls = nan_at_call, nan_part, 0

    def forward(self, images):
        feats = {m: self.streams[m](images[m]) for m in self.modalities}
        return {"logits": {m: self.head(self.drop(f)) for m, f in feats.items()}}

    def loss(self, outputs, labels):
        parts = {f"ce_{m}": F.cross_entropy(lg, labels) for m, lg in outputs["logits"].items()}
        if self.nan_at_call is not None and self.calls == self.nan_at_call and self.nan_part in parts:
            parts[self.nan_part] = parts[self.nan_part] * float("nan")
        self.calls += 1
        total = sum(parts.values())
        return total, {k: float(v.detach()) for k, v in parts.items()}

    @torch.no_grad()
    def embed(self, images):
        out = {m: self.streams[m](images[m]) for m in self.modalities if m in images}
        if len(self.modalities) > 1 and len(out) == len(self.modalities):
            out[fused_key(self.modalities)] = sum(out[m] for m in self.modalities)
        return out


class TwoStepMethod(TinyMethod):
    """A method whose ``training_step`` makes two optimiser updates per batch (as PORSCHE does).

    The second update uses only the first modality's loss; ``updates`` counts the optimiser steps.
    """

    name = "tiny_two_step"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def training_step(self, batch, ctx):
        with ctx.autocast():
            total, parts = self.loss(ctx.forward(batch["images"]), batch["labels"])
        ctx.backward_step(total, parts)
        self.updates += 1
        with ctx.autocast():
            out = ctx.forward(batch["images"])
            first = self.modalities[0]
            second = F.cross_entropy(out["logits"][first], batch["labels"])
        ctx.backward_step(second, {"second": float(second.detach())})
        self.updates += 1
        return total, parts


class MissingAwareMethod(TinyMethod):
    """``accepts_missing = True``: takes unaligned batches and fails on any placeholder image.

    ``forward`` asserts that ``images[m]`` holds exactly ``present[m].sum()`` samples and that no
    sample is a constant (e.g. all-zero) tensor; the mean of the per-modality logits is classified.
    """

    name = "tiny_missing"
    accepts_missing = True

    def forward(self, images, present=None):
        assert present is not None, "an unaligned batch must come with present masks"
        b = int(next(iter(present.values())).shape[0])
        logits = torch.zeros(b, self.head.out_features, device=next(self.parameters()).device)
        count = torch.zeros(b, 1, device=logits.device)
        for m, x in images.items():
            assert x.shape[0] == int(present[m].sum()), (m, x.shape, present[m])
            flat = x.flatten(1)
            assert bool((flat.amax(1) > flat.amin(1)).all()), f"a constant (placeholder) {m} image reached the model"
            logits[present[m]] += self.head(self.drop(self.streams[m](x)))
            count[present[m]] += 1
        assert bool((count > 0).all()), "a sample with no image reached the model"
        return {"logits": {"mean": logits / count}}

    def loss(self, outputs, labels):
        ce = F.cross_entropy(outputs["logits"]["mean"], labels)
        return ce, {"ce": float(ce.detach())}


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class LossLogMethod(TinyMethod):
    """Appends each loss call's total to ``<log_dir>/rank<r>.txt`` (one float a line), for checking
    that the logged epoch loss is the mean over ranks, and each ``embed`` call's number of samples to
    ``<log_dir>/embed_rank<r>.txt`` (which ranks extracted features)."""

    name = "tiny_loss_log"

    def __init__(self, *args, log_dir: str = ".", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log_dir = log_dir

    def loss(self, outputs, labels):
        total, parts = super().loss(outputs, labels)
        from pathlib import Path

        with open(Path(self.log_dir) / f"rank{_rank()}.txt", "a") as f:
            f.write(f"{float(total.detach())!r}\n")
        return total, parts

    @torch.no_grad()
    def embed(self, images):
        from pathlib import Path

        with open(Path(self.log_dir) / f"embed_rank{_rank()}.txt", "a") as f:
            f.write(f"{len(next(iter(images.values())))}\n")
        return super().embed(images)


class FailOnRank(TinyMethod):
    """Raises ``RuntimeError("injected failure on rank R")`` on rank ``fail_rank`` only: when built
    (``fail_at="init"``, inside the trainer's set-up) or at its ``fail_call``-th loss (``"step"``)."""

    name = "tiny_fail"

    def __init__(self, *args, fail_rank: int = 1, fail_at: str = "init", fail_call: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_rank, self.fail_at, self.fail_call = fail_rank, fail_at, fail_call
        if fail_at == "init" and _rank() == fail_rank:
            raise RuntimeError(f"injected failure on rank {fail_rank}")

    def loss(self, outputs, labels):
        if self.fail_at == "step" and _rank() == self.fail_rank and self.calls == self.fail_call:
            raise RuntimeError(f"injected failure on rank {self.fail_rank}")
        return super().loss(outputs, labels)


class FieldMethod(TinyMethod):
    """Declares per-sample fields (``yaw``, a ``Record.attrs`` value of synthetic RGBN300, and ``size``,
    the decoded image sizes) and records what the engine hands it, in :attr:`calls` (class-level: the
    engine builds the instance): ``("forward" | "embed", fields on the CPU)``."""

    name = "tiny_fields"
    sample_fields = ("yaw", "size")
    calls: list = []

    def _record(self, kind, images, fields):
        cpu = {n: ({m: t.cpu() for m, t in v.items()} if isinstance(v, dict) else v.cpu())
               for n, v in (fields or {}).items()}
        FieldMethod.calls.append((kind, {m: x.shape[0] for m, x in images.items()}, cpu))

    def forward(self, images, present=None, fields=None):
        self._record("forward", images, fields)
        return super().forward(images)

    @torch.no_grad()
    def embed(self, images, fields=None):
        self._record("embed", images, fields)
        return super().embed(images)


def tiny_config(root, out, **kw):
    """A TrainConfig of :class:`TinyMethod` on synthetic rgbn300 at ``root`` (2 epochs, 32x64, P x K = 4 x 2,
    no final evaluation), writing under ``out``; ``kw`` overrides any field."""
    from reidlab.engine import TrainConfig

    base = dict(method="_engine_dummy:TinyMethod", dataset="rgbn300", root=str(root), backbone="none", height=32,
                width=64, P=4, K=2, epochs=2, lr=3e-3, warmup_epochs=0, milestones=[], seed=3, out_dir=str(out),
                eval_protocols=["rgbn300/rgb-nir"], final_eval=False)
    base.update(kw)
    return TrainConfig(**base)
