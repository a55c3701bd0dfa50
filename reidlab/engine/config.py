"""Training configuration: a dataclass, YAML load/dump and dotted ``key=value`` overrides.

Fields left ``None`` are *resolved* by :func:`resolve_config`: first from the method's
``default_config(name)`` (the paper's setup), then from the engine defaults below. The
resolved config (no ``None`` left where a value is needed) is what a run folder records.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import yaml

from reidlab.methods.recipe import TRAINING_RECIPE

# Engine fallbacks for fields that neither the YAML nor the method's default config set: the one
# training recipe (HAMNet / Kamenou set-up), defined once in reidlab.methods.recipe.
ENGINE_DEFAULTS: dict[str, Any] = dict(TRAINING_RECIPE)

# Fields that are handed to ``create_method`` (model construction) rather than the optimiser.
MODEL_FIELDS = ("backbone", "pretrained", "last_stride")


@dataclass
class TrainConfig:
    """Everything a training run depends on. Units: epochs, pixels, learning rate per step.

    ``method`` is a registered method name (``reidlab.methods.list_methods()``) or, for a
    method outside the registry, ``"package.module:ClassName"`` (constructed as
    ``Class(num_classes=, modalities=, **method_overrides)``).
    """

    method: str = "one_stream"
    method_overrides: dict[str, Any] = field(default_factory=dict)
    dataset: str = "rgbn300"
    modalities: list[str] | None = None          # None -> every modality of the dataset
    root: str | None = None                      # None -> synthetic data (ensure_synthetic)
    preset: str = "smoke"                        # synthetic preset when root is None
    data_seed: int = 0                           # synthetic generator seed
    synth_cache: str = "data/synth"
    synth_overrides: dict[str, Any] = field(default_factory=dict)  # generator knobs (num_train_ids...)
    seed: int = 0
    backbone: str | None = None
    pretrained: bool | str | None = None
    last_stride: int | None = None
    height: int | None = None
    width: int | None = None
    transform: dict[str, Any] = field(default_factory=dict)   # extra build_transforms kwargs
    P: int | None = None
    K: int | None = None
    epochs: int | None = None
    optimizer: str | None = None                 # adam | sgd
    lr: float | None = None
    weight_decay: float | None = None
    momentum: float | None = None                # sgd only
    warmup_epochs: int | None = None
    warmup_factor: float | None = None           # lr starts at lr * warmup_factor
    milestones: list[int] | None = None
    gamma: float | None = None
    amp: str = "none"                            # none | bf16 | fp16 (CUDA only)
    channels_last: bool = False
    grad_clip: float | None = None               # max grad norm; None or 0 = off
    num_workers: int = 0
    device: str = "auto"                         # auto | cpu | cuda | cuda:N
    out_dir: str = "runs"
    run_name: str | None = None                  # None -> "<method>-<dataset>-s<seed>-<time>"
    eval_protocols: list[str] | None = None      # None -> every protocol of the dataset
    eval_every: int = 0                          # evaluate every N epochs (0 = only at the end)
    eval_batch_size: int = 64
    ddp_find_unused_parameters: bool = False
    final_eval: bool = True                      # False: write features.npz but no results (benchmarks)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def config_from_dict(d: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig`; unknown keys are an error naming ``source``."""
    unknown = sorted(set(d) - _FIELDS)
    if unknown:
        raise ValueError(f"{source}: unknown config keys {unknown}; valid keys: {sorted(_FIELDS)}")
    for k, v in d.items():
        _check_type(k, v, source)
    return TrainConfig(**dict(d))


_TYPES = {"int": (numbers.Integral,), "float": (numbers.Real,), "str": (str,), "bool": (bool, np.bool_),
          "None": (type(None),), "Any": (object,)}


