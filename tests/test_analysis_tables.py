"""Table logic with an injected fake trainer: config per row, reuse by hash, paper comparison."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from reidlab.analysis.tables import (TABLES, TableRow, TableSpec, as_wide, compare_with_paper, comparison_wide,
                                     config_hash, get_table, row_config, run_table)

SPEC = TableSpec(name="toy", dataset="rgbn300", paper=("toy_paper", "Table 9"), columns=("d/a", "d/b"),
                 rows=(TableRow("base", "m1", {"method_overrides": {"x": 0}}, ("d/a",), {"ablation": "base"}),
                       ("full", "m1", {"method_overrides": {"x": 1}})))


class FakeEngine:
    """Writes a run folder like the engine's; metrics are a deterministic function of the config."""

    def __init__(self) -> None:
        self.trained: list[dict] = []

    @staticmethod
    def resolve(d):
        return {"epochs": 120, **d}

    @staticmethod
    def score(cfg: dict, protocol: str) -> float:
        return (cfg["method_overrides"]["x"] + 1) * 0.1 + 0.01 * cfg["epochs"] + (0.05 if protocol == "d/b" else 0)

    def train(self, d):
        cfg = self.resolve(d)
        self.trained.append(cfg)
        run_dir = Path(cfg["out_dir"]) / cfg["run_name"]
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(json.dumps(cfg))
        res = pd.DataFrame([{"protocol": p, "mAP": self.score(cfg, p), "R1": self.score(cfg, p) + 0.2,
                             "R5": 0.9, "R10": 0.95, "mINP": 0.1} for p in cfg.get("eval_protocols") or ("d/a", "d/b")])
        res.to_csv(run_dir / "results.csv", index=False)
        return SimpleNamespace(run_dir=run_dir, results=res, config=cfg)

    @staticmethod
    def load(run_dir):
        return SimpleNamespace(run_dir=run_dir, results=pd.read_csv(run_dir / "results.csv"),
                               config=json.loads((run_dir / "config.json").read_text()))


def _run(engine, tmp_path, **kw):
    return run_table(SPEC, "smoke", 0, tmp_path / "runs", train_fn=engine.train, load_fn=engine.load,
                     resolve_fn=engine.resolve, progress=False, **kw)


def test_row_config_precedence(tmp_path: Path) -> None:
    d = row_config(SPEC, SPEC.rows[0], preset="smoke", seed=3, runs_dir=tmp_path,
                   epochs=2, method_overrides={"x": 9, "y": 5}, method="ignored")
    assert d["method"] == "m1" and d["seed"] == 3 and d["epochs"] == 2
    assert d["method_overrides"] == {"x": 0, "y": 5}  # the row's switch wins, other keys merge
    # no eval_protocols: every protocol of the dataset is scored, so rows of several tables share one run
    assert "eval_protocols" not in d
    assert "eval_protocols" not in row_config(SPEC, SPEC.rows[0], preset="smoke", seed=3, runs_dir=tmp_path,
                                              eval_protocols=["d/a"])


def test_config_hash_ignores_paths_only() -> None:
    a = {"method": "m", "lr": 1e-3, "out_dir": "x", "run_name": "r", "device": "cpu"}
    assert config_hash(a) == config_hash({**a, "out_dir": "y", "run_name": "q", "device": "cuda"})
    assert config_hash(a) != config_hash({**a, "lr": 2e-3})


