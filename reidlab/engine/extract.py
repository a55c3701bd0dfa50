"""Feature extraction: any :class:`ReIDMethod` + a dataset's splits -> a long-format FeatureSet."""
from __future__ import annotations

import inspect
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


def _embed_extras(model: torch.nn.Module, batch: Mapping, device) -> dict:
    """Keyword arguments ``model.embed`` declares beyond the images: ``sizes`` (original (w, h) per modality)."""
    try:
        params = inspect.signature(model.embed).parameters
    except (TypeError, ValueError):
        return {}
    out = {}
    if "sizes" in params and "size" in batch:
        out["sizes"] = {m: t.to(device) for m, t in batch["size"].items()}
    if "present" in params and "present" in batch:
        out["present"] = {m: torch.as_tensor(v).to(device) for m, v in batch["present"].items()}
    return out


@torch.no_grad()
def extract_features(model: torch.nn.Module, data: ReIDData, splits: Iterable[str],
                     transform: Callable, *, batch_size: int = 64, device: str | torch.device = "cpu",
                     num_workers: int = 0, modalities: Iterable[str] | None = None,
                     meta: Mapping[str, str] | None = None, progress: bool = True) -> FeatureSet:
    """Embed every record of ``splits`` with ``model.embed`` (eval mode, no grad).

    For each record and each key ``model.embed`` returns (``rgb``, ``nir``, ``fused:rgb+nir``...)
    one row is written, provided the record holds every modality the key needs; so an
    unaligned record (one modality) gets only the row of its own modality, and a tuple with a
    missing modality gets no fused row.

    Args:
        model: a ReIDMethod (a DDP wrapper is unwrapped).
        data: the dataset whose splits are embedded.
        splits: split names, e.g. ``["query", "gallery"]``.
        transform: test transform ``{mod: PIL} -> {mod: Tensor(3,H,W)}`` (``build_transforms(h, w, False)``).
        batch_size: records per forward pass.
        device: where the model runs.
        modalities: modalities to load (default: ``model.modalities``).
    Returns:
        FeatureSet with ``feats`` (R, D) float32 per split.
    """
    from reidlab.data.torch_dataset import ReIDImageDataset

    model = getattr(model, "module", model)
    mods = tuple(modalities) if modalities is not None else tuple(model.modalities)
    if not mods:
        raise ValueError(f"{type(model).__name__}.modalities is empty; the model must name the modalities it embeds")
    was_training = model.training
    model.eval()
    out: dict[str, SplitFeatures] = {}
    try:
        for split in splits:
            ds = ReIDImageDataset(data[split], mods, transform, relabel=False)
            records = ds.records  # records holding none of ``mods`` are left out by the dataset
            loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
            feats: list[np.ndarray] = []
            rec: list[np.ndarray] = []
            keys: list[np.ndarray] = []
            start = 0
            for batch in tqdm(loader, desc=f"extract {split}", leave=False, disable=not progress):
                images = {m: t.to(device, non_blocking=True) for m, t in batch["images"].items()}
                present = {m: np.asarray(v, dtype=bool) for m, v in batch["present"].items()}
                emb = model.embed(images, **_embed_extras(model, batch, device))
                b = next(iter(images.values())).shape[0]
                positions = np.arange(start, start + b)
                for key in sorted(emb):
                    need = _key_modalities(key)
                    ok = np.ones(b, dtype=bool)
                    for m in need:
                        ok &= present.get(m, np.zeros(b, dtype=bool))
                    if ok.any():
                        feats.append(emb[key].float().cpu().numpy()[ok])
                        rec.append(positions[ok])
                        keys.append(np.full(int(ok.sum()), key))
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
    m = {"method": getattr(model, "name", type(model).__name__)}
    m.update(meta or {})
    return FeatureSet(dataset=data.name, splits=out, meta=m)
