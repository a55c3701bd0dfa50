"""The ``deterministic`` option: deterministic cuDNN / PyTorch kernels for the duration of a run.

What it sets (and restores afterwards, so a notebook's later runs are unaffected):

* ``torch.backends.cudnn.deterministic = True`` and ``torch.backends.cudnn.benchmark = False``
  (benchmark mode picks convolution algorithms by timing, which may differ between runs);
* ``torch.use_deterministic_algorithms(True, warn_only=True)``: ops that have a deterministic
  variant use it; ops that have none (on CUDA e.g. the backward of adaptive average pooling, used
  by every ResNet head) *warn* instead of raising, so a run is never stopped by the option - its
  bit-exactness on the GPU is then only as good as those ops allow (the warning names them);
* ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when unset (deterministic cuBLAS; read when cuBLAS is first
  used in the process, so set it before any CUDA work for it to take effect).

On the CPU the engine is already deterministic (the exact-resume test runs there); the option costs
speed on the GPU (no cuDNN autotuning, slower deterministic kernels).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """Within the block, deterministic kernels when ``enabled`` (else nothing changes)."""
    if not enabled:
        yield
        return
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    set_cublas = "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    if set_cublas:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[0], saved[1]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])
        if set_cublas:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
