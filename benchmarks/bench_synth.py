"""Synthetic generator throughput: images (captures) written per second, per layout and preset.

Usage: ``python benchmarks/bench_synth.py [--presets smoke demo] [--layouts ...] [--paper-images N]``.
Plain printed output. ``--paper-images N`` times N captures at the real (paper) image size.
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from reidlab.data.synth import LAYOUTS, generate


def _count(root: Path) -> int:
    with open(root / "attributes.csv") as fh:
        return len({r["capture"] for r in csv.DictReader(fh)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", nargs="+", default=["smoke", "demo"])
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS))
    ap.add_argument("--paper-images", type=int, default=0, help="captures to time at paper size (0: skip)")
    a = ap.parse_args()
    print(f"{'layout':10s} {'preset':6s} {'captures':>8s} {'seconds':>8s} {'captures/s':>10s}")
    for preset in a.presets:
        for layout in a.layouts:
            with tempfile.TemporaryDirectory() as d:
                t = time.perf_counter()
                root = generate(layout, Path(d) / "ds", preset=preset, seed=0)
                dt = time.perf_counter() - t
                n = _count(root)
            print(f"{layout:10s} {preset:6s} {n:8d} {dt:8.2f} {n / dt:10.1f}")
    if a.paper_images:
        n = a.paper_images
        for layout in a.layouts:
            kw = dict(num_train_ids=1, num_test_ids=1, num_query_ids=1, train_images=n, query_images=1, gallery_images=2)
            with tempfile.TemporaryDirectory() as d:
                t = time.perf_counter()
                root = generate(layout, Path(d) / "ds", preset="paper", seed=0, **kw)
                dt = time.perf_counter() - t
                m = _count(root)
            print(f"{layout:10s} paper  {m:8d} {dt:8.2f} {1000 * dt / m:8.1f} ms/capture")


if __name__ == "__main__":
    main()
