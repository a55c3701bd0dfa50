"""Indexing speed of a paper-size RGBN300 tree (~55k side-by-side files).

``load_dataset`` reads every file's header (width -> crop boxes) but decodes no pixel, so the
index only needs files with the right header. By default this writes a tree of the paper's
split sizes (train 25,200 / query 4,985 / gallery 24,925 files) filled with copies of one
small RGB|NIR JPEG, then times ``load_dataset("rgbn300", root)``.

    python benchmarks/bench_index.py                 # dummy tree in a temp dir (deleted after)
    python benchmarks/bench_index.py --root DIR      # time an existing tree (e.g. real RGBN300)
    python benchmarks/bench_index.py --synth         # reidlab.data.synth.ensure_synthetic(paper)
"""
from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Paper split sizes (datasets.md): 150 train IDs / 25,200 pairs; query 4,985; gallery 24,925.
SPLITS = {"bounding_box_train": (25_200, 1), "query": (4_985, 151), "bounding_box_test": (24_925, 151)}


def write_dummy_tree(root: Path, width: int = 64, height: int = 16) -> int:
    """Write the paper-size tree with one shared ``width x height`` JPEG; returns the file count."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buf, "JPEG")
    blob = buf.getvalue()
    n = 0
    for folder, (count, first_pid) in SPLITS.items():
        d = root / "rgbir" / folder
        d.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pid = first_pid + i % 150
            cam = 1 + (i // 150) % 8
            (d / f"{pid:04d}_c{cam:04d}_{i:05d}.jpg").write_bytes(blob)
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, help="existing RGBN300 tree to index instead of a dummy one")
    ap.add_argument("--synth", action="store_true", help="use ensure_synthetic('rgbn300', preset='paper')")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs (the first warms the page cache)")
    args = ap.parse_args(argv)

    from reidlab.data import load_dataset

    tmp = None
    if args.root is not None:
        root = args.root
    elif args.synth:
        from reidlab.data.synth import ensure_synthetic

        root = ensure_synthetic("rgbn300", preset="paper")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_index_"))
        t0 = time.perf_counter()
        n = write_dummy_tree(tmp)
        print(f"wrote {n} dummy files in {time.perf_counter() - t0:.1f} s")
        root = tmp
    try:
        for k in range(args.repeat):
            t0 = time.perf_counter()
            data = load_dataset("rgbn300", root)
            dt = time.perf_counter() - t0
            n = sum(len(v) for v in data.splits.values())
            print(f"run {k + 1}: indexed {n} files ({', '.join(f'{s}={len(v)}' for s, v in data.splits.items())}) "
                  f"in {dt:.2f} s = {dt / n * 1e6:.0f} us/file; rate for 50k images: {dt / n * 50_000:.2f} s")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
