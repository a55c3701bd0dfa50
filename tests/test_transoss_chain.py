"""The TransOSS two-stage chain at the smoke preset with the tiny ViT, through the table runner (what
notebook 06 runs for ``dataset: hoss``): synthetic optical-SAR pairs -> contrastive pre-training ->
fine-tuning on synthetic HOSS (with and without the pre-trained start) -> the three HOSS protocols,
then the ablation table's claims checked with bootstrap CIs. Numbers at this size are not results:
the test checks that every stage runs, is recorded and feeds the next."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reidlab.analysis.claims import check_claims
from reidlab.analysis.tables import run_table
from reidlab.methods.specs import get_table

PROTOCOLS = ["hoss/all", "hoss/opt2sar", "hoss/sar2opt"]
TINY_TRAIN = dict(backbone="tiny", pretrained=False, height=64, width=32, P=4, K=2, epochs=1, optimizer="adam",
                  lr=1e-3, warmup_epochs=0, milestones=[], device="cpu")


def test_pairs_pretraining_finetuning_three_protocols(synth_root, tmp_path):
    spec = get_table("transoss_ablation")
    rows = ["full", "full + pair pre-training"]
    df = run_table(spec, "smoke", 0, tmp_path / "runs", rows=rows, progress=False, root=str(synth_root("hoss")),
                   synth_cache=str(tmp_path / "synth"), **TINY_TRAIN)
    assert sorted(df["row"].unique()) == sorted(rows)
    for row in rows:
        got = df[df["row"] == row].set_index("protocol")
        assert sorted(got.index) == sorted(PROTOCOLS)
        assert ((got["mAP"] > 0) & (got["mAP"] <= 1)).all() and got["R1"].between(0, 1).all()
    # stage 1-2: the pair pre-training ran once, cached, on synthetic pairs disjoint from HOSS identities
    ckpts = list((tmp_path / "synth" / "pretrain_pairs").glob("synthetic-*.pth"))
    assert len(ckpts) == 1
    summary = json.loads(ckpts[0].with_suffix(".json").read_text())
    assert summary["n_train_pairs"] > 0 and summary["history"][-1]["loss"] < summary["history"][0]["loss"]
    # stage 3: fine-tuning started from it, and the run record says what was loaded
    pre_dir = Path(df[df["row"] == rows[1]]["run_dir"].iloc[0])
    init = json.loads((pre_dir / "record.json").read_text())["init"]
    assert init["source"] == str(ckpts[0]) and init["loaded"] > 0 and "vit.sse_embed.weight" in init["missing"]
    scratch = json.loads((Path(df[df["row"] == rows[0]]["run_dir"].iloc[0]) / "record.json").read_text())
    assert scratch["init"] is None
    # stage 4: the table's claims are checked on these runs (the verdict itself is not asserted at smoke size)
    checked = check_claims(spec, df, n_boot=50, seed=0)
    pre = checked[checked["id"].str.startswith("transoss.pretraining_helps")]
    assert len(pre) == 2 and pre["delta"].notna().all() and pd.notna(pre["ci_low"]).all()
