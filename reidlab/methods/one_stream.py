"""``one_stream`` — the IDE baseline on a single modality (HAMNet Tables 2-3, "one-stream" rows).

Backbone -> global average pooling (GAP) -> feature f (B, d) -> [BNNeck] -> bias-free linear
classifier. Loss: cross-entropy (optional label smoothing) + optional batch-hard triplet on f.

Embedding: ``{modality: f}`` where f is the GAP feature (d = backbone channels, e.g. 2048 for
ResNet-50), or the BNNeck output when ``bnneck`` is on (the strong-baseline convention).

Also holds :class:`IDEStream` (one stream: backbone + GAP + classifier), reused by ``msn`` and
``hamnet``, and :data:`HAMNET_TRAINING`, the training set-up of HAMNet's paper that the
multi-spectral methods share.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from reidlab.methods.backbones import create_backbone
from reidlab.methods.base import ReIDMethod
from reidlab.methods.losses import batch_hard_triplet, cross_entropy_ls
from reidlab.methods.recipe import TRAINING_RECIPE
from reidlab.methods.registry import register_method

__all__ = ["HAMNET_TRAINING", "IDEStream", "OneStream", "get_modality"]

HAMNET_TRAINING: dict[str, Any] = {
    # HAMNet paper, "Implementation Details" (the shared recipe: Adam 3.5e-4, warm-up 10 epochs from
    # x0.1, x0.1 at epochs 40 and 70, 120 epochs, P x K = 4 x 4, 256x128, ImageNet weights).
    **TRAINING_RECIPE,
    # Augmentation (build_transforms kwargs): HAMNet and Kamenou state random crop + horizontal
    # flip only; random erasing belongs to the strong-baseline recipe, so it is off unless a config
    # sets it (``transform: {erase_p: 0.5}``).
    "transform": {"erase_p": 0.0},
}


def get_modality(images: Mapping[str, torch.Tensor], mod: str, method: str) -> torch.Tensor:
    """``images[mod]`` with a clear error when the batch lacks that modality."""
    try:
        return images[mod]
    except KeyError:
        raise KeyError(f"method {method!r} needs modality {mod!r} but the batch has {sorted(images)}; "
                       "build the model with the dataset's modalities") from None


class IDEStream(nn.Module):
    """One stream: ``backbone -> GAP -> f (B, d) -> [BNNeck] -> classifier (B, C)``.

    ``forward(x (B,3,H,W))`` returns ``dict(fmap (B,d,h,w), feat f (B,d), neck (B,d) (= f
    without BNNeck), logits (B,C))``. The classifier is a bias-free linear layer, so it is
    also HAMNet's 1x1 CAM convolution: logits = GAP(W * F) = W GAP(F).
    """

    def __init__(self, num_classes: int, backbone: str, pretrained: bool | str, last_stride: int,
                 bnneck: bool = False) -> None:
        super().__init__()
        self.backbone = create_backbone(backbone, pretrained=pretrained, last_stride=last_stride)
        d = self.backbone.out_channels
        self.out_dim = d
        self.bnneck: nn.BatchNorm1d | None = None
        if bnneck:
            self.bnneck = nn.BatchNorm1d(d)
            self.bnneck.bias.requires_grad_(False)  # BNNeck (Luo et al. 2019): no shift before the classifier
        self.classifier = nn.Linear(d, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fmap = self.backbone(x)
        feat = fmap.mean(dim=(2, 3))
        neck = self.bnneck(feat) if self.bnneck is not None else feat
        return {"fmap": fmap, "feat": feat, "neck": neck, "logits": self.classifier(neck)}


ONE_STREAM_CONFIG: dict[str, Any] = {
    **HAMNET_TRAINING,
    "label_smoothing": 0.0,    # IDE: plain cross-entropy; 0.1 is the strong-baseline choice
    "bnneck": False,
    "triplet_weight": 0.0,     # > 0 adds batch-hard triplet on f
    "triplet_margin": 0.3,
    "triplet_soft": False,
}


@register_method("one_stream", ONE_STREAM_CONFIG, smoke={"modalities": ["rgb"], "overrides": {"epochs": 8}})
class OneStream(ReIDMethod):
    """IDE on one modality. ``modalities`` must hold exactly one name."""

    def __init__(self, num_classes: int, modalities: tuple[str, ...], config: dict[str, Any]) -> None:
        super().__init__()
        if len(modalities) != 1:
            raise ValueError(f"one_stream takes exactly one modality, got {modalities}; use msn/hamnet for several")
        self.modalities = tuple(modalities)
        self.num_classes = num_classes
        self.config = config
        self.stream = IDEStream(num_classes, config["backbone"], config["pretrained"], config["last_stride"],
                                bnneck=config["bnneck"])

    def forward(self, images: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        return self.stream(get_modality(images, self.modalities[0], self.name))

    def loss(self, outputs: Mapping[str, Any], labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        l_id = cross_entropy_ls(outputs["logits"], labels, cfg["label_smoothing"])
        total, parts = l_id, {"id": float(l_id.detach())}
        if cfg["triplet_weight"] > 0:
            l_tri = batch_hard_triplet(outputs["feat"], labels, cfg["triplet_margin"], cfg["triplet_soft"])
            total = total + cfg["triplet_weight"] * l_tri
            parts["triplet"] = float(l_tri.detach())
        return total, parts

    def class_logits(self, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{modality: logits (B, C)}`` of the single stream."""
        return {self.modalities[0]: outputs["logits"]}

    @torch.no_grad()
    def embed(self, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{modality: (B, d)}``: the BNNeck output if ``bnneck`` else the GAP feature."""
        return {self.modalities[0]: self.forward(images)["neck"]}
