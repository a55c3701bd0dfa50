"""The real notebook suite: hygiene of the committed notebooks, and the whole ordered suite run
headlessly twice at the smoke preset (every notebook ok; the same summary tables both times)."""
from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from reidlab.notebooks.runner import discover, run_notebooks

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ORDER = ["01_dataset_statistics", "02_train", "03_modality_gap", "04_cam_fusion", "05_ranked_lists",
         "06_reproduce_tables"]


def test_the_ordered_suite_is_what_the_runner_finds() -> None:
    assert [p.stem for p in discover(NOTEBOOKS)] == ORDER


@pytest.mark.parametrize("stem", ORDER)
def test_committed_notebook_hygiene(stem: str, caplog: pytest.LogCaptureFixture) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{stem}: needs exactly one cell tagged 'parameters'"
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), f"{stem}: committed with outputs"
    long = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and len(c.source.splitlines()) > 25]
    assert not long, f"{stem}: code cells {long} over 25 lines (logic belongs in reidlab)"
    # papermill must read every assignment of the parameters cell (it silently drops lines it cannot
    # parse, e.g. with a second '=' in a comment, and then warns that a passed parameter is unknown)
    assigned = [t.id for node in ast.parse(tagged[0].source).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]
    with caplog.at_level(logging.WARNING, logger="papermill"):
        inspected = list(pm.inspect_notebook(str(NOTEBOOKS / f"{stem}.ipynb")))
    assert inspected == assigned
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()]


def _tables(summary_json: Path) -> dict:
    """The summary without its wall-clock fields and paths."""
    s = json.loads(summary_json.read_text())
    return {nb["notebook"]: {"status": nb["status"], "results": nb["results"], "parameters":
                             {k: v for k, v in nb["parameters"].items() if k not in ("out_dir", "runs_dir")}}
            for nb in s["notebooks"]}


def test_whole_suite_at_smoke_runs_and_is_reproducible(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        summary = run_notebooks(out, preset="smoke", seed=0, notebooks_dir=NOTEBOOKS, cwd=tmp_path)
        failed = {r.notebook: r.error for r in summary.notebooks if r.status != "ok"}
        assert not failed, failed
        assert [r.notebook for r in summary.notebooks] == ORDER
        outs.append(out)
    a, b = (_tables(o / "summary.json") for o in outs)
    assert a == b
    # every notebook reports something, and the figures it promises exist
    assert all(a[stem]["results"] for stem in ORDER), {k: list(v["results"]) for k, v in a.items()}
    for rel in ("03_modality_gap/embeddings.png", "03_modality_gap/distance_histograms.png",
                "04_cam_fusion/cam_panel.png", "04_cam_fusion/dominance_gallery.png", "04_cam_fusion/grad_cams.png",
                "05_ranked_lists/ranked_lists.png", "06_reproduce_tables/hamnet_table2.csv"):
        assert (outs[0] / rel).stat().st_size > 0, rel
    assert "06_reproduce_tables" in (outs[0] / "summary.md").read_text()
    # every figure a notebook saves is laid out for reading: size, not blank, no wide blank bands
    from reidlab.analysis.figcheck import png_problems

    pngs = sorted(outs[0].rglob("*.png"))
    assert pngs
    bad = {str(p.relative_to(outs[0])): png_problems(p) for p in pngs}
    assert not {k: v for k, v in bad.items() if v}, bad
