"""Identity samplers for metric-learning batches: P identities x K images each.

Both samplers are *batch samplers*: iterating yields lists of dataset indices, one list per
batch, to pass as ``DataLoader(dataset, batch_sampler=sampler)``. An epoch's batches are a
pure function of ``(seed, epoch)``, so the state needed to resume exactly is tiny
(:meth:`state_dict`). Under DDP every rank builds the same epoch plan and keeps every
``world_size``-th batch starting at ``rank``; the plan is truncated so that all ranks run
the same number of steps (DDP needs that) and no index is seen by two ranks in an epoch.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Iterator, Sequence

import numpy as np

from reidlab.utils import derive_seed


class _PKBase:
    """Shared epoch plan / sharding / state logic. Subclasses build ``_chunks(rng)``."""

    P: int
    K: int
    seed: int
    rank: int
    world_size: int

    def _init_common(self, P: int, K: int, seed: int, rank: int, world_size: int) -> None:
        if P < 1 or K < 1:
            raise ValueError(f"P and K must be >= 1, got P={P}, K={K}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        self.P, self.K, self.seed = int(P), int(K), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0

    # -- subclass hook -------------------------------------------------------------------
    def _chunks(self, rng: np.random.Generator) -> dict[int, list[list[int]]]:  # pragma: no cover
        """pid -> list of index chunks; each chunk is one identity's share of a batch."""
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan the next iteration yields (call before each epoch)."""
        self.epoch = int(epoch)

    def _plan(self) -> list[list[int]]:
        """All batches of the current epoch, before sharding."""
        rng = np.random.default_rng(derive_seed(self.seed, self.epoch, "pk"))
        chunks = self._chunks(rng)
        avail = [pid for pid in sorted(chunks) if chunks[pid]]
        batches: list[list[int]] = []
        # Draw P distinct identities that still have unused chunks, pop one chunk each.
        while len(avail) >= self.P:
            pick = rng.choice(len(avail), size=self.P, replace=False)
            batch: list[int] = []
            for j in sorted(pick.tolist()):
                batch.extend(chunks[avail[j]].pop())
            batches.append(batch)
            avail = [pid for pid in avail if chunks[pid]]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        plan = self._plan()
        n = len(plan) // self.world_size
        yield from plan[self.rank: n * self.world_size: self.world_size]

    def __len__(self) -> int:
        # Building the plan is cheap (index lists only), so the length is exact, not estimated.
        return len(self._plan()) // self.world_size

    def state_dict(self) -> dict:
        """What resuming needs: seed and epoch (plus P, K, shard for a consistency check)."""
        return {"seed": self.seed, "epoch": self.epoch, "P": self.P, "K": self.K,
                "rank": self.rank, "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; P and K must match (else the plan would differ)."""
        if (state["P"], state["K"]) != (self.P, self.K):
            raise ValueError(f"sampler state has P={state['P']}, K={state['K']} but this sampler "
                             f"has P={self.P}, K={self.K}; resume with the same batch composition")
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])


def _split_chunks(idx: list[int], K: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffle one identity's indices and cut them into chunks of K (remainder dropped).

    An identity with fewer than K images is padded by sampling with replacement, so it
    still gives one chunk (the torchreid convention).
    """
    idx = list(idx)
    if len(idx) < K:
        idx = idx + rng.choice(idx, size=K - len(idx), replace=True).tolist()
    perm = rng.permutation(len(idx))
    shuffled = [idx[i] for i in perm]
    return [shuffled[i:i + K] for i in range(0, len(shuffled) - K + 1, K)]


class PKSampler(_PKBase):
    """P identities x K records each (aligned tuples: one record = one tuple).

    Args:
        pids: identity of each dataset item (length N), e.g. ``[r.pid for r in data.train]``.
        P, K: identities per batch and records per identity; batch size P*K.
        seed: fixes every epoch's plan together with :meth:`set_epoch`.
        rank, world_size: DDP shard (defaults: single process).
    """

    def __init__(self, pids: Sequence[int], P: int, K: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        self._init_common(P, K, seed, rank, world_size)
        self.index: dict[int, list[int]] = defaultdict(list)
        for i, pid in enumerate(pids):
            self.index[int(pid)].append(i)
        if len(self.index) < P:
            raise ValueError(f"PKSampler: {len(self.index)} identities but P={P}; lower P")
        self.batch_size = self.P * self.K

    def _chunks(self, rng: np.random.Generator) -> dict[int, list[list[int]]]:
        return {pid: _split_chunks(self.index[pid], self.K, rng) for pid in sorted(self.index)}


class ModalityBalancedPKSampler(_PKBase):
    """P identities x (K images of each modality) for unaligned single-modality records.

    Batch size P*K*M for M modalities; within a batch, each identity contributes K indices of
    modality 1, then K of modality 2, ... (canonical order given by ``modality_set``).
    Identities that lack a modality cannot give a balanced chunk: they are left out, counted
    in ``skipped_pids`` and reported once with a warning.

    Args:
        pids: identity of each item (length N).
        modalities: modality of each item (length N), e.g. ``[r.modalities[0] for r in recs]``.
        P, K, seed, rank, world_size: as :class:`PKSampler`.
        modality_set: modalities to balance (default: every modality present, sorted).
    """

    def __init__(self, pids: Sequence[int], modalities: Sequence[str], P: int, K: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, modality_set: Sequence[str] | None = None) -> None:
        self._init_common(P, K, seed, rank, world_size)
        if len(pids) != len(modalities):
            raise ValueError(f"pids ({len(pids)}) and modalities ({len(modalities)}) differ in length")
        mods = tuple(modality_set) if modality_set is not None else tuple(sorted(set(modalities)))
        self.modality_set = mods
        by: dict[int, dict[str, list[int]]] = defaultdict(lambda: {m: [] for m in mods})
        for i, (pid, m) in enumerate(zip(pids, modalities)):
            if m in mods:
                by[int(pid)][m].append(i)
        self.index = {pid: d for pid, d in by.items() if all(d[m] for m in mods)}
        self.skipped_pids = sorted(set(int(p) for p in pids) - set(self.index))
        if self.skipped_pids:
            warnings.warn(f"ModalityBalancedPKSampler: {len(self.skipped_pids)} identities lack one of "
                          f"{mods} and are not sampled (first: {self.skipped_pids[:5]})", stacklevel=2)
        if len(self.index) < P:
            raise ValueError(f"ModalityBalancedPKSampler: {len(self.index)} identities have every modality "
                             f"{mods} but P={P}; lower P")
        self.batch_size = self.P * self.K * len(mods)

    def _chunks(self, rng: np.random.Generator) -> dict[int, list[list[int]]]:
        out: dict[int, list[list[int]]] = {}
        for pid in sorted(self.index):
            per_mod = [_split_chunks(self.index[pid][m], self.K, rng) for m in self.modality_set]
            n = min(len(c) for c in per_mod)  # as many balanced chunks as the scarcest modality allows
            out[pid] = [sum((c[j] for c in per_mod), []) for j in range(n)]
        return out
