"""The dataset and the training sampler a :class:`reidlab.engine.config.TrainConfig` names."""
from __future__ import annotations

from typing import Any


def load_data(cfg: Any, dist_info: Any = None):
    """The dataset of ``cfg``: ``load_dataset(cfg.dataset, root)``; root None -> synthetic preset.

    Parameters
    ----------
    cfg : TrainConfig
        Reads ``dataset``, ``root``, ``preset``, ``data_seed``, ``synth_cache``, ``synth_overrides``.
    dist_info : DistInfo, optional
        Under DDP rank 0 generates the synthetic data first; the others reuse its cache.

    Returns
    -------
    ReIDData
    """
    from reidlab.data import load_dataset

    root = cfg.root
    if root is None:
        from reidlab.data.synth import ensure_synthetic
        from reidlab.engine.distributed import barrier

        def make():
            return ensure_synthetic(cfg.dataset, preset=cfg.preset, seed=cfg.data_seed, cache_dir=cfg.synth_cache,
                                    **cfg.synth_overrides)

        # Rank 0 generates first; the others reuse its cache (no concurrent writers).
        if dist_info is None or dist_info.is_main:
            root = make()
        if dist_info is not None:
            barrier(dist_info)
            if not dist_info.is_main:
                root = make()
    return load_dataset(cfg.dataset, root)


def build_sampler(records, aligned: bool, cfg: Any, modalities: tuple[str, ...], rank: int = 0,
                  world_size: int = 1):
    """P x K over aligned tuples; modality-balanced P x K (K per modality) for unaligned data.

    ``records`` must be the training dataset's own list (``ReIDImageDataset.records``): the
    sampler yields positions in it. ``cfg`` supplies ``P``, ``K`` and ``seed``.
    """
    from reidlab.data.samplers import ModalityBalancedPKSampler, PKSampler

    pids = [r.pid for r in records]
    if aligned:
        return PKSampler(pids, cfg.P, cfg.K, seed=cfg.seed, rank=rank, world_size=world_size)
    mods = [r.modalities[0] if r.modalities else "" for r in records]
    return ModalityBalancedPKSampler(pids, mods, cfg.P, cfg.K, seed=cfg.seed, rank=rank,
                                     world_size=world_size, modality_set=modalities)
