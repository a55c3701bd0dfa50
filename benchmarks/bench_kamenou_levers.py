"""Kamenou (FC_e + L_cos, no CD-RLL) at the demo preset, one lever at a time; prints mAP (%) per protocol.

Each argument is ``LABEL:KEY=VALUE;KEY=VALUE`` (VALUE is YAML; ``m.KEY`` sets a method override), e.g.::

    python benchmarks/bench_kamenou_levers.py "as shipped:" "scratch:pretrained=false" \
        "FC_e only:m.lambda_cos=0.0" "p 0.85:synth_overrides={nir_paint_predictability: 0.85}"

Runs go to ``runs/kamenou_levers/<method>-<config hash>`` (reused when finished). Chance mAP of the
demo test split (40 IDs): about 3.1 %. Uses ``notebooks/params/demo.yaml``'s ``common.train``.
"""
import json
import sys
import time
from pathlib import Path

import yaml

from reidlab.engine.run_cache import get_or_train

ROOT = Path(__file__).resolve().parents[1]
common = yaml.safe_load((ROOT / "notebooks/params/demo.yaml").read_text())["common"]["train"]
base = dict(method="kamenou", dataset="rgbn300", modalities=["rgb", "nir"], preset="demo", seed=0,
            method_overrides={"use_fc_e": True, "lambda_cos": 0.5, "cd_rll_weight": 0.0}, **common)
for arg in sys.argv[1:]:
    label, _, sets = arg.partition(":")
    cfg = json.loads(json.dumps(base))
    for kv in filter(None, sets.split(";")):
        k, v = kv.split("=", 1)
        v = yaml.safe_load(v)
        if k.startswith("m."):
            cfg["method_overrides"][k[2:]] = v
        else:
            cfg[k] = v
    t0 = time.time()
    run, reused, h = get_or_train(cfg, "runs/kamenou_levers", progress=False)
    r = run.results.set_index("protocol")["mAP"] * 100
    print(f"{label:28s} {h} rgb {r['rgbn300/rgb']:.1f} nir {r['rgbn300/nir']:.1f} iviv {r['rgbn300/rgb-nir']:.1f} "
          f"v2i {r['rgbn300/rgb2nir']:.1f} i2v {r['rgbn300/nir2rgb']:.1f}  ({time.time()-t0:.0f}s{' reused' if reused else ''})", flush=True)
