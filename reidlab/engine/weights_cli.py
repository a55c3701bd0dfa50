"""``reidlab pretrain-pairs`` (contrastive optical-SAR pre-training) and ``reidlab import-weights``.

Scoring the released TransOSS checkpoint on the real HOSS under the three protocols::

    reidlab import-weights transoss weights/HOSS_TransOSS.pth --root /data --eval --device cuda

(``--root`` holds ``HOSS/``; ViT-B/16 at 256x128 is the default shape). The command prints every
loaded / reshaped / copied / missing / unexpected key and refuses a partial load.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain-pairs", help="contrastive optical-SAR pre-training of the TransOSS ViT",
                       description="CLIP-style pre-training on OptiSar_Pair/ (or synthetic pairs); writes a "
                                   "checkpoint that `reidlab train method=transoss method_overrides.pretrained=PATH` "
                                   "starts from. Extra fields of PairPretrainConfig as key=value.")
    p.add_argument("--root", help="folder holding OptiSar_Pair/ (omitted: synthetic pairs)")
    p.add_argument("--out", required=True, help="checkpoint path (.pth); a .json summary is written beside it")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=_pretrain)

    i = sub.add_parser("import-weights", help="convert a public checkpoint (TransOSS) and optionally score it",
                       description="Load a public checkpoint into reidlab's model with a full key report; "
                                   "--eval scores it under the dataset's protocols.")
    i.add_argument("method", choices=["transoss"])
    i.add_argument("path", help="public .pth (fine-tuned, self-pre-trained or released pre-trained)")
    i.add_argument("--root", help="dataset root for --eval (omitted: synthetic smoke HOSS)")
    i.add_argument("--dataset", default="hoss")
    i.add_argument("--eval", action="store_true", help="extract features and evaluate every protocol")
    i.add_argument("--save", help="write the converted reidlab state dict here")
    i.add_argument("--features", help="write the extracted FeatureSet .npz here (with --eval)")
    i.add_argument("--device", default="cpu")
    i.add_argument("--batch-size", type=int, default=64)
    i.add_argument("overrides", nargs="*", metavar="key=value", help="model config (backbone=, height=, sse=...)")
    i.set_defaults(func=_import)


def _pretrain(args: argparse.Namespace) -> int:
    from reidlab.engine.config import parse_overrides
    from reidlab.engine.contrastive import PairPretrainConfig, pretrain_pairs

    kw = parse_overrides(args.overrides)
    cfg = PairPretrainConfig(root=args.root, out=args.out, **kw)
    res = pretrain_pairs(cfg, progress=True)
    print(f"wrote {res['checkpoint']} ({res['n_train_pairs']} training pairs)")
    return 0


def import_and_score(method: str, path: str, *, root: str | None = None, dataset: str = "hoss",
                     evaluate: bool = False, device: str = "cpu", batch_size: int = 64,
                     overrides: dict | None = None, save: str | None = None, features: str | None = None):
    """Build ``method``, import ``path`` (strict report), optionally score it. Returns (model, report, table)."""
    import torch

    from reidlab.methods import create_method
    from reidlab.methods.transoss import import_weights

    ov = dict(overrides or {})
    sd = torch.load(path, map_location="cpu", weights_only=False)
    cls_w = next((v for k, v in sd.items() if k.endswith("classifier.weight")), None) if isinstance(sd, dict) else None
    num_classes = int(cls_w.shape[0]) if cls_w is not None else 2
    model = create_method(method, max(2, num_classes), ("rgb", "sar"), **ov)
    rep = import_weights(model, path, load_classifier=cls_w is not None)
    if save:
        torch.save(model.state_dict(), save)
    table = None
    if evaluate:
        from reidlab.data import load_dataset
        from reidlab.data.synth import ensure_synthetic
        from reidlab.data.transforms import build_transforms
        from reidlab.engine.extract import extract_features
        from reidlab.eval import evaluate as run_eval
        from reidlab.eval import list_protocols

        data = load_dataset(dataset, root if root is not None else ensure_synthetic(dataset, preset="smoke"))
        protos = [p for p in list_protocols(dataset) if p.query_split in data.splits and p.gallery_split in data.splits]
        splits = sorted({s for p in protos for s in (p.query_split, p.gallery_split)})
        cfg = model.config
        fs = extract_features(model.to(device), data, splits, build_transforms(cfg["height"], cfg["width"], train=False),
                              batch_size=batch_size, device=device,
                              meta={"method": method, "weights": str(path), "feature_norm": model.feature_norm})
        if features:
            fs.save(features)
        metric = "cosine" if model.feature_norm == "l2" else "euclidean"  # cosine == euclidean on L2-normalised
        import pandas as pd

        table = pd.DataFrame([run_eval(fs, p, metric=metric).summary for p in protos])
    return model, rep, table


def _import(args: argparse.Namespace) -> int:
    from reidlab.engine.config import parse_overrides

    model, rep, table = import_and_score(args.method, args.path, root=args.root, dataset=args.dataset,
                                         evaluate=args.eval, device=args.device, batch_size=args.batch_size,
                                         overrides=parse_overrides(args.overrides), save=args.save,
                                         features=args.features)
    print(rep.summary())
    if table is not None:
        cols = [c for c in ("protocol", "n_query", "n_gallery", "mAP", "R1", "mAP_ci95", "R1_ci95") if c in table]
        print(table[cols].to_string(index=False))
    return 0
