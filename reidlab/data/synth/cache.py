"""Generate a synthetic dataset once and reuse it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from reidlab.data.synth.generate import META_NAME, generate
from reidlab.data.synth.presets import params_hash, resolve_params


def ensure_synthetic(
    layout: str, preset: str = "smoke", seed: int = 0, cache_dir: str | Path = "data/synth", **overrides: Any
) -> Path:
    """Return the root of ``cache_dir/<layout>-<preset>-s<seed>-<hash>``, generating it if needed.

    A folder is reused only when its ``reidlab_synth.json`` carries the same parameter hash
    (the json is written last, so an interrupted generation is detected and redone).

    Parameters
    ----------
    layout : str
        One of the six dataset names (native layout written, see ``generate``).
    preset : str
        ``smoke`` | ``demo`` | ``paper`` (see ``PRESETS``).
    seed : int
        Generator seed; same seed and parameters give byte-identical files.
    cache_dir : str or Path
        Folder holding the cached datasets.
    **overrides
        Knobs of ``resolve_params`` (``gap``, ``size``, ``num_train_ids`` ...); part of the hash.

    Returns
    -------
    Path
        The dataset root, for ``reidlab.data.load_dataset(layout, root)``.
    """
    p = resolve_params(layout, preset, seed, overrides)
    h = params_hash(p)
    root = Path(cache_dir) / f"{layout}-{preset}-s{seed}-{h}"
    meta = root / META_NAME
    if meta.exists():
        if json.loads(meta.read_text()).get("params_hash") == h:
            return root
    if root.exists():  # partial or stale: start again
        shutil.rmtree(root)
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    generate(layout, tmp, preset=preset, seed=seed, **overrides)
    tmp.rename(root)
    return root
