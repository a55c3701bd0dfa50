"""Building a run's pieces from a :class:`TrainConfig`: device, model, optimiser.

Imported by both the trainer and the run-folder reader (``Run.load_model``), so neither imports
the other.
"""
from __future__ import annotations

import torch

from reidlab.engine.config import MODEL_FIELDS, TrainConfig, import_method_class


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={spec!r} but CUDA is not available; use device=cpu or device=auto")
    return dev


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
