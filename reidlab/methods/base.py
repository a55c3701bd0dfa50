"""The contract every method implements; the engine, feature extraction and the CAM tools use only this.

A method is one file under ``reidlab/methods/`` holding its model, its losses and a default
config, registered with :func:`reidlab.methods.registry.register_method`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn


class ReIDMethod(nn.Module):
    """Base class.

    * ``modalities`` — the modalities the model consumes, canonical order (e.g. ``("rgb", "nir")``).
    * ``forward(images)`` — ``images`` maps modality -> float tensor (B, 3, H, W); returns a dict
      of training outputs (logits, features, CAMs...) that ``loss`` understands.
    * ``loss(outputs, labels)`` — labels (B,) int64 in ``0..num_classes-1``; returns the total loss
      (scalar tensor) and a dict of named float parts for logging.
    * ``embed(images)`` — eval mode embeddings; returns a dict whose keys follow
      :mod:`reidlab.eval.features`: one entry per modality it can embed alone (``"rgb"``,
      ``"nir"``...) and, when the method has its own fusion, ``fused_key(modalities)``.
      Each value is (B, D) float.
    """

    name: str = "base"
    modalities: tuple[str, ...] = ()

    def forward(self, images: Mapping[str, torch.Tensor]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, outputs: Mapping[str, Any], labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def param_groups(self) -> list[dict]:
        """Optimiser parameter groups; override to give heads another lr."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]
