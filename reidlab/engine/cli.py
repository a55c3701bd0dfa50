"""``reidlab train``, ``reidlab extract`` and ``reidlab pretrain``."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a method (torchrun --nproc_per_node N for DDP)",
                       description="Train a method. Config fields can be overridden with key=value "
                                   "(dotted for nested: method_overrides.alpha=0.01).")
    p.add_argument("--config", help="YAML config (see configs/); omitted = defaults")
    p.add_argument("--resume", metavar="RUN_DIR_or_CKPT", help="continue a run exactly from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=_train)

    e = sub.add_parser("extract", help="extract features of a trained run into a .npz FeatureSet")
    e.add_argument("run_dir", help="run folder written by reidlab train")
    e.add_argument("--split", action="append", help="split to embed (repeatable; default: every non-train split)")
    e.add_argument("--out", required=True, help="output .npz")
    e.add_argument("--root", help="dataset root (default: the run's config root / synthetic preset)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--batch-size", type=int, default=64)
    e.set_defaults(func=_extract)

    t = sub.add_parser("pretrain", help="pre-train a backbone on synthetic RGB vehicles (offline ImageNet stand-in)",
                       description="Train a backbone once as an ID classifier on visible-light synthetic images of "
                                   "identities no preset uses, and cache it (data/pretrained/). "
                                   "`pretrained: synth` in a config resolves to the demo preset's file.")
    t.add_argument("--backbone", default="resnet10t")
    t.add_argument("--preset", default="demo", help="settings preset (demo | smoke)")
    t.add_argument("--height", type=int, help="image height in pixels (default: the preset's)")
    t.add_argument("--width", type=int, help="image width in pixels (default: the preset's)")
    t.add_argument("--epochs", type=int, help="epochs (default: the preset's)")
    t.add_argument("--out", default="data/pretrained", help="cache folder (default: data/pretrained)")
    t.add_argument("--synth-cache", default="data/synth", help="synthetic data cache (default: data/synth)")
    t.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    t.set_defaults(func=_pretrain)


def _train(args: argparse.Namespace) -> int:
    from reidlab.engine.trainer import train

    run = train(args.config, args.overrides, resume=args.resume, progress=not args.no_progress)
    if run is not None:
        print(f"run folder: {run.run_dir}")
        if not run.results.empty:
            print(run.results.to_string(index=False))
    return 0


def _extract(args: argparse.Namespace) -> int:
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.extract import extract_features
    from reidlab.engine.runs import load_run
    from reidlab.data.loading import load_data

    run = load_run(args.run_dir)
    cfg = run.config
    if args.root:
        cfg.root = args.root
    data = load_data(cfg)
    splits = args.split or [s for s in data.splits if s != "train"]
    model = run.load_model(args.device)
    fs = extract_features(model, data, splits, build_transforms(cfg.height, cfg.width, train=False),
                          batch_size=args.batch_size, device=args.device,
                          meta={"method": cfg.method, "run": str(Path(args.run_dir).resolve())})
    fs.save(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{s} {len(fs[s].feats)} rows" for s in splits))
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from reidlab.engine.pretrain import PRETRAIN_PRESETS, ensure_pretrained

    if args.preset not in PRETRAIN_PRESETS:
        raise ValueError(f"unknown pretrain preset {args.preset!r}; choose one of {sorted(PRETRAIN_PRESETS)}")
    changes = {k: getattr(args, k) for k in ("height", "width", "epochs") if getattr(args, k) is not None}
    settings = dataclasses.replace(PRETRAIN_PRESETS[args.preset], **changes)
    path = ensure_pretrained(args.backbone, settings, cache_dir=args.out, synth_cache=args.synth_cache,
                             progress=not args.no_progress)
    rec = json.loads(path.with_suffix(".json").read_text())
    print(f"weights: {path}\nrecord:  {path.with_suffix('.json')}\n"
          f"train accuracy {rec['train_acc']:.3f} on {rec['num_ids']} IDs / {rec['images']} RGB images, "
          f"{rec['seconds']:.1f} s (data {rec['data_seconds']:.1f} s, {rec['threads']} threads)")
    return 0