def _check_type(key: str, value: Any, source: str) -> None:
    """A value of the wrong kind (``lr=abc``) is an error naming the key, not a crash mid-training."""
    ann = str(TrainConfig.__dataclass_fields__[key].type)
    allowed: tuple[type, ...] = ()
    for part in (p.strip() for p in ann.split("|")):
        base = part.split("[", 1)[0]
        allowed += _TYPES.get(base, {"list": (list, tuple), "dict": (dict,)}.get(base, (object,)))
    # a bool is an Integral, but `epochs=true` is a mistake; numpy scalars pass as their kind
    ok = isinstance(value, allowed) and not (isinstance(value, (bool, np.bool_)) and bool not in allowed)
    if not ok:
        raise ValueError(f"{source}: {key}={value!r} is not valid: {key} must be {ann.replace('|', 'or')} "
                         f"(e.g. {key}={_EXAMPLES.get(ann, 'null')})")


_EXAMPLES = {"int | None": "4", "int": "4", "float | None": "3.5e-4", "float": "3.5e-4", "str": "name",
             "str | None": "name", "bool": "true", "list[int] | None": "[40,70]", "list[str] | None": "[rgb,nir]",
             "dict[str, Any]": "{}", "bool | str | None": "false"}


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-3", "method_overrides.alpha=0.01", "milestones=[40,70]"]`` -> nested dict.

    Values are parsed as YAML scalars/lists (``1e-3`` -> float, ``null`` -> None, ``[1,2]`` -> list).
    """
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value (e.g. lr=3.5e-4 or method_overrides.alpha=0.01)")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else None
        # YAML 1.1 reads "1e-3" as a string; accept it as a float.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], upd: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in upd.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    d: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a config must be a YAML mapping of keys to values")
        d = loaded
    d = _merge(d, parse_overrides(overrides))
    return config_from_dict(d, source=str(path) if path else "overrides")


def dump_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write ``cfg`` as YAML (keys in field order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


def method_defaults(method: str) -> dict[str, Any]:
    """The method's own default config (paper setup); ``{}`` for ``module:Class`` methods without one."""
    if ":" in method:
        cls = import_method_class(method)
        dc = getattr(cls, "default_config", None)
        return dict(dc() if callable(dc) else (dc or {}))
    from reidlab.methods import default_config

    return dict(default_config(method))


def import_method_class(spec: str) -> type:
    """Import ``"package.module:ClassName"``."""
    import importlib

    mod_name, _, cls_name = spec.partition(":")
    try:
        return getattr(importlib.import_module(mod_name), cls_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"method {spec!r}: cannot import {cls_name} from {mod_name} ({e}); "
                         "use a registered name (reidlab.methods.list_methods()) or 'module:Class'") from e


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """Fill every ``None`` training field from the method's default config, then the engine defaults.

    The method's defaults may be flat or hold the training keys under ``"train"``. ``transform``
    (``build_transforms`` kwargs) is merged: the method's settings, then the config's on top.
    """
    md = method_defaults(cfg.method)
    sources = [md.get("train", {}) if isinstance(md.get("train"), Mapping) else {}, md, ENGINE_DEFAULTS]
    d = cfg.to_dict()
    for key in ENGINE_DEFAULTS:
        if d.get(key) is None:
            for src in sources:
                if src.get(key) is not None:
                    d[key] = src[key]
                    break
    # Augmentation: the method's transform settings (e.g. no random erasing), overridden key by key.
    for src in sources[:2]:
        if isinstance(src.get("transform"), Mapping):
            d["transform"] = {**dict(src["transform"]), **dict(d.get("transform") or {})}
            break
    out = TrainConfig(**d)
    _validate(out)
    return out


def _validate(cfg: TrainConfig) -> None:
    if cfg.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {cfg.optimizer!r}")
    if cfg.amp not in ("none", "bf16", "fp16"):
        raise ValueError(f"amp must be none, bf16 or fp16, got {cfg.amp!r}")
    if cfg.epochs is None or cfg.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {cfg.epochs}")
    if cfg.milestones is not None and list(cfg.milestones) != sorted(cfg.milestones):
        raise ValueError(f"milestones must be increasing, got {cfg.milestones}")
