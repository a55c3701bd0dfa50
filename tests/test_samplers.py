"""P x K samplers: batch composition, seeded determinism, DDP shards, modality balance, state."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from reidlab.data.samplers import ModalityBalancedPKSampler, PKSampler


def _pids(n_ids: int = 12, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    pids = []
    for pid in range(n_ids):
        pids += [pid * 7 + 3] * int(rng.integers(2, 11))  # 2..10 records, non-contiguous pids
    rng.shuffle(pids)
    return pids


def test_pk_composition():
    pids = _pids()
    s = PKSampler(pids, P=4, K=3, seed=1)
    batches = list(s)
    assert len(batches) == len(s) > 0
    for b in batches:
        assert len(b) == 12
        c = Counter(pids[i] for i in b)
        assert len(c) == 4 and set(c.values()) == {3}
    # within an epoch no index repeats, except padding of identities with < K records
    flat = [i for b in batches for i in b]
    dup = [i for i, n in Counter(flat).items() if n > 1]
    assert all(Counter(pids)[pids[i]] < 3 for i in dup)


def test_pk_seeded_and_epoch_dependent():
    pids = _pids()
    a, b, c = PKSampler(pids, 4, 2, seed=5), PKSampler(pids, 4, 2, seed=5), PKSampler(pids, 4, 2, seed=6)
    assert list(a) == list(b)
    assert list(a) != list(c)
    e0 = list(a)
    a.set_epoch(1)
    assert list(a) != e0
    a.set_epoch(0)
    assert list(a) == e0


def test_pk_ddp_shards_disjoint_and_cover_plan():
    pids = _pids(20)
    full = list(PKSampler(pids, 3, 2, seed=2))
    shards = [list(PKSampler(pids, 3, 2, seed=2, rank=r, world_size=3)) for r in range(3)]
    assert len({len(s) for s in shards}) == 1  # every rank runs the same number of steps
    assert len(shards[0]) == len(full) // 3
    seen = [set(i for b in s for i in b) for s in shards]
    for r in range(3):
        for q in range(r + 1, 3):
            assert not seen[r] & seen[q]
    # the shards are the plan's batches, interleaved
    assert [b for i in range(len(shards[0])) for s in shards for b in [s[i]]] == full[: 3 * len(shards[0])]


def test_pk_state_dict_resume():
    pids = _pids()
    s = PKSampler(pids, 4, 2, seed=3)
    s.set_epoch(7)
    t = PKSampler(pids, 4, 2, seed=0)
    t.load_state_dict(s.state_dict())
    assert list(t) == list(s)
    with pytest.raises(ValueError, match="P=4, K=3"):
        PKSampler(pids, 4, 3).load_state_dict(s.state_dict())


def test_pk_bad_arguments():
    with pytest.raises(ValueError, match="lower P"):
        PKSampler([0, 0, 1], P=3, K=2)
    with pytest.raises(ValueError, match="rank"):
        PKSampler(_pids(), 2, 2, rank=2, world_size=2)


def test_modality_balanced_composition():
    rng = np.random.default_rng(0)
    pids, mods = [], []
    for pid in range(10):
        for m, n in (("rgb", int(rng.integers(3, 9))), ("tir", int(rng.integers(1, 6)))):
            pids += [pid] * n
            mods += [m] * n
    pids += [99, 99, 99]  # an identity with only RGB: cannot be balanced
    mods += ["rgb"] * 3
    with pytest.warns(UserWarning, match="1 identities lack"):
        s = ModalityBalancedPKSampler(pids, mods, P=3, K=2, seed=0, modality_set=("rgb", "tir"))
    assert s.skipped_pids == [99]
    batches = list(s)
    assert batches and all(len(b) == 3 * 2 * 2 for b in batches)
    for b in batches:
        per = Counter((pids[i], mods[i]) for i in b)
        ids = {p for p, _ in per}
        assert len(ids) == 3 and 99 not in ids
        assert all(per[(p, m)] == 2 for p in ids for m in ("rgb", "tir"))
    with pytest.warns(UserWarning):
        s2 = ModalityBalancedPKSampler(pids, mods, P=3, K=2, seed=0, modality_set=("rgb", "tir"), rank=1, world_size=2)
    assert len(s2) == len(batches) // 2
