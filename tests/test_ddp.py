"""DDP on the CPU (gloo): sharded extraction, failures that stop every rank, lr scaling, SyncBN,
losses averaged over ranks, the deterministic option, persistent loader workers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reidlab.engine import TrainConfig, load_run, train
from reidlab.engine.distributed import DistInfo, batch_aligned_shard, convert_sync_bn
from reidlab.engine.schedule import lr_scale_factor

TESTS = Path(__file__).parent
DUMMY = "_engine_dummy:TinyMethod"


@pytest.fixture(scope="module")
def root(synth_root) -> Path:
    return synth_root("rgbn300")


def _cfg(root: Path, out: Path, **kw) -> TrainConfig:
    from _engine_dummy import tiny_config

    return tiny_config(root, out, **{"eval_batch_size": 32, **kw})


def _torchrun(args: list[str], timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
           "-m", "reidlab", "train", "--no-progress", *args]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return p, time.perf_counter() - t


# -- sharded extraction ------------------------------------------------------------------------------
def test_batch_aligned_shard_covers_in_order():
    for n, b, w in [(0, 4, 2), (1, 4, 2), (10, 5, 2), (11, 5, 2), (23, 4, 3), (7, 2, 4), (3, 8, 4)]:
        cuts = [batch_aligned_shard(n, b, r, w) for r in range(w)]
        assert cuts[0][0] == 0 and cuts[-1][1] == n, (n, b, w, cuts)
        assert all(cuts[r][1] == cuts[r + 1][0] for r in range(w - 1))  # contiguous, in rank order
        assert all(lo % b == 0 for lo, hi in cuts if hi > lo)  # every slice starts at a batch boundary


def test_sharded_extraction_equals_single_process(root, tmp_path):
    """Two gloo processes, each embedding half of query/gallery (unaligned rows, batches of 5 so the
    slices are uneven), give on every rank exactly the single-process FeatureSet."""
    import torch.multiprocessing as mp

    from _dist_workers import extract_worker, mixed_data, tiny_model
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.extract import extract_features
    from reidlab.eval.features import FeatureSet

    mp.start_processes(extract_worker, args=(2, str(tmp_path / "init"), str(root), str(tmp_path), 5), nprocs=2,
                       join=True, start_method="fork")
    single = extract_features(tiny_model(), mixed_data(root), ["query", "gallery"],
                              build_transforms(32, 64, train=False), batch_size=5, progress=False)
    assert len(single["query"].feats) > 10
    for r in range(2):
        got = FeatureSet.load(tmp_path / f"rank{r}.npz")
        for split in ("query", "gallery"):
            a, b = got[split], single[split]
            np.testing.assert_array_equal(a.record, b.record)
            np.testing.assert_array_equal(a.key, b.key)
            np.testing.assert_array_equal(a.pid, b.pid)
            np.testing.assert_allclose(a.feats, b.feats, rtol=0, atol=1e-6)


# -- any rank's failure stops the job -----------------------------------------------------------------
@pytest.mark.parametrize("fail_at", ["init", "step"])
def test_failure_on_rank1_stops_every_rank(root, tmp_path, fail_at):
    """Rank 1 alone raises (in the set-up, or in its second training step): the job ends in seconds
    with a nonzero exit, and the output names rank 1 and its exception."""
    p, seconds = _torchrun([f"method=_engine_dummy:FailOnRank", f"method_overrides.fail_at={fail_at}",
                            f"root={root}", "dataset=rgbn300", "height=32", "width=64", "P=2", "K=2", "epochs=1",
                            "backbone=none", f"out_dir={tmp_path}", "run_name=fail", "final_eval=false",
                            "eval_protocols=[rgbn300/rgb]"], timeout=90)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out[-3000:]
    assert "[reidlab] rank 1 of 2 stops: RuntimeError: injected failure on rank 1" in out, out[-3000:]
    if fail_at == "init":  # an agreement point: rank 0 stops itself, naming rank 1's exception
        assert "[reidlab] rank 0 of 2 stops: RankFailed: rank 1 failed during setup: RuntimeError: " \
               "injected failure on rank 1" in out, out[-3000:]
        assert "reidlab train: error: rank 1 failed during setup" in out  # one line, not a "bug" traceback
    assert seconds < 60, seconds
    rec = json.loads((tmp_path / "fail" / "record.json").read_text())
    assert rec["status"] == "running"  # no epoch finished: nothing claims success


# -- lr scaling, SyncBN, logged losses over ranks -----------------------------------------------------
def test_lr_scale_factor_rules():
    assert lr_scale_factor("none", 256, 64) == 1.0
    assert lr_scale_factor("linear", 256, 64) == 4.0
    assert lr_scale_factor("sqrt", 256, 64) == 2.0
    assert lr_scale_factor("linear", 64, 64) == 1.0
    with pytest.raises(ValueError, match="lr_scaling must be one of"):
        lr_scale_factor("cubic", 256, 64)
    from reidlab.engine.config import resolve_config
    with pytest.raises(ValueError, match="lr_scaling must be none, linear or sqrt"):
        resolve_config(TrainConfig(method=DUMMY, lr_scaling="cubic"))


def test_lr_scaling_and_options_in_run_record(root, tmp_path):
    """One process, P x K = 8 against a reference batch of 2: linear scaling gives 4 x lr in the record,
    the optimiser and the history; sync_bn asked for on one process converts nothing (recorded)."""
    run = train(_cfg(root, tmp_path, run_name="lin", epochs=1, lr_scaling="linear", lr_reference_batch=2,
                     sync_bn=True, deterministic=True), progress=False)
    rec = run.record
    assert rec["lr_scaling"] == {"rule": "linear", "reference_batch": 2, "global_batch": 8, "factor": 4.0}
    assert rec["effective_lr"] == pytest.approx(4 * 3e-3)
    assert run.history["lr"].iloc[0] == pytest.approx(4 * 3e-3)
    assert rec["sync_bn"] is False and rec["sync_bn_modules"] == 0 and rec["deterministic"] is True
    assert run.config.lr == 3e-3 and run.config.lr_scaling == "linear" and run.config.sync_bn is True
    # the deterministic flags are restored after the run
    assert not torch.are_deterministic_algorithms_enabled()


def test_sync_bn_conversion_keeps_state_and_refuses_cpu_ddp(root, tmp_path):
    """SyncBatchNorm's forward needs CUDA under a process group, so on the CPU the conversion itself is
    checked (modules, shared parameters, unchanged state-dict keys) and a CPU DDP run is refused."""
    from _engine_dummy import TinyMethod
    from reidlab.engine.trainer import Trainer

    model = TinyMethod(num_classes=5, modalities=("rgb", "nir"))
    keys, params = list(model.state_dict()), [id(p) for p in model.parameters()]
    model, n = convert_sync_bn(model)
    assert n == 2
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules()) == 2
    assert not any(type(m) is torch.nn.BatchNorm2d for m in model.modules())
    assert list(model.state_dict()) == keys and [id(p) for p in model.parameters()] == params
    t = Trainer(_cfg(root, tmp_path, sync_bn=True), torch.device("cpu"), DistInfo(rank=0, world_size=2))
    with pytest.raises(ValueError, match="sync_bn=true needs CUDA"):
        t._setup_local()


def test_two_rank_run_logs_mean_loss_and_evaluates_sharded(root, tmp_path):
    """torchrun, 2 gloo ranks: each epoch's logged loss is the mean of both ranks' losses; the
    periodic and final evaluation extract on both ranks and the saved features equal a
    single-process extraction with the saved model; linear lr scaling doubles the lr."""
    from reidlab.engine.trainer import extract_features_for

    logs = tmp_path / "logs"
    logs.mkdir()
    p, _ = _torchrun(["method=_engine_dummy:LossLogMethod", f"method_overrides.log_dir={logs}", f"root={root}",
                      "dataset=rgbn300", "height=32", "width=64", "P=2", "K=2", "epochs=2", "eval_every=1",
                      "backbone=none", f"out_dir={tmp_path}", "run_name=ddp", "eval_protocols=[rgbn300/rgb-nir]",
                      "eval_batch_size=8", "lr_scaling=linear", "lr=1e-3", "warmup_epochs=0", "milestones=[]"])
    assert p.returncode == 0, p.stderr[-3000:]
    run = load_run(tmp_path / "ddp")
    assert run.record["world_size"] == 2 and run.record["status"] == "finished"
    assert run.record["effective_lr"] == pytest.approx(2e-3)
    from reidlab.data import load_dataset
    from reidlab.data.samplers import PKSampler

    plan = list(PKSampler([r.pid for r in load_dataset("rgbn300", root).train], 2, 2, seed=0))
    assert int(run.history["steps"].iloc[0]) == len(plan) // 2  # each rank ran its half of the plan
    assert run.history["lr"].tolist() == pytest.approx([2e-3, 2e-3])
    ends = np.cumsum([0] + run.history["steps"].tolist())  # the plan's length varies by epoch
    per_rank = [np.loadtxt(logs / f"rank{r}.txt") for r in range(2)]
    assert [len(x) for x in per_rank] == [ends[-1], ends[-1]]
    for e in range(2):
        rank_means = [x[ends[e]:ends[e + 1]].mean() for x in per_rank]
        assert rank_means[0] != rank_means[1]  # the ranks saw different batches
        assert run.history["loss"].iloc[e] == pytest.approx(np.mean(rank_means), rel=1e-9)
    assert isinstance(run.history["eval"].iloc[0], list)  # periodic evaluation after epoch 1
    embedded = [int(np.loadtxt(logs / f"embed_rank{r}.txt", ndmin=1).sum()) for r in range(2)]
    assert min(embedded) > 0  # both ranks extracted (their slices), not rank 0 alone
    assert run.results["protocol"].tolist() == ["rgbn300/rgb-nir"]
    from reidlab.data.transforms import build_transforms

    single = extract_features_for(run.load_model(), load_dataset("rgbn300", root), run.config,
                                  build_transforms(32, 64, train=False), torch.device("cpu"), progress=False)
    saved = run.load_features()
    assert sum(embedded) == 2 * sum(len(single[s].pid) for s in single.splits)  # each record once per evaluation
    for split in single.splits:
        np.testing.assert_array_equal(saved[split].record, single[split].record)
        np.testing.assert_allclose(saved[split].feats, single[split].feats, rtol=0, atol=1e-6)


# -- deterministic, cached-run hashes ------------------------------------------------------------------
def test_deterministic_mode_sets_and_restores():
    from reidlab.engine.determinism import deterministic_mode

    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
              torch.are_deterministic_algorithms_enabled())
    with deterministic_mode(True):
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()  # warn, never stop a run
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"]
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
            torch.are_deterministic_algorithms_enabled()) == before
    with deterministic_mode(False):
        assert torch.are_deterministic_algorithms_enabled() == before[2]


def test_new_options_at_defaults_keep_cached_run_hashes():
    from reidlab.engine.run_cache import config_hash

    old = {k: v for k, v in TrainConfig(method="one_stream").to_dict().items()
           if k not in ("lr_scaling", "lr_reference_batch", "sync_bn", "deterministic")}
    new = TrainConfig(method="one_stream").to_dict()
    assert config_hash(old) == config_hash(new)
    assert config_hash(new) != config_hash({**new, "lr_scaling": "sqrt"})
    assert config_hash(new) != config_hash({**new, "sync_bn": True})
