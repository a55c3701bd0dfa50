"""The runner keeps kernel noise out of the terminal: one bar, one status line per notebook,
and the kernels' own stdout/stderr in ``OUT/kernels.log``."""
from __future__ import annotations

from pathlib import Path

import nbformat

from reidlab.notebooks.runner import run_notebooks


def _nb(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("seed = 0")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def test_kernel_output_goes_to_the_log_not_the_terminal(tmp_path: Path, capfd) -> None:
    d = tmp_path / "nbs"
    d.mkdir()
    # A kernel writing to its process's stderr directly (as ipykernel's start-up warnings do),
    # bypassing the Jupyter messages that land in the executed notebook.
    _nb(d / "01_noisy.ipynb", "import os\nos.write(2, b'KERNEL-NOISE-MARKER\\n')\nprint('cell output')")
    _nb(d / "02_fails.ipynb", "raise ValueError('deliberate')")
    out = tmp_path / "out"
    summary = run_notebooks(out, preset="smoke", notebooks_dir=d, cwd=tmp_path)
    captured = capfd.readouterr()
    terminal = captured.out + captured.err
    assert "KERNEL-NOISE-MARKER" not in terminal
    assert "without encryption" not in terminal
    log = (out / "kernels.log").read_text()
    assert "KERNEL-NOISE-MARKER" in log
    # each notebook's status is on the terminal; the failure also in the log
    assert "01_noisy: ok" in terminal and "02_fails: failed" in terminal
    assert "deliberate" in log
    assert [n.status for n in summary.notebooks] == ["ok", "failed"]
    # the cell's own output still reaches the executed copy
    executed = nbformat.read(out / "01_noisy.ipynb", as_version=4)
    assert any("cell output" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
