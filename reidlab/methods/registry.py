"""Method registry: names -> (class, default config).

A method module registers its class with ``@register_method("name", DEFAULT_CONFIG)``; the
class is built as ``cls(num_classes=C, modalities=(...), config=merged_config)``.

Default configs are plain dicts (YAML-friendly: lists, not tuples). Besides the model's own
keys, every config carries the paper's training set-up, read by the engine; it starts from
:data:`reidlab.methods.recipe.TRAINING_RECIPE` (also the engine's defaults) and overrides only
what the paper changes:

* ``optimizer`` ("adam" | "sgd"), ``lr``, ``weight_decay``, ``momentum`` (SGD only)
* ``epochs``, ``warmup_epochs``, ``warmup_factor`` (linear warm-up from ``lr * warmup_factor`` to
  ``lr``),
  ``milestones`` (epochs where lr is multiplied by ``gamma``), ``gamma``
* ``P``, ``K`` (P identities x K samples (or aligned tuples) per batch), ``height``, ``width`` (pixels)
* ``backbone``, ``pretrained`` (True = ImageNet download, False, "synth" = the offline synthetic
  stand-in of :mod:`reidlab.engine.pretrain`, which the engine's ``build_model`` resolves to its
  weights file, or a local .pth / .safetensors path; every stream of a multi-stream method
  starts from the same checkpoint), ``last_stride``
* ``transform``: ``build_transforms`` settings of the paper's augmentation (e.g. ``{"erase_p": 0.0}``)

Method modules under ``reidlab/methods/`` are imported on first use, so a new method file
registers itself without touching this module.
"""
from __future__ import annotations

import copy
import importlib
import pkgutil
from typing import Any, Callable, Sequence

from reidlab import MODALITIES
from reidlab.methods.base import ReIDMethod

__all__ = ["create_method", "default_config", "list_methods", "method_class", "register_method", "smoke_setup"]

_REGISTRY: dict[str, tuple[type[ReIDMethod], dict[str, Any]]] = {}
_NOT_METHODS = {"base", "registry", "backbones", "losses", "specs"}
_SMOKE: dict[str, dict[str, Any]] = {}
_loaded = False

# Methods of the papers in shared/seeds that reidlab does not implement yet: asking for one
# raises NotImplementedError (never a silent fallback to a baseline).
PLANNED: dict[str, str] = {
}


def register_method(name: str, default_config: dict[str, Any], *, smoke: dict[str, Any] | None = None
                    ) -> Callable[[type[ReIDMethod]], type[ReIDMethod]]:
    """Class decorator registering a :class:`ReIDMethod` subclass under ``name``.

    ``smoke``: how the registry-parametrised tests train this method in seconds on the CPU:
    ``{"dataset": "rgbn300", "modalities": ["rgb", "nir"], "overrides": {TrainConfig fields}}``
    (dataset defaults to rgbn300, modalities to the dataset's, overrides to none). An optional
    ``"protocol"`` names the protocol the learning test scores; by default it is the dataset's
    protocol whose query and gallery modalities are the smoke modalities.
    """

    def deco(cls: type[ReIDMethod]) -> type[ReIDMethod]:
        if not (isinstance(cls, type) and issubclass(cls, ReIDMethod)):
            raise TypeError(f"register_method({name!r}): {cls!r} is not a ReIDMethod subclass")
        if name in _REGISTRY and _REGISTRY[name][0] is not cls:
            raise ValueError(f"method {name!r} is already registered by {_REGISTRY[name][0].__module__}")
        cls.name = name
        _REGISTRY[name] = (cls, copy.deepcopy(dict(default_config)))
        _SMOKE[name] = {"dataset": "rgbn300", "modalities": None, "overrides": {}, **copy.deepcopy(smoke or {})}
        return cls

    return deco


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import reidlab.methods as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name not in _NOT_METHODS and not info.name.startswith("_"):
            importlib.import_module(f"reidlab.methods.{info.name}")
    _loaded = True


def list_methods() -> list[str]:
    """Registered method names, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def _lookup(name: str) -> tuple[type[ReIDMethod], dict[str, Any]]:
    _load_all()
    if name in PLANNED and name not in _REGISTRY:
        raise NotImplementedError(f"method {name!r} ({PLANNED[name]}) is not implemented in reidlab yet; "
                                  f"implemented: {sorted(_REGISTRY)}")
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; registered: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def method_class(name: str) -> type[ReIDMethod]:
    """The class registered as ``name`` (its class attributes, e.g. ``sample_fields``, without building it)."""
    return _lookup(name)[0]


def smoke_setup(name: str) -> dict[str, Any]:
    """The method's smoke set-up for tests: ``{"dataset", "modalities", "overrides"}`` (see :func:`register_method`)."""
    _lookup(name)
    return copy.deepcopy(_SMOKE[name])


def default_config(name: str) -> dict[str, Any]:
    """A fresh copy of method ``name``'s default config (the paper's hyper-parameters)."""
    return copy.deepcopy(_lookup(name)[1])


def merge_config(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Default config of ``name`` updated with ``overrides``; unknown keys raise ValueError naming the valid ones."""
    cfg = default_config(name)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"unknown config keys {unknown} for method {name!r}; valid keys: {sorted(cfg)}")
    cfg.update(copy.deepcopy(overrides))
    return cfg


def canonical_modalities(modalities: Sequence[str] | str) -> tuple[str, ...]:
    """Validate and sort modality names into the canonical order of :data:`reidlab.MODALITIES`."""
    if isinstance(modalities, str):
        modalities = (modalities,)
    mods = list(modalities)
    unknown = sorted(set(mods) - set(MODALITIES))
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; known: {MODALITIES}")
    if len(set(mods)) != len(mods):
        raise ValueError(f"duplicate modalities in {mods}")
    return tuple(m for m in MODALITIES if m in mods)


def create_method(name: str, num_classes: int, modalities: Sequence[str], **overrides: Any) -> ReIDMethod:
    """Build method ``name`` for ``num_classes`` training identities on ``modalities``.

    Parameters
    ----------
    name : str
        A registered method (:func:`list_methods`); a planned one raises NotImplementedError.
    num_classes : int
        Training identities (>= 2): the size of the ID classifier(s).
    modalities : sequence of str
        Input modalities, any order (sorted into :data:`reidlab.MODALITIES` order).
    **overrides
        Replace keys of :func:`default_config` (``backbone``, ``pretrained`` as False, True or a
        weights path, ``last_stride``, the method's own switches...); unknown keys raise
        ValueError naming the valid ones.

    Returns
    -------
    ReIDMethod
        The model; ``.config`` holds the merged config.
    """
    cls, _ = _lookup(name)
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2 (training identities), got {num_classes}")
    cfg = merge_config(name, overrides)
    model = cls(num_classes=int(num_classes), modalities=canonical_modalities(modalities), config=cfg)
    model.config = cfg
    return model
