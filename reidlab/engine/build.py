"""Building a run's pieces from a :class:`TrainConfig`: device, model, optimiser.

Imported by both the trainer and the run-folder reader (``Run.load_model``), so neither imports
the other.
"""
from __future__ import annotations

import torch

from reidlab.engine.config import MODEL_FIELDS, TrainConfig, import_method_class
from reidlab.engine.pretrain import resolve_pretrained
from reidlab.methods.registry import create_method, default_config, method_class as registry_method_class


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={spec!r} but CUDA is not available; use device=cpu or device=auto")
    return dev


def method_class(cfg: TrainConfig) -> type:
    """The class ``cfg.method`` names (registry name or ``module:Class``), without building it: its
    class attributes (``sample_fields``, ``accepts_missing``) shape the data set-up."""
    if ":" in cfg.method:
        return import_method_class(cfg.method)
    return registry_method_class(cfg.method)


def build_model(cfg: TrainConfig, num_classes: int, modalities: tuple[str, ...]) -> torch.nn.Module:
    """The method of ``cfg`` (registry name or ``module:Class``) with its overrides applied.

    ``pretrained: synth[:<preset>]`` is resolved here to the cached weights file of
    :func:`reidlab.engine.pretrain.resolve_pretrained` (trained on first use).
    """
    kwargs = dict(cfg.method_overrides)
    if ":" in cfg.method:
        for f in MODEL_FIELDS:
            if getattr(cfg, f) is not None:
                kwargs.setdefault(f, getattr(cfg, f))
        _resolve_synth(kwargs, kwargs.get("backbone"))
        cls = import_method_class(cfg.method)
        return cls(num_classes=num_classes, modalities=modalities, **kwargs)
    # The method's config also lists the training set-up (lr, P, K, height...): hand it the
    # resolved values so that ``model.config`` describes the run actually made.
    resolved = cfg.to_dict()
    defaults = default_config(cfg.method)
    for key in defaults:
        if key in resolved and key not in ("method_overrides",) and resolved[key] is not None:
            kwargs.setdefault(key, resolved[key])
    _resolve_synth(kwargs, kwargs.get("backbone", defaults.get("backbone")))
    _resolve_pairs(cfg.method, kwargs, cfg.synth_cache)
    return create_method(cfg.method, num_classes, modalities, **kwargs)


def _resolve_synth(kwargs: dict, backbone: str | None) -> None:
    if isinstance(kwargs.get("pretrained"), str) and kwargs["pretrained"].split(":")[0] == "synth":
        if backbone is None:
            raise ValueError(f"pretrained={kwargs['pretrained']!r} needs a backbone name; set `backbone:` in the config")
        kwargs["pretrained"] = resolve_pretrained(backbone, kwargs["pretrained"])


def _resolve_pairs(method: str, kwargs: dict, cache_dir: str) -> None:
    """``pretrained: pairs:<preset>``: the cached checkpoint of the contrastive optical-SAR
    pre-training (:func:`reidlab.engine.contrastive.ensure_pair_checkpoint`, run on first use) for a
    ViT shaped as the method's merged config, cached under ``cache_dir/pretrain_pairs``."""
    spec = kwargs.get("pretrained")
    if not (isinstance(spec, str) and spec.split(":")[0] == "pairs"):
        return
    if method != "transoss":
        raise ValueError(f"pretrained={spec!r} (contrastive optical-SAR pair pre-training) is for the transoss ViT, "
                         f"not method {method!r}")
    from reidlab.engine.contrastive import ensure_pair_checkpoint
    from reidlab.methods.registry import merge_config

    kwargs["pretrained"] = str(ensure_pair_checkpoint(spec, merge_config(method, kwargs), cache_dir))


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or SGD over the method's ``param_groups()`` (groups may carry their own lr)."""
    groups = model.param_groups()
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum)
