"""Published methods, backbones and shared losses. See ``docs/ARCHITECTURE.md`` (reidlab.methods).

``create_method(name, num_classes, modalities, **overrides)`` builds a registered method;
``default_config(name)`` gives its paper hyper-parameters; ``list_methods()`` the names.
"""
from reidlab.methods.backbones import PretrainedWeightsError, create_backbone, list_backbones
from reidlab.methods.base import ReIDMethod
from reidlab.methods.registry import create_method, default_config, list_methods, register_method

__all__ = ["PretrainedWeightsError", "ReIDMethod", "create_backbone", "create_method", "default_config",
           "list_backbones", "list_methods", "register_method"]
