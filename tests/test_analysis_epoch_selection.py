"""Final epoch vs best over test-set evaluations (the optimistic figure)."""
from __future__ import annotations

import json

import pytest

from reidlab.analysis.epoch_selection import final_vs_best
from reidlab.engine.config import TrainConfig, dump_config


def _run(tmp_path, name, maps):
    d = tmp_path / name
    d.mkdir()
    dump_config(TrainConfig(), d / "config.yaml")
    lines = [{"epoch": e + 1, "loss": 1.0, "eval": [{"protocol": "rgbn300/rgb2nir", "mAP": m, "R1": m}]}
             for e, m in enumerate(maps)]
    lines.insert(1, {"epoch": 99, "loss": 1.0})  # an epoch without evaluation is skipped
    (d / "history.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return d


def test_final_vs_best_reports_the_optimism(tmp_path):
    a = _run(tmp_path, "a", [0.10, 0.30, 0.25])
    b = _run(tmp_path, "b", [0.05, 0.20])
    t = final_vs_best([a, b], labels=["A", "B"]).set_index("run")
    assert t.loc["A", "final"] == pytest.approx(25.0) and t.loc["A", "best_optimistic"] == pytest.approx(30.0)
    assert t.loc["A", "best_epoch"] == 2 and t.loc["A", "optimism"] == pytest.approx(5.0) and t.loc["A", "n_evals"] == 3
    assert t.loc["B", "optimism"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="metric 'mINP'"):
        final_vs_best([a], metric="mINP")
