"""The one training recipe every method starts from (HAMNet's paper, which Kamenou and MSN follow).

The engine's fallbacks (:data:`reidlab.engine.config.ENGINE_DEFAULTS`) *are* this dict, and a
method's default config spreads it (``{**TRAINING_RECIPE, ...}``) and overrides only what its
paper changes, so the engine and the methods cannot disagree on ``pretrained``, ``P`` or the
warm-up. The warm-up is stated as ``warmup_factor`` (the lr starts at ``lr * warmup_factor``),
the name of the :class:`reidlab.engine.config.TrainConfig` field (one name everywhere: a paper's
start lr is written as its ratio to ``lr``).
"""
from __future__ import annotations

from typing import Any

TRAINING_RECIPE: dict[str, Any] = {
    # HAMNet paper, "Implementation Details": Adam, batch 16, warm-up 10 epochs 3.5e-5 -> 3.5e-4,
    # x0.1 at epochs 40 and 70, 120 epochs, ImageNet-pretrained backbones, 128x256 (W x H) input.
    "backbone": "resnet50",
    "pretrained": True,
    "last_stride": 1,          # public code (strong-baseline style); the paper does not say
    "optimizer": "adam",
    "lr": 3.5e-4,
    "weight_decay": 5e-4,      # inferred: public code's default, the paper gives none
    "momentum": 0.9,           # used only when optimizer == "sgd"
    "epochs": 120,
    "warmup_epochs": 10,
    "warmup_factor": 0.1,      # 3.5e-5 / 3.5e-4
    "milestones": [40, 70],
    "gamma": 0.1,
    "P": 4,                    # inferred: batch 16 as 4 identities x 4 images (the code's sampler)
    "K": 4,
    "height": 256,
    "width": 128,
}
