"""The training DataLoader: built once per run, persistent workers, augmentations seeded per batch.

With ``persistent_workers`` the worker processes (and their RNG states) outlive an epoch, so the
per-epoch worker seeding of a fresh loader no longer holds: epoch e's augmentations would depend on
what the workers drew in epochs 0..e-1, and a resume (fresh workers) would differ from the
uninterrupted run. Instead each batch carries its own seed, ``derive_seed(seed, epoch, rank,
"batch", b)``; the worker that decodes batch ``b`` reseeds python's ``random``, numpy and torch with
it first. A batch's augmentations are then a pure function of (seed, epoch, rank, b): the same
with or without persistence, for any number of workers > 0, and after a resume.

With ``num_workers=0`` nothing changes: augmentations draw from the main process's RNGs, which the
trainer seeds from (seed, epoch, rank) at the start of every epoch (so 0 workers and N > 0 workers
give two different, each reproducible, augmentation streams).
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from reidlab.utils import derive_seed, worker_init_fn


class SeededBatches:
    """A batch sampler yielding ``[(batch_seed, index), ...]`` for each batch of ``batch_sampler``.

    ``set_epoch(epoch)`` forwards to the wrapped sampler (its reshuffle) and selects the seeds of
    that epoch. ``len`` is the wrapped sampler's.
    """

    def __init__(self, batch_sampler: Any, seed: int, rank: int) -> None:
        self.batch_sampler, self.seed, self.rank = batch_sampler, int(seed), int(rank)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.batch_sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for b, batch in enumerate(self.batch_sampler):
            s = derive_seed(self.seed, self.epoch, self.rank, "batch", b)
            yield [(s, int(i)) for i in batch]

    def __len__(self) -> int:
        return len(self.batch_sampler)


class BatchSeededDataset(Dataset):
    """Wraps a map dataset; ``__getitems__([(seed, i), ...])`` reseeds the RNGs with ``seed``, then loads.

    Only used in loader workers (their RNGs belong to the loader alone).
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        return self.__getitems__([item])[0]

    def __getitems__(self, items: Sequence[tuple[int, int]]) -> list[Any]:
        if items:
            s = int(items[0][0])
            random.seed(s)
            np.random.seed(s % (2**32))
            torch.manual_seed(s)
        return [self.dataset[i] for _, i in items]


def build_train_loader(dataset: Dataset, batch_sampler: Any, *, num_workers: int, seed: int, rank: int,
                       pin_memory: bool, collate_fn: Callable | None) -> DataLoader:
    """The run's training loader, to be built once and iterated every epoch.

    Call ``loader.batch_sampler.set_epoch(epoch)`` (a :class:`SeededBatches` when ``num_workers > 0``,
    else ``batch_sampler`` itself) before each epoch.

    Parameters
    ----------
    dataset, batch_sampler
        The training dataset and its P x K batch sampler (``set_epoch`` reshuffles).
    num_workers : int
        0: load in the main process; > 0: that many persistent workers.
    seed, rank : int
        Run seed and DDP rank, from which the per-batch seeds derive.
    pin_memory : bool
        Pinned host memory (CUDA).
    collate_fn : callable or None
    """
    if num_workers <= 0:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=0, pin_memory=pin_memory,
                          collate_fn=collate_fn)
    gen = torch.Generator().manual_seed(derive_seed(seed, rank, "loader"))
    return DataLoader(BatchSeededDataset(dataset), batch_sampler=SeededBatches(batch_sampler, seed, rank),
                      num_workers=num_workers, persistent_workers=True, worker_init_fn=worker_init_fn,
                      generator=gen, pin_memory=pin_memory, collate_fn=collate_fn)
