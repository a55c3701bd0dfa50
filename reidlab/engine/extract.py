"""Feature extraction: any :class:`ReIDMethod` + a dataset's splits -> a long-format FeatureSet."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from reidlab.data.records import ReIDData
from reidlab.engine.distributed import DistInfo, all_gather_objects, all_gather_rows, all_ranks, batch_aligned_shard
from reidlab.eval.features import FeatureSet, SplitFeatures


def _key_modalities(key: str) -> tuple[str, ...]:
    """Modalities a feature key needs: ``"rgb"`` -> (rgb,), ``"fused:rgb+nir"`` -> (rgb, nir)."""
    return tuple(key[len("fused:"):].split("+")) if key.startswith("fused:") else (key,)


@torch.no_grad()
def extract_features(model: torch.nn.Module, data: ReIDData, splits: Iterable[str],
                     transform: Callable, *, batch_size: int = 64, device: str | torch.device = "cpu",
                     num_workers: int = 0, modalities: Iterable[str] | None = None,
                     meta: Mapping[str, str] | None = None, progress: bool = True,
                     dist: DistInfo | None = None) -> FeatureSet:
    """Embed every record of ``splits`` with ``model.embed`` (eval mode, no grad).

    Records are grouped by the modalities they hold and ``model.embed`` is called per group with
    only those modalities (never a placeholder image); each key it returns (``rgb``, ``nir``,
    ``fused:rgb+nir``...) gives one row per record. So an unaligned record (one modality) gets
    only the row(s) of its own modality, and a tuple with a missing modality gets no fused row;
    ``model.embed`` must therefore accept a dict holding a subset of its modalities. A method that
    declares ``sample_fields`` is called as ``model.embed(images, fields=...)`` with those samples'
    fields (:mod:`reidlab.data.sample_fields`).

    Under DDP (``dist`` with world_size > 1; every rank must call this) each rank embeds a
    contiguous, batch-aligned slice of every split (:func:`batch_aligned_shard`), and the rows are
    gathered in rank order on every rank: the batches are the single-process batches, so the
    FeatureSet equals the single-process one (same rows, same order). A failure on any rank stops
    every rank (:func:`reidlab.engine.distributed.agree`) before the gather.

    Args:
        model: a ReIDMethod (a DDP wrapper is unwrapped).
        data: the dataset whose splits are embedded.
        splits: split names, e.g. ``["query", "gallery"]``.
        transform: test transform ``{mod: PIL} -> {mod: Tensor(3,H,W)}`` (``build_transforms(h, w, False)``).
        batch_size: records per forward pass.
        device: where the model runs.
        num_workers: DataLoader workers decoding images (pinned memory on CUDA).
        modalities: modalities to load (default: ``model.modalities``).
        dist: this process's place in a DDP job (None = single process).
    Returns:
        FeatureSet with ``feats`` (R, D) float32 per split, L2-normalised per row when
        ``model.feature_norm == "l2"``; ``meta["feature_norm"]`` records which.
    """
    from reidlab.data.torch_dataset import ReIDImageDataset

    dist = dist or DistInfo()
    model = getattr(model, "module", model)
    mods = tuple(modalities) if modalities is not None else tuple(model.modalities)
    if not mods:
        raise ValueError(f"{type(model).__name__}.modalities is empty; the model must name the modalities it embeds")
    norm = getattr(model, "feature_norm", "none")
    if norm not in ("l2", "none"):
        raise ValueError(f"{type(model).__name__}.feature_norm={norm!r}; expected 'l2' or 'none'")
    splits = list(splits)
    fields = tuple(getattr(model, "sample_fields", ()))  # per-sample inputs the method declares
    datasets = {s: ReIDImageDataset(data[s], mods, transform, relabel=False, fields=fields) for s in splits}
    local: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    was_training = model.training
    model.eval()
    with all_ranks(dist, "feature extraction"):
        try:
            for split in splits:
                ds = datasets[split]
                lo, hi = batch_aligned_shard(len(ds), batch_size, dist.rank, dist.world_size)
                local[split] = _embed_slice(model, ds, lo, hi, mods, norm, batch_size=batch_size, device=device,
                                            num_workers=num_workers, progress=progress and dist.is_main,
                                            desc=f"extract {split}")
        finally:
            model.train(was_training)
    out: dict[str, SplitFeatures] = {}
    for split in splits:
        records = datasets[split].records  # records holding none of ``mods`` are left out by the dataset
        feats, rec, keys = _gather(dist, *local[split])
        out[split] = SplitFeatures(
            pid=[r.pid for r in records], camid=[r.camid for r in records],
            scene=[r.scene for r in records], index=[r.index for r in records],
            feats=feats, record=rec, key=keys)
    m = {"method": getattr(model, "name", type(model).__name__), "feature_norm": norm}
    m.update(meta or {})
    return FeatureSet(dataset=data.name, splits=out, meta=m)


def _embed_slice(model: torch.nn.Module, ds, lo: int, hi: int, mods: tuple[str, ...], norm: str, *,
                 batch_size: int, device: str | torch.device, num_workers: int, progress: bool,
                 desc: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of records ``ds.records[lo:hi]``: (feats (R, D) float32, record positions (R,), keys (R,))."""
    from reidlab.data.sample_fields import fields_to, select_fields
    from reidlab.data.torch_dataset import collate_batch

    fields = tuple(getattr(model, "sample_fields", ()))
    dev = torch.device(device)
    loader = DataLoader(Subset(ds, range(lo, hi)), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=collate_batch, pin_memory=dev.type == "cuda")
    feats: list[np.ndarray] = []
    rec: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    start = lo
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress):
        present = {m: batch["present"][m].numpy() for m in mods}
        b = len(batch["pid"])
        positions = np.arange(start, start + b)
        # Row of each batch position inside images[m] (images[m] stacks only samples having m).
        row_in = {m: np.cumsum(present[m]) - 1 for m in mods}
        # One embed call per presence pattern: every call sees only real images, all aligned.
        patterns = np.stack([present[m] for m in mods], axis=1)
        for pat in np.unique(patterns, axis=0):
            sel = np.flatnonzero((patterns == pat).all(axis=1))
            have = [m for m, p in zip(mods, pat) if p]
            if not have:
                continue
            rows = {m: row_in[m][sel] for m in have}
            images = {m: batch["images"][m][torch.as_tensor(rows[m])].to(dev, non_blocking=True) for m in have}
            if fields:  # the same samples' fields, on the device, passed as embed(images, fields=...)
                emb = model.embed(images, fields=fields_to(select_fields(batch["fields"], sel, rows), dev))
            else:
                emb = model.embed(images)
            for key in sorted(emb):
                if not set(_key_modalities(key)) <= set(have):
                    raise ValueError(f"{type(model).__name__}.embed returned {key!r} for a batch holding "
                                     f"only {have}; embed must return keys of the modalities given")
                f = emb[key].float()
                if norm == "l2":  # as the method's public code evaluates
                    f = torch.nn.functional.normalize(f, dim=1)
                feats.append(f.cpu().numpy())
                rec.append(positions[sel])
                keys.append(np.full(len(sel), key))
        start += b
    dim = feats[0].shape[1] if feats else 0
    return (np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
            np.concatenate(rec) if rec else np.zeros(0, np.int64),
            np.concatenate(keys) if keys else np.zeros(0, str))


def _gather(dist: DistInfo, feats: np.ndarray, rec: np.ndarray,
            keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every rank's rows concatenated in rank order (a single process: unchanged)."""
    if not dist.enabled:
        return feats, rec, keys
    info = all_gather_objects(dist, (sorted(set(keys.tolist())), int(feats.shape[1])))
    vocab = sorted({k for ks, _ in info for k in ks})
    dim = max(d for _, d in info)
    if feats.shape[0] == 0:
        feats = np.zeros((0, dim), np.float32)
    code = {k: i for i, k in enumerate(vocab)}
    idx = np.stack([rec.astype(np.int64), np.array([code[k] for k in keys.tolist()], np.int64)], axis=1) \
        if len(rec) else np.zeros((0, 2), np.int64)
    all_feats = all_gather_rows(dist, torch.from_numpy(np.ascontiguousarray(feats, np.float32))).numpy()
    all_idx = all_gather_rows(dist, torch.from_numpy(idx)).numpy()
    all_keys = np.array(vocab)[all_idx[:, 1]] if len(all_idx) else np.zeros(0, str)
    return all_feats, all_idx[:, 0], all_keys
