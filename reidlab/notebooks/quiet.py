"""Keep kernel noise out of the terminal while the notebook suite runs.

A kernel started by papermill inherits the runner's stdout/stderr, so every notebook prints
ipykernel's start-up warnings ("Kernel is running over TCP without encryption…", debugger
notices) through the progress bar; nothing in them is actionable for the user. Here:

* :func:`quiet_kernel_manager` returns a kernel-manager class whose kernels write their
  stdout/stderr to a log file (appended);
* :func:`papermill_log_to` sends papermill's and nbclient's log records to the same file
  while the suite runs (and not to the terminal).

The notebook's own outputs (prints, tracebacks) are unaffected: they travel as Jupyter
messages into the executed copy.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator

from jupyter_client.manager import AsyncKernelManager

KERNEL_LOG = "kernels.log"


def quiet_kernel_manager(log_file: str | Path) -> type[AsyncKernelManager]:
    """An ``AsyncKernelManager`` subclass whose kernels' stdout and stderr go to ``log_file``."""
    log_file = Path(log_file)

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            fh = open(log_file, "ab", buffering=0)  # the child keeps its own copy of the descriptor
            try:
                kw["stdout"], kw["stderr"] = fh, fh
                await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                fh.close()

    return QuietKernelManager


@contextlib.contextmanager
def papermill_log_to(log_file: str | Path) -> Iterator[None]:
    """Within the block, papermill/nbclient/traitlets log records go to ``log_file`` only."""
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = []
    for name in ("papermill", "nbclient", "traitlets", "jupyter_client"):
        lg = logging.getLogger(name)
        saved.append((lg, lg.propagate, lg.level))
        lg.addHandler(handler)
        lg.propagate = False
        lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, prop, level in saved:
            lg.removeHandler(handler)
            lg.propagate, lg.level = prop, level
        handler.close()
