"""Shared fixtures. Everything runs on the CPU, offline, on the synthetic smoke preset."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

# Two xdist workers on a 2-core machine: one intra-op thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Callable[..., Path]:
    """``synth_root(layout, preset="smoke", seed=0, **overrides) -> Path``: generated once per session."""
    from reidlab.data.synth import generate

    cache: dict[tuple, Path] = {}

    def make(layout: str, preset: str = "smoke", seed: int = 0, **overrides) -> Path:
        key = (layout, preset, seed, tuple(sorted(overrides.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(f"synth_{layout}_{preset}_{seed}")
            cache[key] = generate(layout, out, preset=preset, seed=seed, **overrides)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def make_batch() -> Callable[..., tuple[dict, "torch.Tensor"]]:
    """``make_batch(mods, b=8, seed=0) -> (images, labels)``: seeded random images {mod: (b, 3, 64, 32)}
    and labels (b,) with two samples per identity (0, 0, 1, 1, ...), for method unit tests."""
    import torch

    def make(mods, b: int = 8, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        return {m: torch.randn(b, 3, 64, 32, generator=g) for m in mods}, torch.arange(b) // 2

    return make
