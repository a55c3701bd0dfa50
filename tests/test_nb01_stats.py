"""Notebook 01 runs headlessly on the smoke preset for every layout and shows the real counts."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

NB = Path(__file__).resolve().parents[1] / "notebooks" / "01_dataset_statistics.ipynb"
LAYOUTS = ["rgbn300", "rgbnt100", "msvr310", "wmveid863", "ucmveid", "hoss"]


def test_notebook_is_clean():
    import nbformat

    nb = nbformat.read(NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    assert all(len(c.source.splitlines()) <= 25 for c in code)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nb01_runs(layout, tmp_path):
    import nbformat
    import papermill as pm

    from reidlab.data import stats
    from reidlab.data import load_dataset
    from reidlab.data.synth import ensure_synthetic

    cache, out = tmp_path / "cache", tmp_path / "out"
    pm.execute_notebook(str(NB), str(tmp_path / "nb01.ipynb"), kernel_name="python3", progress_bar=False,
                        parameters={"dataset": layout, "preset": "smoke", "seed": 0, "cache_dir": str(cache),
                                    "out_dir": str(out), "size_sample": 50})
    nb = nbformat.read(tmp_path / "nb01.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs if o.output_type in ("display_data", "execute_result"))
    assert "records" in html and "card_comparison" not in html  # tables rendered as HTML
    assert sum("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data") >= 6
    # the counts the notebook wrote are those of the dataset it resolved (same cache, same seed)
    data = load_dataset(layout, ensure_synthetic(layout, preset="smoke", seed=0, cache_dir=cache))
    written = pd.read_csv(out / "split_counts.csv")
    assert written.equals(stats.split_counts(data))
    assert (out / "sample_grid.png").stat().st_size > 1000
    cmp = pd.read_csv(out / "card_comparison.csv")
    assert set(cmp["status"]) <= {"match", "differs", "unknown", "missing"} and len(cmp) > 0
