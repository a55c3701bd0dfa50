"""The papermill suite runner on tiny dummy notebooks (fast: no training, one kernel each)."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from reidlab.notebooks import load_results, record_result, report, to_jsonable
from reidlab.notebooks.cli import register
from reidlab.notebooks.runner import (load_params, parameter_names, resolve_parameters, run_notebooks,
                                      summary_markdown)


def _write_nb(path: Path, params_src: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params_src)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# dummy"), p] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def suite(tmp_path: Path) -> Path:
    d = tmp_path / "nbs"
    d.mkdir()
    # 01 computes a seeded number and a table from its parameters and records them.
    _write_nb(d / "01_first.ipynb", "preset = 'x'\nseed = 1\nout_dir = None\nscale = 1.0",
              "import numpy as np, pandas as pd\nfrom reidlab.notebooks import record_result, report\n"
              "rng = np.random.default_rng(seed)\nv = float(rng.random()) * scale",
              "record_result('value', v)\nrecord_result('preset', preset)\n"
              "report({'table': pd.DataFrame({'a': [1, 2], 'b': [v, 2 * v]})})\n"
              "from pathlib import Path\nPath(out_dir, 'marker.txt').write_text(preset)")
    # 02 records one result, then fails in a later cell.
    _write_nb(d / "02_broken.ipynb", "seed = 0",
              "from reidlab.notebooks import record_result\nrecord_result('before', seed + 1)",
              "x = 1\nraise RuntimeError('deliberate failure in 02')")
    # 03 still runs after the failure.
    _write_nb(d / "03_last.ipynb", "n = 2",
              "from reidlab.notebooks import record_result\nrecord_result('n squared', n * n)")
    (d / "params").mkdir()
    (d / "params" / "smoke.yaml").write_text("01_first: {scale: 10.0, typo_param: 3}\n03_last: {n: 7}\n")
    (d / "README.ipynb").write_text("not part of the ordered suite")  # does not match 0*.ipynb
    return d


def test_parameter_names_reads_the_tagged_cell(suite: Path) -> None:
    assert parameter_names(suite / "01_first.ipynb") == ["preset", "seed", "out_dir", "scale"]
    assert parameter_names(suite / "03_last.ipynb") == ["n"]


def test_parameter_names_missing_cell_is_a_clear_error(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("a = 1")]
    nbformat.write(nb, tmp_path / "x.ipynb")
    with pytest.raises(ValueError, match="x.ipynb.*parameters"):
        parameter_names(tmp_path / "x.ipynb")


def test_resolve_parameters_filters_and_warns(suite: Path) -> None:
    params = load_params(suite / "params" / "smoke.yaml")
    common = {"preset": "smoke", "seed": 3, "out_dir": "/o", "runs_dir": "/r"}
    with pytest.warns(UserWarning, match="typo_param"):
        passed, ignored = resolve_parameters(suite / "01_first.ipynb", common, params)
    assert passed == {"preset": "smoke", "seed": 3, "out_dir": "/o", "scale": 10.0}
    assert ignored == ["runs_dir", "typo_param"]
    passed3, _ = resolve_parameters(suite / "03_last.ipynb", common, params)
    assert passed3 == {"n": 7}


def test_load_params_rejects_bad_shape(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_params(f)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_params(tmp_path / "nope.yaml")


def test_record_result_merges_into_file_and_converts(tmp_path: Path, monkeypatch) -> None:
    import numpy as np
    import pandas as pd

    monkeypatch.setenv("REIDLAB_RESULTS_FILE", str(tmp_path / "r" / "results.json"))
    record_result("a", np.float32(0.1234567891))
    record_result("b", {"x": np.int64(3), "nan": float("nan")})
    report(pd.DataFrame({"m": ["u", "v"], "mAP": [0.5, 0.25]}), name="t")
    got = load_results(tmp_path / "r" / "results.json")
    assert got["a"] == pytest.approx(0.123457, abs=1e-6)
    assert got["b"] == {"x": 3, "nan": None}
    assert got["t"] == {"columns": ["m", "mAP"], "data": [["u", 0.5], ["v", 0.25]]}
    with pytest.raises(TypeError, match="object"):
        to_jsonable(object())
    # Explicit out_dir wins over the environment.
    record_result("c", 1, out_dir=tmp_path / "other")
    assert load_results(tmp_path / "other" / "results.json") == {"c": 1}


def test_suite_runs_reports_failure_and_is_reproducible(suite: Path, tmp_path: Path, capsys) -> None:
    out1 = tmp_path / "out1"
    with pytest.warns(UserWarning, match="typo_param"):
        s1 = run_notebooks(out1, preset="smoke", seed=5, notebooks_dir=suite)
    assert [n.notebook for n in s1.notebooks] == ["01_first", "02_broken", "03_last"]
    assert [n.status for n in s1.notebooks] == ["ok", "failed", "ok"]
    assert not s1.ok
    # Executed copies exist and carry outputs; the notebook's own folder got its files.
    for stem in ("01_first", "02_broken", "03_last"):
        assert (out1 / f"{stem}.ipynb").exists()
    executed = nbformat.read(out1 / "01_first.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert (out1 / "01_first" / "marker.txt").read_text() == "smoke"
    # Parameters: seed/preset/scale came through; the table and scalars were recorded.
    r1 = s1.notebooks[0].results
    assert r1["preset"] == "smoke"
    import numpy as np

    expected = round(float(np.random.default_rng(5).random()) * 10.0, 6)
    assert r1["value"] == pytest.approx(expected)
    assert r1["table"]["columns"] == ["a", "b"]
    assert s1.notebooks[2].results == {"n squared": 49}
    # The failure: failing cell, its source and the traceback; results before the failure kept.
    err = s1.notebooks[1].error
    assert err is not None and err.ename == "RuntimeError"
    assert "deliberate failure in 02" in err.evalue
    assert "raise RuntimeError" in err.source
    assert "RuntimeError" in err.traceback and "\x1b[" not in err.traceback
    assert s1.notebooks[1].results == {"before": 6}
    assert "deliberate failure in 02" in capsys.readouterr().err
    # Summary files.
    js = json.loads((out1 / "summary.json").read_text())
    assert js["ok"] is False and js["notebooks"][1]["error"]["ename"] == "RuntimeError"
    md = (out1 / "summary.md").read_text()
    assert "| 02_broken | failed (RuntimeError) |" in md
    assert "failing cell" in md and "raise RuntimeError('deliberate failure in 02')" in md
    assert "## 01_first: table" in md
    # Determinism: a second run with the same parameters gives the same summary tables.
    with pytest.warns(UserWarning):
        s2 = run_notebooks(tmp_path / "out2", preset="smoke", seed=5, notebooks_dir=suite)
    assert s2.tables() == s1.tables()
    # ...and a different seed changes the seeded result (the check can fail).
    with pytest.warns(UserWarning):
        s3 = run_notebooks(tmp_path / "out3", preset="smoke", seed=6, notebooks_dir=suite, only=["01"])
    assert [n.notebook for n in s3.notebooks] == ["01_first"]
    assert s3.notebooks[0].results["value"] != r1["value"]


def test_cli_exit_code(suite: Path, tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    ok = parser.parse_args(["notebooks", "run", "--notebooks-dir", str(suite), "--only", "03",
                            "--out", str(tmp_path / "o1")])
    assert ok.func(ok) == 0
    bad = parser.parse_args(["notebooks", "run", "--notebooks-dir", str(suite), "--only", "02",
                             "--out", str(tmp_path / "o2")])
    assert bad.func(bad) == 1
    assert "02_broken" in summary_markdown(run_notebooks(tmp_path / "o3", notebooks_dir=suite, only=["02"]))


def test_prepare_times_data_and_pretraining(tmp_path, monkeypatch):
    """The suite's preparation is timed per part and shown in summary.md (data, pre-training, notebooks)."""
    import reidlab.data.synth as synth
    import reidlab.engine.pretrain as pre
    from reidlab.notebooks.runner import NotebookRun, SuiteSummary, prepare, summary_markdown

    seen = []
    monkeypatch.setattr(synth, "ensure_synthetic", lambda ds, **kw: seen.append(("data", ds, kw["preset"])) or tmp_path)
    monkeypatch.setattr(pre, "ensure_pretrained", lambda bb, s, **kw: seen.append(("pre", bb, s)) or tmp_path / "w.pth")
    params = {"common": {"train": {"backbone": "resnet10t", "pretrained": "synth:smoke"}},
              "06_reproduce_tables": {"dataset": "hoss"}}
    parts = prepare(params, "smoke")
    assert [s[:2] for s in seen] == [("data", "rgbn300"), ("data", "hoss"), ("pre", "resnet10t")]
    assert len(parts) == 3 and all(p["seconds"] >= 0 for p in parts)
    assert prepare({"common": {"train": {"pretrained": False}}}, "smoke") and len(seen) == 4  # no pre-training
    s = SuiteSummary("smoke", 0, str(tmp_path), [NotebookRun("01_x", "ok", 2.0, "o", {})], parts=parts)
    md = summary_markdown(s)
    assert "## Time per part" in md and "pre-training: resnet10t" in md and "notebook 01_x" in md and "**total**" in md
