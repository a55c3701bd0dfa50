"""Feature extraction: any :class:`ReIDMethod` + a dataset's splits -> a long-format FeatureSet."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from reidlab.data.records import ReIDData
from reidlab.eval.features import FeatureSet, SplitFeatures


def _key_modalities(key: str) -> tuple[str, ...]:
    """Modalities a feature key needs: ``"rgb"`` -> (rgb,), ``"fused:rgb+nir"`` -> (rgb, nir)."""
    return tuple(key[len("fused:"):].split("+")) if key.startswith("fused:") else (key,)


@torch.no_grad()
def extract_features(model: torch.nn.Module, data: ReIDData, splits: Iterable[str],
                     transform: Callable, *, batch_size: int = 64, device: str | torch.device = "cpu",
                     num_workers: int = 0, modalities: Iterable[str] | None = None,
                     meta: Mapping[str, str] | None = None, progress: bool = True) -> FeatureSet:
    """Embed every record of ``splits`` with ``model.embed`` (eval mode, no grad).

    Records are grouped by the modalities they hold and ``model.embed`` is called per group with
    only those modalities (never a placeholder image); each key it returns (``rgb``, ``nir``,
    ``fused:rgb+nir``...) gives one row per record. So an unaligned record (one modality) gets
    only the row(s) of its own modality, and a tuple with a missing modality gets no fused row;
    ``model.embed`` must therefore accept a dict holding a subset of its modalities. A method that
    declares ``sample_fields`` is called as ``model.embed(images, fields=...)`` with those samples'
    fields (:mod:`reidlab.data.sample_fields`).

    Args:
        model: a ReIDMethod (a DDP wrapper is unwrapped).
        data: the dataset whose splits are embedded.
        splits: split names, e.g. ``["query", "gallery"]``.
        transform: test transform ``{mod: PIL} -> {mod: Tensor(3,H,W)}`` (``build_transforms(h, w, False)``).
        batch_size: records per forward pass.
        device: where the model runs.
        modalities: modalities to load (default: ``model.modalities``).
    Returns:
        FeatureSet with ``feats`` (R, D) float32 per split, L2-normalised per row when
        ``model.feature_norm == "l2"``; ``meta["feature_norm"]`` records which.
    """
    from reidlab.data.sample_fields import fields_to, select_fields
    from reidlab.data.torch_dataset import ReIDImageDataset, collate_batch

    model = getattr(model, "module", model)
    mods = tuple(modalities) if modalities is not None else tuple(model.modalities)
    if not mods:
        raise ValueError(f"{type(model).__name__}.modalities is empty; the model must name the modalities it embeds")
    norm = getattr(model, "feature_norm", "none")
    if norm not in ("l2", "none"):
        raise ValueError(f"{type(model).__name__}.feature_norm={norm!r}; expected 'l2' or 'none'")
    fields = tuple(getattr(model, "sample_fields", ()))  # per-sample inputs the method declares
    was_training = model.training
    model.eval()
    out: dict[str, SplitFeatures] = {}
    try:
        for split in splits:
            ds = ReIDImageDataset(data[split], mods, transform, relabel=False, fields=fields)
            records = ds.records  # records holding none of ``mods`` are left out by the dataset
            loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                collate_fn=collate_batch)
            feats: list[np.ndarray] = []
            rec: list[np.ndarray] = []
            keys: list[np.ndarray] = []
            start = 0
            for batch in tqdm(loader, desc=f"extract {split}", leave=False, disable=not progress):
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
                    images = {m: batch["images"][m][torch.as_tensor(rows[m])].to(device, non_blocking=True)
                              for m in have}
                    if fields:  # the same samples' fields, on the device, passed as embed(images, fields=...)
                        emb = model.embed(images, fields=fields_to(select_fields(batch["fields"], sel, rows), device))
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
            out[split] = SplitFeatures(
                pid=[r.pid for r in records], camid=[r.camid for r in records],
                scene=[r.scene for r in records], index=[r.index for r in records],
                feats=np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
                record=np.concatenate(rec) if rec else np.zeros(0, np.int64),
                key=np.concatenate(keys) if keys else np.zeros(0, str))
    finally:
        model.train(was_training)
    m = {"method": getattr(model, "name", type(model).__name__), "feature_norm": norm}
    m.update(meta or {})
    return FeatureSet(dataset=data.name, splits=out, meta=m)
