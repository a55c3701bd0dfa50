"""The run cache: one run folder per resolved config, trained once and reused after.

:func:`get_or_train` sits above both the trainer and the run-folder reader
(:mod:`reidlab.engine.runs`); tables (:mod:`reidlab.analysis.tables`) and notebooks 03-05 call it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from reidlab.data.errors import DataError
from reidlab.data.registry import get_layout
from reidlab.engine.config import TrainConfig, config_from_dict, resolve_config
from reidlab.engine.runs import load_run
from reidlab.engine.trainer import train
from reidlab.methods.registry import default_config

__all__ = ["config_hash", "get_or_train"]

_NOT_HASHED = ("out_dir", "run_name", "device", "num_workers", "eval_batch_size", "eval_every")
# Options added after runs were cached: hashed only when set to something other than their default,
# so the folders of configs that never set them keep their hash.
_HASHED_UNLESS_DEFAULT = {"lr_scaling": "none", "lr_reference_batch": None, "sync_bn": False,
                          "deterministic": False}


def config_hash(cfg: Mapping[str, Any]) -> str:
    """12 hex digits of SHA-256 over the (resolved) config, without the fields in ``_NOT_HASHED``, and over
    what the run depends on outside its config (:func:`_provenance`: method defaults, synthetic data
    parameters, synthetic pre-training file).

    The config is first made canonical, so that spellings of the same run hash alike:
    ``modalities: null`` becomes the dataset layout's modalities, and ``method_overrides``
    entries equal to the method's default are dropped.
    """
    d = _canonical({k: v for k, v in cfg.items() if k not in _NOT_HASHED
                    and not (k in _HASHED_UNLESS_DEFAULT and v == _HASHED_UNLESS_DEFAULT[k])})
    d["provenance"] = _provenance(cfg)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _provenance(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What a run depends on beyond its own fields, so that a change there is a new run, never a stale reuse:
    the method's default config (a changed default changes the method), the synthetic data's resolved
    parameters (generator version and preset defaults; ``root`` unset) and the synthetic pre-training
    file (``pretrained: synth...``: its settings hash is in the file name)."""
    out: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    if cfg.get("method"):
        try:
            defaults = default_config(cfg["method"])
        except (ValueError, NotImplementedError):  # a method outside the registry (tests' fakes)
            pass
        if defaults:
            out["method_defaults"] = defaults
    if cfg.get("root") is None and cfg.get("dataset"):
        from reidlab.data.synth.presets import LAYOUTS, params_hash, resolve_params

        if cfg["dataset"] in LAYOUTS:
            out["synthetic_data"] = params_hash(resolve_params(
                cfg["dataset"], cfg.get("preset", TrainConfig.preset), int(cfg.get("data_seed", TrainConfig.data_seed)),
                dict(cfg.get("synth_overrides") or {})))
    pre = cfg.get("pretrained")
    backbone = cfg.get("backbone") or defaults.get("backbone")
    if isinstance(pre, str) and pre.split(":")[0] == "synth" and backbone:
        from reidlab.engine.pretrain import parse_synth_spec, pretrained_path

        out["pretrained_file"] = pretrained_path(backbone, parse_synth_spec(pre)).name
    return out


def _canonical(d: dict[str, Any]) -> dict[str, Any]:
    d = dict(d)
    if d.get("modalities") is None and d.get("dataset"):
        try:
            mods = tuple(get_layout(d["dataset"]).modalities)
        except DataError:  # not a registered layout: keep as given
            mods = ()
        if mods:
            d["modalities"] = list(mods)
    if d.get("method_overrides") and d.get("method"):
        try:
            defaults = default_config(d["method"])
        except (ValueError, NotImplementedError):  # a method outside the registry: keep as given
            defaults = {}
        d["method_overrides"] = {k: v for k, v in d["method_overrides"].items()
                                 if k not in defaults or defaults[k] != v}
    return d


def _resolve(d: Mapping[str, Any]) -> dict[str, Any]:
    return resolve_config(config_from_dict(d)).to_dict()


def get_or_train(cfg: Mapping[str, Any], runs_dir: str | Path, *, reuse: bool = True, progress: bool = True,
                 train_fn: Callable[[Any], Any] | None = None, load_fn: Callable[[Path], Any] | None = None,
                 resolve_fn: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None) -> tuple[Any, bool, str]:
    """Train ``cfg`` into ``runs_dir/<method>-<hash>``, or reuse that folder when it is finished.

    Parameters
    ----------
    cfg : mapping
        TrainConfig fields (``method``, ``dataset``, ``preset``, ...); ``out_dir`` is set to
        ``runs_dir`` and ``run_name`` to ``<method>-<hash>``.
    runs_dir : str or Path
        Folder holding the run folders.
    reuse : bool
        Reuse a folder with ``results.csv`` (False: train again into it).
    progress : bool
        Show the trainer's progress bars.
    train_fn : callable, optional
        ``train_fn(cfg_dict) -> Run``; default :func:`reidlab.engine.trainer.train`.
    load_fn : callable, optional
        ``load_fn(run_dir) -> Run``; default :func:`reidlab.engine.runs.load_run`.
    resolve_fn : callable, optional
        ``resolve_fn(cfg_dict) -> dict``, the resolved config that is hashed; default
        :func:`reidlab.engine.config.resolve_config`.

    Returns
    -------
    run : Run
        The trained or reused run.
    reused : bool
        Whether the folder was reused.
    config_hash : str
        12 hex digits over the resolved config (see :func:`config_hash`).

    Raises
    ------
    ValueError
        When a reused folder's config.yaml hashes differently (a stale or edited folder).
    """
    if train_fn is None:
        train_fn = lambda d: train(d, progress=progress)  # noqa: E731
    load_fn = load_fn or load_run
    resolve_fn = resolve_fn or _resolve
    runs_dir = Path(runs_dir)
    d = {**dict(cfg), "out_dir": str(runs_dir)}
    h = config_hash(resolve_fn(d))
    name = f"{d['method'].replace(':', '.')}-{h}"
    run_dir = runs_dir / name
    if reuse and (run_dir / "results.csv").exists():
        run = load_fn(run_dir)
        got_cfg = getattr(run, "config", None)
        got = config_hash(got_cfg.to_dict() if isinstance(got_cfg, TrainConfig) else dict(got_cfg or {}))
        if got != h:
            raise ValueError(f"{run_dir}: its config.yaml hashes to {got}, not {h}: a stale or edited run "
                             "folder; delete it or pass reuse=False")
        return run, True, h
    return train_fn({**d, "run_name": name}), False, h
