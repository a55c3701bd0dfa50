"""The training loader: built once per run with persistent workers; per-batch seeds keep exact resume."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reidlab.engine import TrainConfig, train
from reidlab.engine.checkpoint import load_checkpoint
from reidlab.engine.loader import SeededBatches



@pytest.fixture(scope="module")
def root(synth_root) -> Path:
    return synth_root("rgbn300")


def _cfg(root: Path, out: Path, **kw) -> TrainConfig:
    from _engine_dummy import tiny_config

    return tiny_config(root, out, **kw)


def test_seeded_batches_reshuffle_per_epoch():
    from reidlab.data.samplers import PKSampler

    sb = SeededBatches(PKSampler([i // 4 for i in range(64)], 4, 2, seed=0), seed=3, rank=0)
    sb.set_epoch(0)
    e0 = list(sb)
    assert list(sb) == e0  # a pure function of the epoch
    sb.set_epoch(1)
    e1 = list(sb)
    assert [i for _, i in e0[0]] != [i for _, i in e1[0]]  # set_epoch still reshuffles
    assert len({b[0][0] for b in e0 + e1}) == len(e0) + len(e1)  # one seed per batch, none repeated
    assert all(len({s for s, _ in b}) == 1 for b in e0)


def test_persistent_workers_resume_exactly_and_loader_built_once(root, tmp_path, monkeypatch):
    """2 epochs with 2 persistent workers == 1 epoch, then a resume with 1 worker (fresh processes):
    the augmentations of a batch depend on (seed, epoch, rank, batch) only. The training loader is
    constructed once per run. (The default train transform flips, crops and erases at random, so
    without per-batch seeds the persistent workers' epoch-2 draws would differ from fresh workers'.)"""
    import reidlab.engine.loader as loader_mod

    built = []
    real = loader_mod.DataLoader

    def counting(*a, **kw):
        built.append(kw.get("persistent_workers", False))
        return real(*a, **kw)

    monkeypatch.setattr(loader_mod, "DataLoader", counting)
    straight = train(_cfg(root, tmp_path, run_name="straight", num_workers=2), progress=False)
    assert built == [True]  # one loader for both epochs
    half = train(_cfg(root, tmp_path, run_name="half", epochs=1, num_workers=2), progress=False)
    resumed = train(None, ["epochs=2", "num_workers=1"], resume=half.run_dir, progress=False)
    a = load_checkpoint(straight.run_dir)["model"]
    b = load_checkpoint(resumed.run_dir)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight.history["loss"].tolist() == resumed.history["loss"].tolist()
    assert resumed.record["persistent_workers"] is True


def test_batch_seeded_dataset_draws_depend_on_the_batch_seed_only():
    import random

    import numpy as np

    from reidlab.engine.loader import BatchSeededDataset

    class Draws(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return (random.random(), float(np.random.rand()), float(torch.rand(())))

    ds = BatchSeededDataset(Draws())
    a = ds.__getitems__([(11, 0), (11, 1)])
    random.random(), np.random.rand(), torch.rand(())  # whatever ran before in this worker
    assert ds.__getitems__([(11, 0), (11, 1)]) == a
    assert ds.__getitems__([(12, 0), (12, 1)]) != a
    assert a[0] != a[1]  # items of a batch still get different draws
