"""Training engine: config, the training loop (single process or DDP), feature extraction, run folders."""
from reidlab.engine.config import TrainConfig, dump_config, load_config, parse_overrides, resolve_config
from reidlab.engine.extract import extract_features
from reidlab.engine.runs import Run, load_run
from reidlab.engine.trainer import TrainingDiverged, train

__all__ = ["TrainConfig", "load_config", "dump_config", "parse_overrides", "resolve_config", "train",
           "TrainingDiverged", "extract_features", "Run", "load_run"]
