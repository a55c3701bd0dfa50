"""``msn`` — the multi-stream network, HAMNet's baseline (AAAI 2020, Tables 2-3 "MSN" rows).

m unshared streams, one backbone per modality (:class:`~reidlab.methods.one_stream.IDEStream`),
trained with the sum of the streams' ID losses L_msid = sum_j CE(S^j, y) (eq. 4).

Embedding: each modality's GAP feature f^j (B, d) under its own key and, under
``fused_key(modalities)``, their sum sum_j f^j (the paper sums the stream features at test).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from reidlab.eval.features import fused_key
from reidlab.methods.base import ReIDMethod
from reidlab.methods.losses import batch_hard_triplet, cross_entropy_ls
from reidlab.methods.one_stream import HAMNET_TRAINING, IDEStream, get_modality
from reidlab.methods.registry import register_method

__all__ = ["MSN", "MSN_CONFIG"]

MSN_CONFIG: dict[str, Any] = {
    **HAMNET_TRAINING,
    "label_smoothing": 0.0,
    "triplet_weight": 0.0,     # > 0 adds batch-hard triplet on each stream's feature (public-code style)
    "triplet_margin": 0.3,
    "triplet_soft": False,
}


@register_method("msn", MSN_CONFIG, smoke={"modalities": ["rgb", "nir"]})
class MSN(ReIDMethod):
    """m >= 2 unshared streams; ``forward`` returns per-modality dicts ``fmap``, ``feat``, ``logits``."""

    def __init__(self, num_classes: int, modalities: tuple[str, ...], config: dict[str, Any]) -> None:
        super().__init__()
        if len(modalities) < 2:
            raise ValueError(f"{type(self).__name__} needs >= 2 modalities, got {modalities}; "
                             "use one_stream for a single modality")
        self.modalities = tuple(modalities)
        self.num_classes = num_classes
        self.config = config
        self.streams = nn.ModuleDict({m: IDEStream(num_classes, config["backbone"], config["pretrained"],
                                                   config["last_stride"]) for m in self.modalities})

    def forward(self, images: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        per = {m: self.streams[m](get_modality(images, m, self.name)) for m in self.modalities}
        return {k: {m: per[m][k] for m in self.modalities} for k in ("fmap", "feat", "logits")}

    def _stream_losses(self, outputs: Mapping[str, Any], labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L_msid (+ weighted per-stream triplet); parts ``id_<mod>``, ``msid``, ``triplet``."""
        cfg = self.config
        parts: dict[str, float] = {}
        l_msid = 0.0
        for m in self.modalities:
            l_id = cross_entropy_ls(outputs["logits"][m], labels, cfg["label_smoothing"])
            parts[f"id_{m}"] = float(l_id.detach())
            l_msid = l_msid + l_id
        parts["msid"] = float(l_msid.detach())
        total = l_msid
        if cfg["triplet_weight"] > 0:
            l_tri = sum(batch_hard_triplet(outputs["feat"][m], labels, cfg["triplet_margin"], cfg["triplet_soft"])
                        for m in self.modalities)
            parts["triplet"] = float(l_tri.detach())
            total = total + cfg["triplet_weight"] * l_tri
        return total, parts

    def loss(self, outputs: Mapping[str, Any], labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return self._stream_losses(outputs, labels)

    def class_logits(self, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{modality: S^j (B, C)}``: each stream's class scores."""
        return dict(outputs["logits"])

    def embedding_keys(self) -> tuple[str, ...]:
        return (*self.modalities, fused_key(self.modalities))

    @torch.no_grad()
    def embed(self, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{mod: f^mod (B, d)}`` plus ``{fused_key(mods): sum_j f^j}``."""
        feats = self.forward(images)["feat"]
        out = dict(feats)
        out[fused_key(self.modalities)] = torch.stack([feats[m] for m in self.modalities]).sum(0)
        return out