def test_run_table_trains_then_reuses(tmp_path: Path) -> None:
    eng = FakeEngine()
    df = _run(eng, tmp_path, epochs=2)
    assert list(df["row"]) == ["base", "full", "full"]
    assert list(df["protocol"]) == ["d/a", "d/a", "d/b"]
    assert len(eng.trained) == 2 and not df["reused"].any()
    expect = FakeEngine.score({"method_overrides": {"x": 1}, "epochs": 2}, "d/b")
    assert df.iloc[2]["mAP"] == pytest.approx(expect)
    # same parameters: nothing retrained, same numbers
    df2 = _run(eng, tmp_path, epochs=2)
    assert len(eng.trained) == 2 and df2["reused"].all()
    pd.testing.assert_frame_equal(df.drop(columns="reused"), df2.drop(columns="reused"))
    # another setting -> new runs; reuse=False -> retrain under the same names is refused by the fake (exists)
    df3 = _run(eng, tmp_path, epochs=3, rows=["base"])
    assert len(eng.trained) == 3 and list(df3["row"]) == ["base"]
    assert df3.iloc[0]["mAP"] != df.iloc[0]["mAP"]
    with pytest.raises(ValueError, match="unknown rows"):
        _run(eng, tmp_path, rows=["nope"])


def test_stale_folder_is_refused(tmp_path: Path) -> None:
    eng = FakeEngine()
    df = _run(eng, tmp_path, epochs=2, rows=["base"])
    cfg_file = Path(df.iloc[0]["run_dir"]) / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["lr"] = 99
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="stale"):
        _run(eng, tmp_path, epochs=2, rows=["base"])


def test_missing_protocol_in_results_is_an_error(tmp_path: Path) -> None:
    eng = FakeEngine()
    orig = eng.train

    def train_without_b(d):
        run = orig({**d, "eval_protocols": ["d/a"]})
        return run

    with pytest.raises(ValueError, match="no result for protocol 'd/b'"):
        run_table(SPEC, "smoke", 0, tmp_path / "r", train_fn=train_without_b, load_fn=eng.load,
                  resolve_fn=eng.resolve, progress=False, rows=["full"])


def test_compare_with_paper_and_wide(tmp_path: Path) -> None:
    eng = FakeEngine()
    ours = _run(eng, tmp_path, epochs=2)
    paper = pd.DataFrame([
        {"protocol": "d/a", "ablation": "base", "mAP": 50.0, "R1": 70.0, "R5": None, "R10": None},
        {"protocol": "d/a", "ablation": "other", "mAP": 60.0, "R1": 80.0, "R5": 90.0, "R10": 91.0}])
    spec = TableSpec(name="toy", dataset="x", paper=("p", "t"), columns=SPEC.columns,
                     rows=(SPEC.rows[0], TableRow("full", "m1", {}, None, {"ablation": "other"})))
    cmp = compare_with_paper(ours, spec, paper_df=paper)
    a = cmp[(cmp.row == "base") & (cmp.metric == "mAP")].iloc[0]
    assert a["ours"] == pytest.approx(100 * ours.iloc[0]["mAP"]) and a["paper"] == 50.0
    assert a["diff"] == pytest.approx(a["ours"] - 50.0)
    assert np.isnan(cmp[(cmp.row == "base") & (cmp.metric == "R5")].iloc[0]["paper"])
    assert np.isnan(cmp[(cmp.row == "full") & (cmp.protocol == "d/b")]["paper"]).all()  # paper lacks d/b
    w = comparison_wide(cmp)
    assert list(w.index) == ["base", "full"]
    assert w[("d/a", "mAP", "paper")]["full"] == 60.0
    wide = as_wide(ours)
    assert wide.loc["full", ("d/b", "mAP")] == pytest.approx(ours.iloc[2]["mAP"])
    dup = pd.concat([paper, paper])
    with pytest.raises(ValueError, match="paper rows match"):
        compare_with_paper(ours, spec, paper_df=dup)


def test_tables_mapping_is_the_registry() -> None:
    """``TABLES`` is a view of the methods' registry; per-table checks live in test_methods_registry.py."""
    from reidlab.methods.specs import list_tables

    assert sorted(TABLES) == list_tables() and len(TABLES) == len(list_tables())
    assert {"hamnet_table2", "hamnet_table5", "kamenou_table1"} <= set(list_tables("rgbn300"))
    assert TABLES["kamenou_table1"] is get_table("kamenou_table1")
    cmp = compare_with_paper(pd.DataFrame([{"row": "RGB-N HAMNet", "protocol": "rgbn300/rgb-nir", "mAP": 0.5,
                                            "R1": 0.5, "R5": 0.5, "R10": 0.5}]), TABLES["hamnet_table2"])
    assert cmp.set_index("metric").loc["mAP", "paper"] == 61.9
    with pytest.raises(KeyError, match="unknown table"):
        TABLES["nope"]


