"""Training engine on the CPU with a tiny dummy method: exact resume, divergence, run record, extract, DDP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from reidlab.engine import TrainConfig, TrainingDiverged, load_config, load_run, parse_overrides, train
from reidlab.engine.checkpoint import load_checkpoint
from reidlab.engine.schedule import warmup_step_factor

TESTS = Path(__file__).parent
DUMMY = "_engine_dummy:TinyMethod"


def _cfg(root: Path, out: Path, **kw) -> TrainConfig:
    base = dict(method=DUMMY, dataset="rgbn300", root=str(root), backbone="none", height=32, width=64,
                P=4, K=2, epochs=2, lr=3e-3, warmup_epochs=1, warmup_factor=0.1, milestones=[1], seed=3,
                out_dir=str(out), eval_protocols=["rgbn300/rgb-nir"], eval_batch_size=32)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def root(synth_root) -> Path:
    return synth_root("rgbn300")


def test_config_overrides_and_schedule(tmp_path):
    ov = parse_overrides(["lr=1e-3", "milestones=[40, 70]", "method_overrides.alpha=0.01", "root=null"])
    assert ov == {"lr": 1e-3, "milestones": [40, 70], "method_overrides": {"alpha": 0.01}, "root": None}
    p = tmp_path / "c.yaml"
    p.write_text("method: hamnet\nepochs: 5\n")
    cfg = load_config(p, ["P=2", "method_overrides.x=1"])
    assert (cfg.method, cfg.epochs, cfg.P, cfg.method_overrides) == ("hamnet", 5, 2, {"x": 1})
    p.write_text("method: hamnet\nepoch: 5\n")
    with pytest.raises(ValueError, match="unknown config keys \\['epoch'\\]"):
        load_config(p)
    # HAMNet schedule: 3.5e-5 -> 3.5e-4 over 10 warm-up epochs, x0.1 at 40 and 70
    f = lambda e: 3.5e-4 * warmup_step_factor(e, warmup_epochs=10, warmup_factor=0.1, milestones=[40, 70], gamma=0.1)
    assert f(0) == pytest.approx(3.5e-5) and f(5) == pytest.approx(1.925e-4)
    assert f(10) == pytest.approx(3.5e-4) and f(39) == pytest.approx(3.5e-4)
    assert f(40) == pytest.approx(3.5e-5) and f(70) == pytest.approx(3.5e-6) and f(119) == pytest.approx(3.5e-6)


def test_resume_is_exact(root, tmp_path):
    straight = train(_cfg(root, tmp_path, run_name="straight", final_eval=False), progress=False)
    half = train(_cfg(root, tmp_path, run_name="half", epochs=1, final_eval=False), progress=False)
    assert len(half.history) == 1
    resumed = train(None, ["epochs=2"], resume=half.run_dir, progress=False)
    a = load_checkpoint(straight.run_dir)["model"]
    b = load_checkpoint(resumed.run_dir)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight.history["loss"].tolist() == resumed.history["loss"].tolist()
    assert json.loads((resumed.run_dir / "record.json").read_text())["resumes"] == [1]
    # a different seed really changes the weights (the equality above is not vacuous)
    other = train(_cfg(root, tmp_path, run_name="other", seed=4, epochs=1, final_eval=False), progress=False)
    h = load_checkpoint(half.run_dir)["model"]
    o = load_checkpoint(other.run_dir)["model"]
    assert not all(torch.equal(h[k], o[k]) for k in h)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(root, tmp_path):
    good = train(_cfg(root, tmp_path, run_name="good", epochs=1, final_eval=False), progress=False)
    steps = int(good.history["steps"].iloc[0])
    cfg = _cfg(root, tmp_path, run_name="nan", epochs=3, final_eval=False,
               method_overrides={"nan_at_call": steps + 1, "nan_part": "ce_nir"})
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 2 .*non-finite parts: \['ce_nir'\]"):
        train(cfg, progress=False)
    run_dir = tmp_path / "nan"
    ckpt = load_checkpoint(run_dir)
    assert ckpt["epoch"] == 0  # epoch 1 finished, epoch 2 diverged
    ref = load_checkpoint(good.run_dir)["model"]
    for k, v in ckpt["model"].items():
        assert torch.isfinite(v.float()).all()
        assert torch.equal(v, ref[k]), k  # the same weights as a clean 1-epoch run
    rec = json.loads((run_dir / "record.json").read_text())
    assert rec["status"] == "diverged" and "ce_nir" in rec["error"]
    assert not list(run_dir.glob("*.tmp"))


def test_run_record_and_extract_cli(root, tmp_path):
    from reidlab.cli import main
    from reidlab.eval.features import FeatureSet

    run = train(_cfg(root, tmp_path, run_name="rec", eval_every=1, epochs=2), progress=False)
    d = run.run_dir
    for f in ("config.yaml", "record.json", "history.jsonl", "results.csv", "results.json", "features.npz",
              "checkpoint_last.pth"):
        assert (d / f).exists(), f
    rec = json.loads((d / "record.json").read_text())
    assert rec["status"] == "finished" and rec["device"] == "cpu" and rec["seed"] == 3
    assert rec["git"]["sha"] == "unknown" or len(rec["git"]["sha"]) == 40
    assert set(rec["versions"]) == {"torch", "timm", "numpy", "reidlab"}
    from reidlab.data import load_dataset
    assert rec["manifest_checksum"] == load_dataset("rgbn300", root).manifest_checksum()
    assert load_config(d / "config.yaml") == run.config and run.config.P == 4
    h = run.history
    assert h["epoch"].tolist() == [1, 2]
    assert {"loss", "ce_rgb", "ce_nir", "lr", "images_per_s", "time_s", "eval"} <= set(h.columns)
    assert h["lr"].iloc[0] == pytest.approx(3e-4) and h["lr"].iloc[1] == pytest.approx(3e-4)  # warm-up, then x0.1
    assert (h["images_per_s"] > 0).all()
    assert isinstance(h["eval"].iloc[0], list) and h["eval"].iloc[0][0]["protocol"] == "rgbn300/rgb-nir"
    assert run.results["protocol"].tolist() == ["rgbn300/rgb-nir"]
    assert 0 < run.results["mAP"].iloc[0] <= 1  # a fraction, not a percentage
    # the saved model reproduces the saved features
    out = tmp_path / "q.npz"
    assert main(["extract", str(d), "--split", "query", "--out", str(out)]) == 0
    fs, saved = FeatureSet.load(out), run.load_features()
    assert fs["query"].keys == ["fused:rgb+nir", "nir", "rgb"]
    np.testing.assert_allclose(fs["query"].feats, saved["query"].feats, rtol=1e-5, atol=1e-6)


def test_reload_resume_and_extract_never_fetch_pretrained(root, tmp_path):
    """load_run, --resume and `reidlab extract` build the network with pretrained=False: the weights file
    a run started from may be gone (or the ImageNet download offline) and the checkpoint still loads."""
    from reidlab.cli import main

    cfg = TrainConfig(method="one_stream", dataset="rgbn300", root=str(root), modalities=["rgb"],
                      backbone="resnet10t", pretrained=False, height=32, width=64, P=4, K=2, epochs=1,
                      warmup_epochs=0, milestones=[], seed=0, out_dir=str(tmp_path), run_name="pt",
                      eval_protocols=["rgbn300/rgb"], final_eval=False)
    run = train(cfg, progress=False)
    cfg_path = run.run_dir / "config.yaml"
    gone = tmp_path / "gone.pth"  # as if the run had started from a weights file deleted since
    cfg_path.write_text(cfg_path.read_text().replace("pretrained: false", f"pretrained: {gone}"))
    assert load_config(cfg_path).pretrained == str(gone)
    from reidlab.methods import PretrainedWeightsError, create_backbone
    with pytest.raises(PretrainedWeightsError):  # what a rebuild with the config's `pretrained` would do
        create_backbone("resnet10t", pretrained=gone)
    model = load_run(run.run_dir).load_model()
    saved = load_checkpoint(run.run_dir)["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    assert main(["extract", str(run.run_dir), "--split", "query", "--out", str(tmp_path / "q.npz")]) == 0
    resumed = train(None, ["epochs=2"], resume=run.run_dir, progress=False)
    assert resumed.history["epoch"].tolist() == [1, 2]


def test_extract_unaligned_rows(root):
    from reidlab.data import load_dataset
    from reidlab.data.transforms import build_transforms
    from reidlab.engine import extract_features
    from _engine_dummy import TinyMethod

    data = load_dataset("rgbn300", root)
    q = data.query
    # every second query keeps only its NIR image (an unaligned / missing-modality record)
    mixed = [replace(r, images={"nir": r.images["nir"]}) if i % 2 else r for i, r in enumerate(q)]
    data.splits["query"] = mixed
    model = TinyMethod(num_classes=5, modalities=("rgb", "nir"))
    fs = extract_features(model, data, ["query"], build_transforms(32, 64, train=False), batch_size=5, progress=False)
    sf = fs["query"]
    for key, expect in (("rgb", range(0, len(q), 2)), ("nir", range(len(q))), ("fused:rgb+nir", range(0, len(q), 2))):
        rec, feats = sf.rows(key)
        assert sorted(rec.tolist()) == list(expect), key
        assert feats.shape[1] == 16
    assert sf.pid.tolist() == [r.pid for r in q]


def test_ddp_two_processes_gloo(root, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "reidlab", "train", "--no-progress",
           f"method={DUMMY}", f"root={root}", "dataset=rgbn300", "height=32", "width=64", "P=2", "K=2",
           "epochs=1", "backbone=none", f"out_dir={tmp_path}", "run_name=ddp", "eval_protocols=[rgbn300/rgb]"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    run = load_run(tmp_path / "ddp")
    assert run.record["world_size"] == 2 and run.record["status"] == "finished"
    single = len(load_run_steps(root))
    assert int(run.history["steps"].iloc[0]) == single // 2  # each rank ran its half of the plan
    assert run.results["protocol"].tolist() == ["rgbn300/rgb"]


def load_run_steps(root):
    from reidlab.data import load_dataset
    from reidlab.data.samplers import PKSampler

    return list(PKSampler([r.pid for r in load_dataset("rgbn300", root).train], 2, 2, seed=0))


def test_custom_training_step_two_updates(root, tmp_path):
    """A method's own ``training_step`` may step the optimiser twice per batch via the StepContext."""
    one = train(_cfg(root, tmp_path, run_name="one", epochs=1, final_eval=False), progress=False)
    two = train(_cfg(root, tmp_path, run_name="two", epochs=1, final_eval=False,
                     method="_engine_dummy:TwoStepMethod"), progress=False)
    steps = int(two.history["steps"].iloc[0])
    ckpt = load_checkpoint(two.run_dir)
    assert int(ckpt["model"]["updates"]) == 2 * steps
    # Adam counts its own steps: the params of the first modality got both updates per batch (those
    # of the second only the first update: no grad in the second), the default step makes one per batch
    adam_steps = {int(s["step"]) for s in ckpt["optimizer"]["state"].values()}
    assert adam_steps == {steps, 2 * steps}
    assert {int(s["step"]) for s in load_checkpoint(one.run_dir)["optimizer"]["state"].values()} == {steps}


@pytest.mark.parametrize("layout", ["hoss", "ucmveid"])
def test_unaligned_training_sees_no_placeholder(synth_root, tmp_path, layout):
    """Unaligned data: a method gets only real images (+ present masks); one without accepts_missing is refused."""
    from reidlab.data import load_dataset

    r = synth_root(layout)
    data = load_dataset(layout, r)
    assert not data.aligned and len(data.modalities) > 1
    cfg = _cfg(r, tmp_path, dataset=layout, run_name=f"miss-{layout}", epochs=1, final_eval=False,
               method="_engine_dummy:MissingAwareMethod", warmup_epochs=0, milestones=[], eval_protocols=[],
               eval_every=0)
    run = train(cfg, progress=False)
    assert int(run.history["steps"].iloc[0]) > 0
    assert run.record["feature_norm"] == "none"
    with pytest.raises(ValueError, match=rf"accepts_missing=False.*{layout}"):
        train(_cfg(r, tmp_path, dataset=layout, run_name=f"refuse-{layout}", epochs=1, final_eval=False,
                   warmup_epochs=0, milestones=[]), progress=False)
