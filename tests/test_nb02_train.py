"""Notebook 02 runs headlessly (papermill) at the smoke preset and shows the protocol table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NB = Path(__file__).resolve().parents[1] / "notebooks" / "02_train.ipynb"


def test_nb02_structure():
    nb = json.loads(NB.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert sum("parameters" in c["metadata"].get("tags", []) for c in code) == 1
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None  # committed without outputs
        assert len("".join(c["source"]).splitlines()) <= 25


@pytest.mark.slow
def test_nb02_runs(tmp_path, synth_root):
    import papermill as pm

    root = synth_root("rgbn300")
    out = tmp_path / "02_out.ipynb"
    pm.execute_notebook(str(NB), str(out), kernel_name="python3", cwd=str(tmp_path), progress_bar=False,
                        parameters=dict(method="one_stream", modalities=["rgb"], root=str(root), epochs=2,
                                        P=4, K=2, out_dir=str(tmp_path / "nb02"), runs_dir=str(tmp_path / "runs"),
                                        extra={"warmup_epochs": 1, "milestones": [1],
                                               "eval_protocols": ["rgbn300/rgb"]}))
    nb = json.loads(out.read_text())
    text = "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                   for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "rgbn300/rgb" in text
    assert "mAP" in text and "protocol" in text
    images = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the training curves figure was not rendered"