def test_config_hash_is_canonical_for_defaults() -> None:
    base = {"method": "hamnet", "dataset": "rgbn300", "lr": 1e-3}
    # modalities: null means the dataset's modalities
    assert config_hash({**base, "modalities": None}) == config_hash({**base, "modalities": ["rgb", "nir"]})
    assert config_hash({**base, "modalities": None}) != config_hash({**base, "modalities": ["rgb"]})
    # a method override equal to the method's default is no override
    assert config_hash({**base, "method_overrides": {}}) == config_hash(
        {**base, "method_overrides": {"use_hsc": True, "use_caid": True}})
    assert config_hash({**base, "method_overrides": {}}) != config_hash(
        {**base, "method_overrides": {"use_hsc": False}})


def test_same_configuration_in_two_tables_and_notebooks_is_one_run(tmp_path: Path) -> None:
    """HAMNet Table 2's HAMNet row and Table 5's full model (switches equal to the defaults), and
    notebook 05's hamnet, hash alike (one run)."""
    from reidlab.engine.run_cache import _resolve
    from reidlab.methods.specs import get_table

    train = {"backbone": "resnet10t", "pretrained": False, "height": 32, "width": 64, "epochs": 1}
    t2, t5 = get_table("hamnet_table2"), get_table("hamnet_table5")
    h = [config_hash(_resolve(row_config(t, t.row(r), preset="smoke", seed=0, runs_dir=tmp_path, **train)))
         for t, r in ((t2, "RGB-N HAMNet"), (t5, "+ L_hsc + L_caid"))]
    nb05 = {"method": "hamnet", "dataset": "rgbn300", "preset": "smoke", "seed": 0, "modalities": ["rgb", "nir"], **train}
    assert h[0] == h[1] == config_hash(_resolve(nb05))
    assert h[0] != config_hash(_resolve({**nb05, "method": "msn"}))


def test_config_hash_changes_with_what_the_run_depends_on_outside_its_config(monkeypatch) -> None:
    """A changed generator default, method default or synthetic pre-training is a new run, never a stale reuse."""
    import dataclasses

    from reidlab.data.synth import presets
    from reidlab.engine import pretrain
    from reidlab.methods import registry

    cfg = {"method": "kamenou", "dataset": "rgbn300", "preset": "smoke", "pretrained": "synth:smoke",
           "backbone": "resnet10t"}
    h0 = config_hash(cfg)
    real = {**cfg, "root": "/data/RGBN300", "pretrained": True}  # real data, ImageNet start
    h_real = config_hash(real)
    monkeypatch.setitem(presets.PRESETS, "smoke", {**presets.PRESETS["smoke"], "nir_paint_predictability": 0.6})
    assert config_hash(cfg) != h0  # the synthetic data would differ
    assert config_hash(real) == h_real  # real data: the generator does not matter
    monkeypatch.undo()
    assert config_hash(cfg) == h0
    cls, defaults = registry._REGISTRY["kamenou"]
    monkeypatch.setitem(registry._REGISTRY, "kamenou", (cls, {**defaults, "lambda_cos": 0.25}))
    assert config_hash(cfg) != h0  # a changed method default changes the method
    monkeypatch.undo()
    monkeypatch.setitem(pretrain.PRETRAIN_PRESETS, "smoke",
                        dataclasses.replace(pretrain.PRETRAIN_PRESETS["smoke"], epochs=2))
    assert config_hash(cfg) != h0  # other pre-trained weights
    assert config_hash({**cfg, "pretrained": False}) == config_hash({**cfg, "pretrained": False, "out_dir": "z"})
