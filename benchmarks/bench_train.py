"""Training throughput of every method (images/s, every modality image counted) on the synthetic demo data.

For each method it prints:

* ``train``   - the real training step fed by the real loader: the engine's DataLoader over
  ``ReIDImageDataset`` + joint train transforms + P x K sampler, then forward, ``model.loss``,
  backward and optimiser step (autocast / GradScaler / channels_last as the engine does them);
* ``compute`` - the same step on batches already decoded and moved to the device (the loader
  left out): what the model alone could sustain;
* ``load``    - the loader alone (decode + augment + collate, nothing else);
* ``ms/step`` - wall time per training step (``train``), and ``load %`` - the loader's share
  of a step (load time per step / train time per step; near 100 % means the loader bounds training).

Everything is built with the engine's own blocks (``resolve_config``, ``load_data``,
``build_transforms``, ``ReIDImageDataset``, ``build_sampler``, ``build_model``,
``build_optimizer``); the step body mirrors the inner loop of ``reidlab.engine.trainer``.
The first ``--warmup`` steps are not timed; on CUDA every timer is bracketed by
``torch.cuda.synchronize()``.

On CUDA a second table compares, for the two-stream ``--compare-method`` (default kamenou)
with ResNet-50 at 256x128, fp32 against bf16/fp16 autocast, each with and without
channels_last, and prints the speed-up over fp32, the peak GPU memory and the loader's own
throughput at that size (``--compare on`` runs the fp32 / channels_last part on the CPU too;
``--compare off`` skips it).

    python benchmarks/bench_train.py                                  # CPU: resnet18, 64x128
    python benchmarks/bench_train.py --steps 20 --methods msn,kamenou
    python benchmarks/bench_train.py --device cuda --num-workers 8                # + the fp32/AMP table
    python benchmarks/bench_train.py --device cuda --backbone resnet50 --height 256 --width 128 --amp bf16

Numbers depend on the machine (and on other load on it); run it yourself.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reidlab.data.torch_dataset import ReIDImageDataset  # noqa: E402
from reidlab.data.transforms import build_transforms  # noqa: E402
from reidlab.engine.config import TrainConfig, resolve_config  # noqa: E402
from reidlab.data.loading import build_sampler, load_data  # noqa: E402
from reidlab.engine.build import build_model, build_optimizer, resolve_device  # noqa: E402
from reidlab.engine.trainer import _autocast, _to_float  # noqa: E402
from reidlab.methods.base import outputs_to_fp32  # noqa: E402
from reidlab.utils import derive_seed, seed_everything, worker_init_fn  # noqa: E402

METHOD_MODALITIES = {"one_stream": ["rgb"], "msn": ["rgb", "nir"], "hamnet": ["rgb", "nir"],
                     "kamenou": ["rgb", "nir"]}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batches(loader: DataLoader, sampler) -> Any:
    """Endless iteration over the loader, epoch after epoch (the sampler's plan changes per epoch)."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


class Bench:
    """One (method, backbone, size, precision) set-up: the engine's model, optimiser, loader."""

    def __init__(self, args: argparse.Namespace, method: str, *, backbone: str, height: int, width: int,
                 amp: str, channels_last: bool, data=None) -> None:
        mods = METHOD_MODALITIES.get(method)
        if mods is None:
            raise SystemExit(f"unknown method {method!r}; choose from {sorted(METHOD_MODALITIES)}")
        cfg = TrainConfig(method=method, dataset="rgbn300", modalities=mods, preset=args.preset, data_seed=0,
                          synth_cache=str(args.synth_cache), seed=0, backbone=backbone, pretrained=False,
                          height=height, width=width, P=args.P, K=args.K, epochs=1, optimizer=args.optimizer,
                          warmup_epochs=0, milestones=[], amp=amp, channels_last=channels_last,
                          num_workers=args.num_workers, device=args.device, final_eval=False)
        self.cfg = cfg = resolve_config(cfg)
        self.device = device = resolve_device(cfg.device)
        if device.type != "cuda" and amp != "none":
            raise SystemExit(f"--amp {amp} needs CUDA (the engine refuses autocast on {device}); use --amp none")
        seed_everything(derive_seed(cfg.seed, "init"))
        self.data = data if data is not None else load_data(cfg)
        self.modalities = tuple(mods)
        tf = build_transforms(cfg.height, cfg.width, train=True, **cfg.transform)
        self.dataset = ReIDImageDataset(self.data.train, self.modalities, tf, relabel=True)
        self.sampler = build_sampler(self.dataset.records, self.data.aligned, cfg, self.modalities)
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, 0, 0, "loader"))
        # as the engine builds it (workers restart at each epoch there too)
        self.loader = DataLoader(self.dataset, batch_sampler=self.sampler, num_workers=cfg.num_workers,
                                 worker_init_fn=worker_init_fn, generator=gen, pin_memory=device.type == "cuda",
                                 collate_fn=ReIDImageDataset.collate)
        self.model = build_model(cfg, self.dataset.num_classes, self.modalities).to(device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, cfg)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")
        self.pass_present = bool(getattr(self.model, "accepts_missing", False)) and not self.data.aligned
        self.model.train()

    # -- the engine's step ------------------------------------------------------------------
    def to_device(self, batch: dict) -> tuple[dict, torch.Tensor, dict]:
        dev, cfg = self.device, self.cfg
        images = {m: t.to(dev, non_blocking=True) for m, t in batch["images"].items()}
        if cfg.channels_last:
            images = {m: t.contiguous(memory_format=torch.channels_last) for m, t in images.items()}
        present = {m: v.to(dev) for m, v in batch["present"].items()}
        return images, batch["label"].to(dev, non_blocking=True), present

    def step(self, images: dict, labels: torch.Tensor, present: dict) -> int:
        with _autocast(self.device, self.cfg.amp):
            outputs = self.model(images, present=present) if self.pass_present else self.model(images)
        total, _ = self.model.loss(outputs_to_fp32(outputs), labels)  # loss in fp32, as the engine
        if not torch.isfinite(total.detach()).item():  # the engine's per-step divergence check (a sync)
            raise RuntimeError(f"non-finite loss {float(total)} ({self.cfg.method}, amp={self.cfg.amp})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        _to_float(total)  # the engine logs the loss every step
        return sum(int(t.shape[0]) for t in images.values())  # every modality image

    # -- measurements ---------------------------------------------------------------------------
    def measure_train(self, steps: int, warmup: int) -> tuple[float, float]:
        """(images/s, s/step) of loader + step, warm-up steps excluded."""
        it = _batches(self.loader, self.sampler)
        for _ in range(warmup):
            self.step(*self.to_device(next(it)))
        _sync(self.device)
        n, t0 = 0, time.perf_counter()
        for _ in range(steps):
            n += self.step(*self.to_device(next(it)))
        _sync(self.device)
        dt = time.perf_counter() - t0
        return n / dt, dt / steps

    def measure_compute(self, steps: int, warmup: int) -> float:
        """images/s of the step alone, on a few batches decoded and moved to the device beforehand."""
        it = _batches(self.loader, self.sampler)
        cached = [self.to_device(next(it)) for _ in range(min(4, steps + warmup))]
        for i in range(warmup):
            self.step(*cached[i % len(cached)])
        _sync(self.device)
        n, t0 = 0, time.perf_counter()
        for i in range(steps):
            n += self.step(*cached[i % len(cached)])
        _sync(self.device)
        return n / (time.perf_counter() - t0)

    def measure_load(self, steps: int, warmup: int) -> tuple[float, float]:
        """(images/s, s/batch) of the loader alone (decode, joint augmentation, collate)."""
        it = _batches(self.loader, self.sampler)
        for _ in range(warmup):
            next(it)
        n, t0 = 0, time.perf_counter()
        for _ in range(steps):
            n += sum(int(t.shape[0]) for t in next(it)["images"].values())
        dt = time.perf_counter() - t0
        return n / dt, dt / steps


def _table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    head = [c[1] for c in cols]
    body = [[format(r[k], f) if isinstance(r[k], (int, float)) and f else str(r[k]) for k, _, f in cols]
            for r in rows]
    w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(cells))  # noqa: E731
    return "\n".join([line(head), line(["-" * x for x in w])] + [line(b) for b in body])


