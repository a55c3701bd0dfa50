"""The runs leaderboard on hand-written run folders (no training)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from reidlab.cli import main
from reidlab.engine.leaderboard import differing_keys, leaderboard_widget, runs_table


def _run(root: Path, name: str, cfg: dict, metrics: dict[str, float] | None, status: str | None = "finished",
         epochs_done: int = 2) -> Path:
    d = root / name
    d.mkdir(parents=True)
    base = {"method": "msn", "dataset": "rgbn300", "lr": 1e-3, "epochs": 2, "seed": 0, "out_dir": str(root),
            "run_name": name, "modalities": ["rgb", "nir"]}
    (d / "config.yaml").write_text(yaml.safe_dump({**base, **cfg}))
    if status is not None:
        (d / "record.json").write_text(json.dumps({"status": status, "started": "2026-01-01T00:00:00+00:00",
                                                   "ended": "2026-01-01T00:01:30+00:00"}))
    (d / "history.jsonl").write_text("".join(json.dumps({"epoch": e + 1, "time_s": 1.0}) + "\n"
                                             for e in range(epochs_done)))
    if metrics is not None:
        rows = [{"protocol": p, "mAP": m, "R1": m + 0.1, "mINP": m / 2} for p, m in metrics.items()]
        pd.DataFrame(rows).to_csv(d / "results.csv", index=False)
    return d


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    _run(root, "a", {"lr": 1e-3}, {"rgbn300/rgb2nir": 0.30, "rgbn300/nir2rgb": 0.2})
    _run(root, "b", {"lr": 3e-4}, {"rgbn300/rgb2nir": 0.50})
    _run(root, "nested/c", {"lr": 3e-4, "method": "hamnet"}, {"rgbn300/rgb2nir": 0.40})
    _run(root, "d", {"lr": 3e-4}, None, status=None, epochs_done=1)  # interrupted: no record, no results
    bad = root / "e"
    bad.mkdir()
    (bad / "config.yaml").write_text("[unclosed")
    return root


def test_one_row_per_run_with_the_varied_settings_and_best_first(runs: Path) -> None:
    df = runs_table(runs)
    assert sorted(df["run"]) == ["a", "b", "d", "e", "nested/c"]
    assert "lr" in df.columns and "seed" not in df.columns and "run_name" not in df.columns
    assert list(df["run"][:3]) == ["b", "nested/c", "a"]  # by mAP, best first; no metrics last
    a = df.set_index("run").loc["a"]
    assert a["protocol"] == "rgbn300/rgb2nir" and a["mAP"] == pytest.approx(0.30)
    assert a["R1"] == pytest.approx(0.40) and a["time_s"] == pytest.approx(90.0) and a["epochs_done"] == "2/2"
    assert df.set_index("run").loc["nested/c", "method"] == "hamnet"
    d = df.set_index("run").loc["d"]
    assert d["status"] == "incomplete" and pd.isna(d["mAP"]) and d["time_s"] == pytest.approx(1.0)
    e = df.set_index("run").loc["e"]
    assert e["status"] == "unreadable" and "config" not in df.columns and "Error" in e["note"]


def test_protocol_and_sort_options(runs: Path) -> None:
    df = runs_table(runs, protocol="rgbn300/nir2rgb")
    assert df["mAP"].notna().sum() == 1 and df.iloc[0]["run"] == "a"
    df = runs_table(runs, sort="lr")
    assert list(df["lr"].dropna()) == sorted(df["lr"].dropna())
    with pytest.raises(ValueError, match="nosuch"):
        runs_table(runs, sort="nosuch")
    with pytest.raises(FileNotFoundError, match="nope"):
        runs_table(runs / "nope")


def test_differing_keys() -> None:
    assert differing_keys([{"a": 1, "b": [1]}, {"a": 1, "b": [2]}, {"a": 1}]) == ["b"]


def test_runs_ls_command(runs: Path, capsys) -> None:
    assert main(["runs", "ls", str(runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["run", "method", "dataset", "lr"]
    assert out[1].split()[0] == "b" and "0.5000" in out[1]
    assert main(["runs", "ls", str(runs / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_widget_sorts(runs: Path) -> None:
    df = runs_table(runs)
    box = leaderboard_widget(df)
    box.sort_by.value = "lr"
    box.descending.value = False
    assert list(box.shown["run"][:4]) == ["b", "nested/c", "d", "a"]  # lr ascending, stable; e (no lr) last
    box.sort_by.value = "mAP"
    box.descending.value = True
    assert list(box.shown["run"][:3]) == ["b", "nested/c", "a"]
    html = box.table.value  # the table shown is the sorted one
    assert html.index(">b<") < html.index(">nested/c<") < html.index(">a<")
