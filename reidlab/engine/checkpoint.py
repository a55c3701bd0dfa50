"""Checkpoints written atomically (temp file + rename): a crash never leaves a half-written file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_NAME = "checkpoint_last.pth"


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temp file in the same folder, then ``os.replace`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def find_checkpoint(run_dir_or_ckpt: str | Path) -> Path:
    """A checkpoint path from either the checkpoint itself or the run folder holding it."""
    p = Path(run_dir_or_ckpt)
    if p.is_dir():
        p = p / CHECKPOINT_NAME
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {p}; pass a run folder holding {CHECKPOINT_NAME} "
                                "or the .pth file itself")
    return p


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the engine (trusted: it holds RNG states, so weights_only=False)."""
    path = find_checkpoint(path)
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
        raise ValueError(f"{path} is not a reidlab engine checkpoint (no 'model'/'epoch' entries)")
    return ckpt


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str = "checkpoint") -> None:
    """Strict state-dict loading that names missing / unexpected keys instead of a bare error."""
    own = set(model.state_dict())
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise ValueError(f"{source}: weights do not match the model; missing keys {missing[:10]} "
                         f"({len(missing)}), unexpected keys {unexpected[:10]} ({len(unexpected)}). "
                         "Was it trained with another method/backbone config?")
    model.load_state_dict(state, strict=True)