def compare_precisions(args: argparse.Namespace, data, device: torch.device, steps: int, warmup: int) -> list[dict]:
    """fp32 vs bf16/fp16 autocast, each without and with channels_last, for ``--compare-method``.

    On the CPU only fp32 and fp32 + channels_last are run (the engine allows autocast on CUDA only).
    """
    cuda = device.type == "cuda"
    h, w = (int(x) for x in args.compare_size.lower().split("x"))
    print(f"\nfp32 vs AMP: {args.compare_method} ({args.compare_backbone}, {h}x{w}, "
          f"P x K = {args.P} x {args.K})", flush=True)
    amps = ("none", "bf16", "fp16") if cuda else ("none",)
    if cuda and not torch.cuda.is_bf16_supported():
        amps = ("none", "fp16")
    rows = []
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    for amp in amps:
        for cl in (False, True):
            b = Bench(args, args.compare_method, backbone=args.compare_backbone, height=h, width=w, amp=amp,
                      channels_last=cl, data=data)
            comp = b.measure_compute(steps, warmup)
            train, s_step = b.measure_train(steps, warmup)
            rows.append(dict(prec={"none": "fp32"}.get(amp, amp) + (" + channels_last" if cl else ""),
                             train=train, compute=comp, ms=1000 * s_step,
                             mem=torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")))
            print(f"  {rows[-1]['prec']}: compute {comp:.1f} img/s, train {train:.1f} img/s", flush=True)
            del b
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
    base_c, base_t = rows[0]["compute"], rows[0]["train"]
    for r in rows:
        r["sp_c"] = f"x{r['compute'] / base_c:.2f}"
        r["sp_t"] = f"x{r['train'] / base_t:.2f}"
    b = Bench(args, args.compare_method, backbone=args.compare_backbone, height=h, width=w, amp="none",
              channels_last=False, data=data)
    load, _ = b.measure_load(steps, warmup)
    del b
    cols = [("prec", "precision", ""), ("compute", "compute img/s", ".1f"), ("sp_c", "speed-up", ""),
            ("train", "train img/s", ".1f"), ("sp_t", "speed-up", ""), ("ms", "ms/step", ".0f")]
    if cuda:
        cols.append(("mem", "peak GiB", ".2f"))
    print()
    print(_table(rows, cols))
    print(f"loader alone at {h}x{w} ({args.num_workers} workers): {load:.1f} img/s "
          "(if 'train img/s' sits near it, the loader is the bottleneck: raise --num-workers)")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="one_stream,msn,hamnet,kamenou", help="comma-separated method names")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default: 3 CPU, 30 CUDA)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 1 CPU, 5 CUDA)")
    ap.add_argument("--P", type=int, default=8, help="identities per batch")
    ap.add_argument("--K", type=int, default=4, help="tuples per identity (aligned data)")
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    ap.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"])
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--num-workers", type=int, default=0, help="DataLoader workers (the engine's num_workers)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    ap.add_argument("--preset", default="demo", help="synthetic preset of the rgbn300 layout")
    ap.add_argument("--synth-cache", type=Path, default=REPO / "data" / "synth")
    ap.add_argument("--compare-method", default="kamenou", help="two-stream method of the fp32/AMP table")
    ap.add_argument("--compare-backbone", default="resnet50")
    ap.add_argument("--compare-size", default="256x128", help="HxW of the CUDA fp32/AMP table")
    ap.add_argument("--compare", default="auto", choices=["auto", "on", "off"],
                    help="fp32/AMP/channels_last table: auto = on CUDA only (on the CPU: fp32 vs channels_last)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (30 if cuda else 3)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    dev_name = torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device {dev_name}; torch {torch.__version__}; rgbn300 {args.preset}; P x K = {args.P} x {args.K}; "
          f"{steps} timed steps after {warmup} warm-up; num_workers {args.num_workers}", flush=True)

    data = None
    rows = []
    for method in methods:
        b = Bench(args, method, backbone=args.backbone, height=args.height, width=args.width, amp=args.amp,
                  channels_last=args.channels_last, data=data)
        data = b.data
        load, s_load = b.measure_load(steps, warmup)
        comp = b.measure_compute(steps, warmup)
        train, s_step = b.measure_train(steps, warmup)
        rows.append(dict(method=method, mods="+".join(b.modalities), backbone=b.cfg.backbone,
                         size=f"{b.cfg.height}x{b.cfg.width}", prec={"none": "fp32"}.get(args.amp, args.amp) + ("+cl" if args.channels_last else ""),
                         train=train, compute=comp, load=load, ms=1000 * s_step,
                         share=100 * min(1.0, s_load / s_step)))
        print(f"  {method}: train {train:.1f} img/s", flush=True)
        del b
    if rows:
        print()
        print(_table(rows, [("method", "method", ""), ("mods", "modalities", ""), ("backbone", "backbone", ""),
                            ("size", "HxW", ""), ("prec", "precision", ""), ("train", "train img/s", ".1f"),
                            ("compute", "compute img/s", ".1f"), ("load", "load img/s", ".1f"),
                            ("ms", "ms/step", ".0f"), ("share", "load %", ".0f")]))

    if args.compare == "on" or (args.compare == "auto" and cuda):
        compare_precisions(args, data, device, steps, warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
