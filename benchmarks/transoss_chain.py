"""The TransOSS two-stage chain on synthetic data, timed per stage: pairs -> contrastive pre-training ->
fine-tuning on synthetic HOSS (with and without the pre-trained start) -> the three HOSS protocols,
each with its bootstrap 95 % CI and its chance level.

    # CPU, tiny ViT at 64x64 (the demo measurement of docs/MEASUREMENTS.md)
    python benchmarks/transoss_chain.py --preset demo --device cpu --out runs/chain
    # GPU, ViT-B/16 at 256x128
    python benchmarks/transoss_chain.py --preset demo --device cuda --backbone vit_base_patch16 \\
        --height 256 --width 128 --lr 1e-4 --workers 8 --out runs/chain-gpu
    # one lever at a time (here: synthetic SAR = optical luminance; no pre-training stage)
    python benchmarks/transoss_chain.py --preset demo --device cpu --starts scratch \\
        --synth '{"gap": 0.0}' --out runs/chain-gap0

No ImageNet weights are available offline: every ViT starts from random initialisation (or from the
contrastive stage), so the numbers say whether the chain runs and which way pre-training pushes,
not what the paper's set-up gives. Writes ``chain.json`` in ``--out`` (timings, pair retrieval before
and after pre-training, per run and protocol: mAP / R1 with 95 % CIs and the chance mAP / R1).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def chance_levels(features, protocol: str) -> dict[str, float]:
    """Expected mAP and R1 (fractions) of a uniformly random ranking of each query's gallery (junk removed)."""
    import numpy as np

    from reidlab.eval import evaluate
    from reidlab.eval.chance import chance_ap_array, chance_rank_k

    res = evaluate(features, protocol)
    pq = res.per_query
    pq = pq[pq["n_pos"] > 0]
    n_valid = np.round(float(res.summary["n_gallery"]) - pq["n_junk"].to_numpy(float)).astype(int)
    n_pos = pq["n_pos"].to_numpy(int)
    return {"chance_mAP": float(np.mean(chance_ap_array(n_pos, n_valid))),
            "chance_R1": float(np.mean(chance_rank_k(n_pos, n_valid, 1))), "n_query": int(len(pq))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="demo", help="synthetic HOSS preset (smoke / demo)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", default="transoss", help="transoss, or hwdnet (a two-stream CNN) as a lever")
    ap.add_argument("--backbone", default="vit_tiny_cpu")
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--method-overrides", default="{}", help="JSON, e.g. '{\"sse\": false, \"stride_size\": 4}'")
    ap.add_argument("--synth", default="{}", help="JSON generator overrides of synthetic HOSS, e.g. '{\"gap\": 0.0}'")
    ap.add_argument("--starts", default="scratch,pretrained", help="fine-tuning starts: scratch and/or pretrained")
    ap.add_argument("--pairs", type=int, default=384)
    ap.add_argument("--pair-gap", type=float, default=0.0)
    ap.add_argument("--pre-epochs", type=int, default=30)
    ap.add_argument("--pre-lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--P", type=int, default=8)
    ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch

    from reidlab.data.synth import ensure_synthetic
    from reidlab.data.transforms import build_transforms
    from reidlab.engine import train

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = str(out / "synth")
    shape = dict(backbone=a.backbone, height=a.height, width=a.width)
    mo = json.loads(a.method_overrides)
    synth = json.loads(a.synth)
    starts = [s for s in a.starts.split(",") if s]
    report: dict = {"args": vars(a), "device_name": torch.cuda.get_device_name() if a.device.startswith("cuda")
                    else "cpu", "threads": torch.get_num_threads(), "stages": {}}

    t = time.perf_counter()
    root = ensure_synthetic("hoss", preset=a.preset, seed=0, cache_dir=cache, **synth)
    report["stages"]["generate_hoss_s"] = time.perf_counter() - t

    ckpt = None
    if "pretrained" in starts:
        from reidlab.engine.contrastive import PairPretrainConfig, _build_model, pair_retrieval, pretrain_pairs

        pcfg = PairPretrainConfig(synth_pairs=a.pairs, synth_gap=a.pair_gap, synth_cache=cache, holdout=0.2,
                                  epochs=a.pre_epochs, batch_size=64, lr=a.pre_lr, optimizer="adam", warmup_epochs=2,
                                  device=a.device, transform={"erase_p": 0.0}, drop_path=0.0 if "tiny" in a.backbone
                                  else 0.1, out=str(out / "pretrain.pth"), seed=a.seed, **shape,
                                  **{k: mo[k] for k in ("mie", "mie_coef", "stride_size") if k in mo})
        t = time.perf_counter()
        pre = pretrain_pairs(pcfg, progress=False)
        report["stages"]["pairs_and_pretrain_s"] = time.perf_counter() - t
        tf = build_transforms(a.height, a.width, train=False)
        torch.manual_seed(a.seed)
        report["pair_retrieval_untrained"] = pair_retrieval(_build_model(pcfg).to(a.device), pre["held_out"], tf,
                                                            device=a.device)
        report["pair_retrieval_pretrained"] = pair_retrieval(pre["model"], pre["held_out"], tf, device=a.device)
        report["pretrain_loss"] = [round(h["loss"], 4) for h in pre["history"]]
        ckpt = str(out / "pretrain.pth")

    runs = {}
    for name in starts:
        overrides = {**mo, "backbone": a.backbone, "pretrained": ckpt if name == "pretrained" else False}
        if a.method != "transoss":
            overrides.pop("pretrained")
        t = time.perf_counter()
        run = train({"method": a.method, "dataset": "hoss", "root": str(root), "seed": a.seed, "device": a.device,
                     "amp": "bf16" if a.device.startswith("cuda") else "none", "num_workers": a.workers,
                     "epochs": a.epochs, "optimizer": a.optimizer, "lr": a.lr, "warmup_epochs": 2,
                     "warmup_factor": 0.1, "milestones": [], "height": a.height, "width": a.width, "P": a.P, "K": a.K,
                     "pretrained": False, "out_dir": str(out / "runs"), "run_name": name,
                     "method_overrides": overrides}, progress=False)
        secs = time.perf_counter() - t
        fs = run.load_features()
        rows = []
        for r in run.results.to_dict("records"):
            rows.append({k: r[k] for k in ("protocol", "mAP", "R1", "mAP_ci95", "R1_ci95", "n_query", "n_gallery")
                         if k in r} | chance_levels(fs, r["protocol"]))
        runs[name] = {"seconds": secs, "train_s": float(run.history["time_s"].sum()),
                      "loss": [round(x, 4) for x in run.history["loss"].tolist()], "results": rows}
        print(name, f"{secs:.0f} s", json.dumps(rows, default=str), flush=True)
    report["finetune"] = runs
    (out / "chain.json").write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps({k: v for k, v in report.items() if k not in ("finetune", "args")}, default=str))


if __name__ == "__main__":
    main()
