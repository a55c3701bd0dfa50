"""Learnability of the synthetic data: can a network learn cross-modal identity signal from it?

Trains the **shared-backbone baseline** (Kamenou with ``shared_streams: true``: one backbone for
RGB and NIR, BN per modality, FC_e on, lambda_cos = 0.5, no CD-RLL) on synthetic ``rgbn300`` with
the demo training setup (``notebooks/params/demo.yaml`` ``common.train``: ResNet-10t from scratch
at 48x96, P x K = 8 x 4, Adam 1e-3, its epochs unless ``--epochs``), then prints the cross-modal mAP
(``rgbn300/rgb2nir``, ``rgbn300/nir2rgb``), the multi-modal mAP (``rgbn300/rgb-nir``), their
ratio (mean cross / multi) and the exact chance mAP of each protocol
(:func:`reidlab.eval.chance.chance_map` over its queries). Real RGBN300 sits near 0.5
(Kamenou Table I: V->I 35.3 vs IV-IV 69.5); the synthetic demo preset should land in 0.3-0.7.

Levers (each row of the learnability table switches one of them off / back to the old value):

    --lever detail_ids=false                  per-ID geometry and NIR-visible details off
    --lever nir_paint_predictability=0        paint NIR reflectance independent of the pigment
    --lever num_train_ids=40 --lever train_images=800   the old demo split (40 IDs x 20 images)
    --lever gap=0.3                           any other generator knob (synth_overrides)

    python benchmarks/bench_learnability.py                       # the demo preset as shipped
    python benchmarks/bench_learnability.py --lever detail_ids=false
    python benchmarks/bench_learnability.py --epochs 10 --preset demo --seed 0

The data card's rows of 2026-11 used the demo setup of that time (8 epochs, milestone 6, no channels_last):
reproduce them at commit 5400ca7.

Timings depend on the machine and its load; the mAP numbers do not (the run is seeded).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reidlab.eval import evaluate  # noqa: E402
from reidlab.eval.chance import chance_map  # noqa: E402

CROSS = ("rgbn300/rgb2nir", "rgbn300/nir2rgb")
MULTI = "rgbn300/rgb-nir"
SHARED_BASELINE = {"shared_streams": True, "use_fc_e": True, "lambda_cos": 0.5, "cd_rll_weight": 0.0}


def _lever(items: list[str]) -> dict[str, Any]:
    """``["knob=value", ...]`` (values read as YAML) -> dict; exits with the parser's message on a bad item."""
    from reidlab.engine.config import parse_overrides

    try:
        return parse_overrides(items)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def measure(preset: str = "demo", epochs: int | None = None, seed: int = 0, synth_overrides: dict[str, Any] | None = None,
            synth_cache: str = "data/synth", out_dir: str | None = None, pretrained: Any = False,
            method_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the shared-backbone baseline once; return mAPs (percent), chance mAPs and the ratio."""
    from reidlab.engine.trainer import train

    common = yaml.safe_load((REPO / "notebooks/params/demo.yaml").read_text())["common"]["train"]
    cfg = dict(common, pretrained=pretrained)
    if epochs is not None:  # None: the demo's own epochs (and milestones)
        cfg["epochs"] = epochs
    cfg.update(method="kamenou", method_overrides={**SHARED_BASELINE, **(method_overrides or {})},
               dataset="rgbn300", preset=preset, seed=seed, data_seed=0, synth_cache=synth_cache,
               synth_overrides=dict(synth_overrides or {}), eval_protocols=[MULTI, *CROSS])
    with tempfile.TemporaryDirectory() as tmp:
        cfg.update(out_dir=out_dir or tmp, run_name="learnability")
        t0 = time.perf_counter()
        run = train(cfg, progress=False)
        wall = time.perf_counter() - t0
        return {"wall_s": wall, **learnability(run.load_features())}


def learnability(feats: Any) -> dict[str, Any]:
    """mAP (percent) and exact chance mAP of the multi-modal and both cross-modal protocols of one run's
    features, the mean cross-modal mAP (``cross``) and ``ratio`` = cross / multi."""
    res: dict[str, Any] = {}
    for name in (MULTI, *CROSS):
        ev = evaluate(feats, name)
        pq = ev.per_query[~ev.per_query["skipped"].astype(bool)]
        res[name] = 100.0 * float(ev.summary["mAP"])
        res[name + ":chance"] = 100.0 * chance_map(pq["n_pos"], ev.summary["n_gallery"] - pq["n_junk"])
    res["cross"] = sum(res[c] for c in CROSS) / len(CROSS)
    res["ratio"] = res["cross"] / res[MULTI]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--epochs", type=int, default=None, help="default: the demo's common.train epochs")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the data seed stays 0)")
    ap.add_argument("--lever", action="append", default=[], metavar="KNOB=VALUE",
                    help="generator knob override (repeatable), e.g. detail_ids=false")
    ap.add_argument("--method-override", action="append", default=[], metavar="KEY=VALUE",
                    help="Kamenou config override on top of the shared baseline, e.g. shared_streams=false")
    ap.add_argument("--synth-cache", default="data/synth")
    a = ap.parse_args()
    lev = _lever(a.lever)
    r = measure(a.preset, a.epochs, a.seed, lev, a.synth_cache, method_overrides=_lever(a.method_override))
    print(f"preset={a.preset} epochs={a.epochs or 'demo'} seed={a.seed} levers={lev or 'as shipped'} "
          f"method_overrides={_lever(a.method_override) or 'none'}")
    print(f"{'protocol':18s} {'mAP %':>7s} {'chance %':>8s}")
    for name in (MULTI, *CROSS):
        print(f"{name:18s} {r[name]:7.1f} {r[name + ':chance']:8.1f}")
    print(f"cross (mean) {r['cross']:.1f}  multi {r[MULTI]:.1f}  ratio cross/multi {r['ratio']:.2f}  "
          f"(target 0.3-0.7)  wall {r['wall_s']:.0f} s incl. data generation if not cached")


if __name__ == "__main__":
    main()
