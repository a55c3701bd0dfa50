"""benchmarks/cross_modal_sweep.py: lever parsing and the run configs of one (lever, seed), without training."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def test_parse_lever_sorts_generator_method_and_training_fields():
    import cross_modal_sweep as sw

    lev = sw.parse_lever("p:s.nir_paint_predictability=0.75;m.lambda_cos=0.3;epochs=12;milestones=[9]")
    assert lev == {"label": "p", "synth": {"nir_paint_predictability": 0.75}, "method": {"lambda_cos": 0.3},
                   "train": {"epochs": 12, "milestones": [9]}}
    assert sw.parse_lever("shipped:") == {"label": "shipped", "synth": {}, "method": {}, "train": {}}
    with pytest.raises(SystemExit, match="bad:epochs.*is not key=value"):
        sw.parse_lever("bad:epochs")


def test_job_configs_cover_every_row_and_the_shared_baseline():
    import cross_modal_sweep as sw
    from reidlab.methods.specs import get_table

    lev = sw.parse_lever("x:s.detail_scale=2.0;m.rll_margin=0.3;m.lambda_cos=0.9;epochs=3")
    cfgs = sw.job_configs(lev, 1, ["kamenou_table1", "hamnet_table2"], "runs/x", "cache/x")
    n_rows = len(get_table("kamenou_table1").rows) + len(get_table("hamnet_table2").rows)
    assert len(cfgs) == n_rows + 1
    for c in cfgs:
        assert c["synth_overrides"] == {"detail_scale": 2.0} and c["synth_cache"] == "cache/x"
        assert c["seed"] == 1 and c["epochs"] == 3 and c["preset"] == "demo"
        mo = c.get("method_overrides", {})
        if c["method"] == "kamenou":  # the lever reaches the rows whose method has the key ...
            assert mo["rll_margin"] == 0.3
        else:  # ... and no other method (hamnet has no rll_margin)
            assert "rll_margin" not in mo and "lambda_cos" not in mo
    shared = cfgs[-1]
    assert shared["method"] == "kamenou" and shared["method_overrides"]["shared_streams"] is True
    # a row's own switches still define it (e.g. Table I's Baseline + FC_e)
    base = [c for c in cfgs[:-1] if c["method"] == "kamenou" and not c["method_overrides"]["use_fc_e"]]
    assert base and base[0]["method_overrides"]["lambda_cos"] == 0.0  # Table I's Baseline keeps L_cos off
