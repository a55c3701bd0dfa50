"""Small shared helpers: seeding, RNG state capture/restore, environment facts for run records."""
from __future__ import annotations

import hashlib
import importlib.metadata
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch


def derive_seed(*parts: int | str) -> int:
    """A 31-bit seed that depends on every part, e.g. ``derive_seed(seed, epoch, rank)``.

    Hash-based so that neighbouring inputs (epoch 1 vs 2) give unrelated streams.
    """
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)  # also seeds all CUDA devices


def rng_state() -> dict[str, Any]:
    """Snapshot of the python, numpy, torch and CUDA global RNG states (picklable)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def worker_init_fn(worker_id: int) -> None:
    """DataLoader worker seeding: python/numpy follow torch's per-worker seed.

    torch gives each worker ``base_seed + worker_id`` where ``base_seed`` comes from the
    loader's generator, which the engine seeds from (seed, epoch, rank); so augmentations
    drawn with ``random``/``numpy`` in workers are reproducible too.
    """
    s = torch.initial_seed() % (2**32)
    random.seed(s)
    np.random.seed(s)


def git_info(path: str | Path | None = None) -> dict[str, Any]:
    """``{"sha": str, "dirty": bool | None}`` of the git checkout holding ``path``.

    ``sha`` is ``"unknown"`` (and ``dirty`` None) when git or the repository is not there.
    """
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"sha": sha, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": "unknown", "dirty": None}


def package_versions(names: tuple[str, ...] = ("torch", "timm", "numpy", "reidlab")) -> dict[str, str]:
    """Installed versions of ``names`` ("not installed" when absent)."""
    out = {}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out
