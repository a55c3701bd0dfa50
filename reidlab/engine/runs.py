"""Reading a run folder back: config, history, results, features and the trained model."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from reidlab.engine.build import build_model
from reidlab.engine.checkpoint import CHECKPOINT_NAME, load_checkpoint, load_model_state
from reidlab.engine.config import TrainConfig, load_config
from reidlab.serialize import to_jsonable

jsonable = to_jsonable  # the name the trainer imports from here; new code uses reidlab.serialize


def write_history(run_dir: Path, history: list[dict]) -> None:
    """history.jsonl (one line per epoch), written atomically."""
    tmp = run_dir / "history.jsonl.tmp"
    tmp.write_text("".join(json.dumps(to_jsonable(h)) + "\n" for h in history))
    tmp.replace(run_dir / "history.jsonl")


def write_record(run_dir: Path, record: dict) -> None:
    """record.json (provenance and status of the run)."""
    (run_dir / "record.json").write_text(json.dumps(to_jsonable(record), indent=2))


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
