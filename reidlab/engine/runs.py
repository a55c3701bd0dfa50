"""Reading a run folder back: config, history, results, features and the trained model."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch

from reidlab.engine.build import build_model
from reidlab.engine.checkpoint import CHECKPOINT_NAME, load_checkpoint, load_model_state
from reidlab.engine.config import TrainConfig, load_config


def jsonable(x: Any) -> Any:
    """``x`` with numpy scalars made Python numbers and non-finite floats made None (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    return x


def write_history(run_dir: Path, history: list[dict]) -> None:
    """history.jsonl (one line per epoch), written atomically."""
    tmp = run_dir / "history.jsonl.tmp"
    tmp.write_text("".join(json.dumps(jsonable(h)) + "\n" for h in history))
    tmp.replace(run_dir / "history.jsonl")


def write_record(run_dir: Path, record: dict) -> None:
    """record.json (provenance and status of the run)."""
    (run_dir / "record.json").write_text(json.dumps(jsonable(record), indent=2))


@dataclass
class Run:
    """A training run folder (see :mod:`reidlab.engine.trainer` for its files).

    ``history``: one row per epoch (columns epoch, lr, images_per_s, time_s, loss and the
    method's loss parts; ``eval`` holds the evaluation records where one was run).
    ``results``: the final evaluation, one row per protocol (mAP, R1, ... as the
    evaluation engine reports them). ``paths``: name -> file.
    """

    run_dir: Path
    config: TrainConfig
    record: dict[str, Any]
    history: pd.DataFrame
    results: pd.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)

    def load_model(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The method rebuilt from the config and the checkpoint's weights (eval mode).

        The network is built with ``pretrained=False`` (the checkpoint replaces every weight), so
        no ImageNet download or synthetic pre-training is ever triggered here."""
        from dataclasses import replace

        ckpt = load_checkpoint(self.paths["checkpoint"], map_location="cpu")
        model = build_model(replace(self.config, pretrained=False), int(ckpt["num_classes"]),
                            tuple(ckpt["modalities"]))
        load_model_state(model, ckpt["model"], source=str(self.paths["checkpoint"]))
        return model.to(device).eval()

    def load_features(self):
        """The final :class:`FeatureSet` (features.npz)."""
        from reidlab.eval.features import FeatureSet

        return FeatureSet.load(self.paths["features"])


def load_run(run_dir: str | Path) -> Run:
    """Open a run folder written by :func:`reidlab.engine.trainer`."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a reidlab run folder (no config.yaml); "
                                "pass the folder that `reidlab train` created")
    paths = {name: run_dir / fname for name, fname in (
        ("config", "config.yaml"), ("record", "record.json"), ("history", "history.jsonl"),
        ("results_csv", "results.csv"), ("results_json", "results.json"),
        ("features", "features.npz"), ("checkpoint", CHECKPOINT_NAME))}
    record = json.loads(paths["record"].read_text()) if paths["record"].exists() else {}
    rows = [json.loads(line) for line in paths["history"].read_text().splitlines() if line.strip()] \
        if paths["history"].exists() else []
    history = pd.DataFrame(rows)
    results = pd.read_csv(paths["results_csv"]) if paths["results_csv"].exists() else pd.DataFrame()
    return Run(run_dir=run_dir, config=load_config(cfg_path), record=record, history=history,
               results=results, paths=paths)


# --------------------------------------------------------------------------------------------
# the run cache: one folder per resolved config

_NOT_HASHED = ("out_dir", "run_name", "device", "num_workers", "eval_batch_size", "eval_every")


def config_hash(cfg: Mapping[str, Any]) -> str:
    """12 hex digits of SHA-256 over the (resolved) config, without the fields in ``_NOT_HASHED``.

    The config is first made canonical, so that spellings of the same run hash alike:
    ``modalities: null`` becomes the dataset layout's modalities, and ``method_overrides``
    entries equal to the method's default are dropped.
    """
    d = _canonical({k: v for k, v in cfg.items() if k not in _NOT_HASHED})
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _canonical(d: dict[str, Any]) -> dict[str, Any]:
    from reidlab.data.errors import DataError
    from reidlab.data.registry import get_layout
    from reidlab.methods.registry import default_config

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
    from reidlab.engine.config import config_from_dict, resolve_config

    return resolve_config(config_from_dict(d)).to_dict()


def get_or_train(cfg: Mapping[str, Any], runs_dir: str | Path, *, reuse: bool = True, progress: bool = True,
                 train_fn: Callable[[Any], Any] | None = None, load_fn: Callable[[Path], Any] | None = None,
                 resolve_fn: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None) -> tuple[Any, bool, str]:
    """Train ``cfg`` (TrainConfig fields) into ``runs_dir/<method>-<hash>`` or reuse that folder.

    Returns ``(run, reused, config_hash)``. The hash is over the resolved config (see
    :func:`config_hash`); a reused folder whose config.yaml hashes differently raises
    ValueError (stale or edited folder). ``train_fn(cfg_dict)`` / ``load_fn(run_dir)`` /
    ``resolve_fn(cfg_dict)`` default to the engine's ``train`` / ``load_run`` / ``resolve_config``.
    """
    if train_fn is None:
        from reidlab.engine.trainer import train as _train  # lazy: the trainer imports this module

        train_fn = lambda d: _train(d, progress=progress)  # noqa: E731
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
        got = config_hash(got_cfg.to_dict() if hasattr(got_cfg, "to_dict") else dict(got_cfg or {}))
        if got != h:
            raise ValueError(f"{run_dir}: its config.yaml hashes to {got}, not {h}: a stale or edited run "
                             "folder; delete it or pass reuse=False")
        return run, True, h
    return train_fn({**d, "run_name": name}), False, h
