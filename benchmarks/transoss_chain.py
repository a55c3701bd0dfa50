"""The TransOSS two-stage chain on synthetic data, timed per stage: pairs -> contrastive pre-training ->
fine-tuning on synthetic HOSS (with and without the pre-trained start) -> the three HOSS protocols.

    python benchmarks/transoss_chain.py --preset demo --device cuda --out runs/chain       # GPU, ViT-B/16
    python benchmarks/transoss_chain.py --preset smoke --tiny --device cpu --out /tmp/chain  # CPU check

No ImageNet weights are available offline: both ViTs start from random initialisation, so the numbers
say whether the chain runs and which direction pre-training pushes, not what the paper's set-up gives.
Writes ``chain.json`` (timings, retrieval before/after pre-training, the protocols' mAP/R1 with
bootstrap CIs per run) in ``--out``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tiny", action="store_true", help="the CPU ViT at 64x32 instead of ViT-B/16 at 256x128")
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--pre-epochs", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--workers", type=int, default=8)
    a = ap.parse_args()

    import torch

    from reidlab.data.synth import ensure_synthetic
    from reidlab.data.transforms import build_transforms
    from reidlab.engine import train
    from reidlab.engine.contrastive import PairPretrainConfig, _build_model, pair_retrieval, pretrain_pairs

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = str(out / "synth")
    shape = (dict(backbone="vit_tiny_cpu", height=64, width=32) if a.tiny
             else dict(backbone="vit_base_patch16", height=256, width=128))
    report: dict = {"args": vars(a), "shape": shape, "device_name": torch.cuda.get_device_name() if a.device == "cuda"
                    else "cpu", "stages": {}}

    t = time.perf_counter()
    root = ensure_synthetic("hoss", preset=a.preset, seed=0, cache_dir=cache)
    report["stages"]["generate_hoss_s"] = time.perf_counter() - t

    pcfg = PairPretrainConfig(synth_pairs=a.pairs, synth_gap=0.0, synth_cache=cache, holdout=0.2, epochs=a.pre_epochs,
                              batch_size=64, lr=a.lr, optimizer="adam", warmup_epochs=2, device=a.device,
                              transform={"erase_p": 0.0}, drop_path=0.1, out=str(out / "pretrain.pth"), **shape)
    t = time.perf_counter()
    pre = pretrain_pairs(pcfg, progress=True)
    report["stages"]["pretrain_s"] = time.perf_counter() - t
    tf = build_transforms(shape["height"], shape["width"], train=False)
    torch.manual_seed(0)
    report["pair_retrieval_untrained"] = pair_retrieval(_build_model(pcfg).to(a.device), pre["held_out"], tf,
                                                        device=a.device)
    report["pair_retrieval_pretrained"] = pair_retrieval(pre["model"], pre["held_out"], tf, device=a.device)
    report["pretrain_loss"] = [h["loss"] for h in pre["history"]]

    runs = {}
    for name, start in (("scratch", False), ("pretrained", str(out / "pretrain.pth"))):
        t = time.perf_counter()
        run = train({"method": "transoss", "dataset": "hoss", "root": str(root), "seed": 0, "device": a.device,
                     "amp": "bf16" if a.device == "cuda" else "none", "num_workers": a.workers,
                     "epochs": a.epochs, "optimizer": "adam", "lr": a.lr, "warmup_epochs": 2, "milestones": [],
                     "height": shape["height"], "width": shape["width"], "P": 8, "K": 4,
                     "out_dir": str(out / "runs"), "run_name": name,
                     "method_overrides": {"backbone": shape["backbone"], "pretrained": start}}, progress=False)
        runs[name] = {"seconds": time.perf_counter() - t,
                      "loss": run.history["loss"].tolist(),
                      "results": run.results[[c for c in ("protocol", "mAP", "R1", "mAP_ci95", "R1_ci95", "n_query",
                                                          "n_gallery") if c in run.results]].to_dict("records")}
        print(name, json.dumps(runs[name]["results"], default=str), flush=True)
    report["finetune"] = runs
    (out / "chain.json").write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps({k: v for k, v in report.items() if k != "finetune"}, default=str))


if __name__ == "__main__":
    main()
