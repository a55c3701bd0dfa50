"""The contract every method implements; the engine, feature extraction and the CAM tools use only this.

A method is one file under ``reidlab/methods/`` holding its model, its losses and a default
config, registered with :func:`reidlab.methods.registry.register_method`.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
from torch import nn


class ReIDMethod(nn.Module):
    """Base class.

    * ``modalities`` — the modalities the model consumes, canonical order (e.g. ``("rgb", "nir")``).
    * ``forward(images, present=None)`` — ``images`` maps modality -> float tensor (B_m, 3, H, W);
      returns a dict of training outputs that ``loss`` understands. Aligned data: every B_m = B and
      ``present`` is None. Unaligned data (HOSS, UCM-VeID; only methods with
      ``accepts_missing = True`` are given such batches): ``images[m]`` holds *only* the samples that
      have modality m and ``present[m]`` is a bool mask (B,) of their batch positions
      (``images[m].shape[0] == present[m].sum()``); no placeholder image ever reaches a model.
    * ``loss(outputs, labels)`` — labels (B,) int64 in ``0..num_classes-1``; returns the total loss
      (scalar tensor) and a dict of named float parts for logging.
    * ``embed(images)`` — eval mode embeddings; returns a dict whose keys follow
      :mod:`reidlab.eval.features`: one entry per modality it can embed alone (``"rgb"``,
      ``"nir"``...) and, when the method has its own fusion, ``fused_key(modalities)``.
      Each value is (B, D) float. ``embedding_keys()`` lists those keys.
    * ``class_logits(outputs)`` — per-modality class logits (B_m, C) from ``forward``'s outputs, for
      CAM tools; ``{}`` when the method has none.
    * ``feature_norm`` — how evaluation features are normalised as the method's public code does
      (``"l2"`` or ``"none"``); the feature extractor applies it and records it in every result.
    * ``has_cam_fusion`` / ``cam_fusion(images)`` — True for methods that fuse per-modality class
      activation maps (HAMNet); ``cam_fusion`` then returns ``cams`` {mod: (B, C, h, w)}, ``alpha``
      (B, C, m), ``fused`` (B, C, h, w), ``scores`` {mod: (B, C)}, ``fused_scores`` (B, C), ``feats``.
      The default raises NotImplementedError.
    * ``sample_fields`` — names of per-sample inputs beyond images and labels the method needs
      (``Record.attrs`` values such as ``"orientation"``, or ``"size"``, the original image sizes;
      :mod:`reidlab.data.sample_fields`). The engine loads exactly these and passes them as
      ``batch["fields"]`` to ``training_step``; the default ``training_step`` and the feature
      extractor pass them on as ``forward(images, present, fields=...)`` / ``embed(images,
      fields=...)``, so a method declaring fields accepts a ``fields`` keyword in both (per sample:
      (B,) tensors; per modality: ``{mod: (B_m, ...)}`` rows as in ``images[mod]``). The default
      ``()`` keeps both calls as above.
    * ``param_groups()`` — optimiser parameter groups.
    * ``training_step(batch, ctx)`` — one optimisation step on a batch; the default is forward ->
      loss -> one backward -> one optimiser step through ``ctx`` (see
      :class:`reidlab.engine.trainer.StepContext`); a method with several updates per batch (PORSCHE's
      progressive two-step schedule) overrides it.
    """

    name: str = "base"
    modalities: tuple[str, ...] = ()
    #: True when forward/loss take unaligned batches (``present`` masks, see above).
    accepts_missing: ClassVar[bool] = False
    #: evaluation feature normalisation: "l2" (metric-learning embeddings) or "none".
    feature_norm: ClassVar[str] = "none"
    #: True when the method implements ``cam_fusion`` (class-aware fusion of per-modality CAMs).
    has_cam_fusion: ClassVar[bool] = False
    #: per-sample fields the engine loads and passes in ``batch["fields"]`` (see above).
    sample_fields: ClassVar[tuple[str, ...]] = ()
    #: what the weight initialisation did (e.g. a checkpoint import's key report); the engine writes it
    #: into the run record as ``init``. None: nothing to report.
    init_report: dict[str, Any] | None = None

    def forward(self, images: Mapping[str, torch.Tensor],
                present: Mapping[str, torch.Tensor] | None = None) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, outputs: Mapping[str, Any], labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def embedding_keys(self) -> tuple[str, ...]:
        """Keys ``embed`` returns when given every modality: the modalities, then any fused key."""
        return tuple(self.modalities)

    def class_logits(self, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Per-modality class logits (B_m, C) from ``forward``'s outputs; ``{}`` when there are none."""
        return {}

    @torch.no_grad()
    def cam_fusion(self, images: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """Per-modality CAMs and their class-aware fusion (see the class docstring); only methods with
        ``has_cam_fusion = True`` implement it."""
        raise NotImplementedError(f"method {self.name!r} ({type(self).__name__}) does not fuse class activation "
                                  "maps (has_cam_fusion is False); use grad_cam_maps for its per-modality maps")

    def training_step(self, batch: Mapping[str, Any], ctx: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """One update on ``batch``: forward -> loss -> ``ctx.backward_step`` (finite check, step).

        Parameters
        ----------
        batch : dict
            ``images`` {modality: (B_m, 3, H, W)} on the device, ``labels`` (B,) int64,
            ``present`` ({modality: bool (B,)} for unaligned batches, else None) and ``fields``
            ({name: value} of ``sample_fields``, on the device; ``{}`` when none are declared).
        ctx : reidlab.engine.trainer.StepContext
            ``optimizer``, ``scaler``, ``device``, ``grad_clip``, ``autocast()``,
            ``forward(images, present, fields)`` (through DDP) and ``backward_step(loss, parts)``.

        Returns
        -------
        total : torch.Tensor
            The scalar loss (for logging).
        parts : dict
            Named loss parts (floats) for logging.
        """
        with ctx.autocast():
            outputs = ctx.forward(batch["images"], batch.get("present"), batch.get("fields") or None)
        # the forward runs in low precision; the loss (softmax, norms, margins) in fp32, outside autocast
        total, parts = self.loss(outputs_to_fp32(outputs), batch["labels"])
        ctx.backward_step(total, parts)
        return total, parts

    def param_groups(self) -> list[dict]:
        """Optimiser parameter groups; override to give heads another lr."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]


def outputs_to_fp32(obj: Any) -> Any:
    """``obj`` with every floating tensor (at any depth of dicts / lists / tuples) cast to float32.

    Used so that losses are computed in fp32 on the outputs of an autocast (bf16 / fp16) forward.
    """
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, Mapping):
        return type(obj)((k, outputs_to_fp32(v)) for k, v in obj.items()) if isinstance(obj, dict) else \
            {k: outputs_to_fp32(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(outputs_to_fp32(v) for v in obj)
    return obj
