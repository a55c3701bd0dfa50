"""Process entry points for the two-process gloo tests (importable by ``torch.multiprocessing.spawn``)."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path


def mixed_data(root: str):
    """The smoke rgbn300 data with every second query record reduced to its NIR image (unaligned rows)."""
    from reidlab.data import load_dataset

    data = load_dataset("rgbn300", root)
    data.splits["query"] = [replace(r, images={"nir": r.images["nir"]}) if i % 2 else r
                            for i, r in enumerate(data.query)]
    return data


def tiny_model():
    import torch

    from _engine_dummy import TinyMethod

    torch.manual_seed(0)
    return TinyMethod(num_classes=5, modalities=("rgb", "nir"))


def extract_worker(rank: int, world: int, init_file: str, root: str, out_dir: str, batch_size: int) -> None:
    """Rank ``rank`` of a gloo group: sharded extraction of query + gallery, saved to out_dir/rank<r>.npz."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.distributed import DistInfo
    from reidlab.engine.extract import extract_features

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        fs = extract_features(tiny_model(), mixed_data(root), ["query", "gallery"],
                              build_transforms(32, 64, train=False), batch_size=batch_size, progress=False,
                              dist=DistInfo(rank=rank, world_size=world))
        fs.save(Path(out_dir) / f"rank{rank}.npz")
    finally:
        dist.destroy_process_group()
