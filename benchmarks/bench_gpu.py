"""One GPU benchmark: training throughput by precision / memory format, loader share, GPU vs CPU evaluation.

For the two-stream ``kamenou`` method (ResNet-50, ``pretrained=False``: no downloads) at 256x128 on
synthetic ``paper``-preset RGBN300 images (paper image size; the number of IDs / images is reduced by
synthetic overrides so generation stays short - the output says so), it prints a Markdown table of

* training images/s (every modality image counted; loader excluded: batches decoded and moved to the
  device beforehand) for fp32, bf16 and fp16 autocast, each with and without channels_last, plus
  the peak GPU memory of each set-up;
* the loader's share of a real step (loader + step, ``--num-workers`` workers);
* evaluation time of the 4,985 x 24,925 RGBN300 test (random 512-d features of the right size,
  as benchmarks/bench_eval.py) on the GPU against the CPU.

Results also go to ``--out`` (JSON).  The step is benchmarks/bench_train.py's ``Bench`` (the
engine's model, optimiser, loader and step).

    python benchmarks/bench_gpu.py --out gpu.json                     # full run, on one CUDA GPU (< 6 min)
    python benchmarks/bench_gpu.py --quick --out /tmp/q.json          # CPU smoke of the script (< 1 min)

``--quick`` runs resnet18 at 64x32 on the smoke preset, fp32 only, and a 500 x 2,500 evaluation.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_train import Bench  # noqa: E402
from reidlab.data.loading import load_data  # noqa: E402
from reidlab.engine.config import TrainConfig, resolve_config  # noqa: E402
from reidlab.engine.build import resolve_device  # noqa: E402

# reduced synthetic split at paper image size (generation on a bare machine must stay short)
FULL_OVERRIDES = dict(num_train_ids=32, num_test_ids=16, train_images=1024, query_images=64, gallery_images=256)
QUICK_OVERRIDES = dict(num_train_ids=16, num_test_ids=8, train_images=128, query_images=16, gallery_images=32)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _eval_time(q: int, g: int, device: str, dim: int = 512, ids: int = 150, cams: int = 8) -> dict:
    from reidlab.eval.metrics import rank_features
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(ids, dim)).astype(np.float32)
    qp, gp = rng.integers(0, ids, q), rng.integers(0, ids, g)
    qf = protos[qp] + 1.5 * rng.normal(size=(q, dim)).astype(np.float32)
    gf = protos[gp] + 1.5 * rng.normal(size=(g, dim)).astype(np.float32)
    meta = dict(q_pid=qp, g_pid=gp, q_camid=rng.integers(0, cams, q), g_camid=rng.integers(0, cams, g),
                junk="same_cam")
    dev = torch.device(device)
    if dev.type == "cuda":
        rank_features(qf[:64], gf[:256], device=device, **{**meta, "q_pid": qp[:64], "g_pid": gp[:256],
                                                            "q_camid": meta["q_camid"][:64],
                                                            "g_camid": meta["g_camid"][:256]})  # warm-up
    _sync(dev)
    t = time.perf_counter()
    r = rank_features(qf, gf, device=device, **meta)
    _sync(dev)
    return {"device": device, "query": q, "gallery": g, "seconds": time.perf_counter() - t, "mAP": float(r.mAP)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    ap.add_argument("--quick", action="store_true", help="CPU smoke: resnet18, 64x32, smoke preset, fp32 only")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--num-workers", type=int, default=None, help="loader workers (default 8 full, 0 quick)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 20 full, 2 quick)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5 full, 1 quick)")
    ap.add_argument("--P", type=int, default=8)
    ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--synth-cache", type=Path, default=REPO / "data" / "synth")
    args = ap.parse_args(argv)
    quick = args.quick
    device = resolve_device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    args.device = str(device)
    args.num_workers = args.num_workers if args.num_workers is not None else (0 if quick else 8)
    steps = args.steps or (2 if quick else 20)
    warmup = args.warmup if args.warmup is not None else (1 if quick else 5)
    args.preset = "smoke" if quick else "paper"
    args.optimizer = "adam"
    overrides = QUICK_OVERRIDES if quick else FULL_OVERRIDES
    backbone, (h, w) = ("resnet18", (64, 32)) if quick else ("resnet50", (256, 128))
    amps = ["none"] + (["bf16", "fp16"] if cuda else [])
    res: dict = {"device": torch.cuda.get_device_name(device) if cuda else "cpu", "torch": torch.__version__,
                 "method": "kamenou", "backbone": backbone, "size": [h, w], "preset": args.preset,
                 "synth_overrides": overrides, "P": args.P, "K": args.K, "steps": steps, "warmup": warmup,
                 "num_workers": args.num_workers, "train": [], "eval": []}
    print(f"# bench_gpu on {res['device']} (torch {torch.__version__})\n"
          f"kamenou / {backbone} / {h}x{w}; synthetic rgbn300 {args.preset} preset at its image size, "
          f"REDUCED split {overrides}; P x K = {args.P} x {args.K}", flush=True)

    t0 = time.perf_counter()
    cfg = resolve_config(TrainConfig(method="kamenou", dataset="rgbn300", modalities=["rgb", "nir"],
                                     preset=args.preset, data_seed=0, synth_cache=str(args.synth_cache),
                                     synth_overrides=dict(overrides), height=h, width=w, device=str(device)))
    data = load_data(cfg)
    res["synth_seconds"] = time.perf_counter() - t0
    print(f"synthetic data ready in {res['synth_seconds']:.1f} s", flush=True)

    for amp in amps:
        for cl in (False, True):
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            b = Bench(args, "kamenou", backbone=backbone, height=h, width=w, amp=amp, channels_last=cl, data=data)
            ips = b.measure_compute(steps, warmup)
            row = {"amp": "fp32" if amp == "none" else amp, "channels_last": cl, "compute_img_s": ips,
                   "peak_gpu_GiB": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None}
            res["train"].append(row)
            print(f"  {row}", flush=True)
            del b
    # the loader's share of a real step, in the fastest set-up measured
    best = max(res["train"], key=lambda r: r["compute_img_s"])
    b = Bench(args, "kamenou", backbone=backbone, height=h, width=w,
              amp="none" if best["amp"] == "fp32" else best["amp"], channels_last=best["channels_last"], data=data)
    train_ips, s_step = b.measure_train(steps, warmup)
    load_ips, load_s_step = b.measure_load(steps, warmup)
    res["loader"] = {"amp": best["amp"], "channels_last": best["channels_last"], "train_img_s": train_ips,
                     "s_per_step": s_step, "load_img_s": load_ips, "load_s_per_step": load_s_step,
                     "load_share": load_s_step / s_step, "num_workers": args.num_workers}
    del b

    q, g = (500, 2500) if quick else (4985, 24925)
    if cuda:
        res["eval"].append(_eval_time(q, g, str(device)))
    res["eval"].append(_eval_time(q, g, "cpu"))
    res["total_seconds"] = time.perf_counter() - t0

    lines = ["| precision | channels_last | train img/s (loader excluded) | peak GPU GiB |", "|---|---|---|---|"]
    for r in res["train"]:
        mem = f"{r['peak_gpu_GiB']:.2f}" if r["peak_gpu_GiB"] is not None else "-"
        lines.append(f"| {r['amp']} | {r['channels_last']} | {r['compute_img_s']:.1f} | {mem} |")
    L = res["loader"]
    lines += ["", "| real step ({amp}, channels_last={cl}, {n} workers) | img/s | s/step |".format(
        amp=L["amp"], cl=L["channels_last"], n=L["num_workers"]), "|---|---|---|",
        f"| loader + step | {L['train_img_s']:.1f} | {L['s_per_step']:.3f} |",
        f"| loader alone | {L['load_img_s']:.1f} | {L['load_s_per_step']:.3f} |",
        f"| loader share of a step | {100 * L['load_share']:.0f} % | |",
        "", f"| evaluation {q} x {g} (512-d random features) | seconds | mAP |", "|---|---|---|"]
    lines += [f"| {e['device']} | {e['seconds']:.2f} | {e['mAP']:.4f} |" for e in res["eval"]]
    lines.append(f"\nsynthetic generation {res['synth_seconds']:.1f} s; whole run {res['total_seconds']:.1f} s")
    print("\n".join(lines), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
