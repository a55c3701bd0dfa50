"""Why does HWDNet barely learn at the smoke set-up? One lever at a time, measured.

Reproduces the set-up of ``tests/test_methods_learn.py::test_trained_beats_untrained[hwdnet]``
(synthetic UCM-VeID at the smoke preset with 60 training / 20 test identities, resnet10t from
scratch at 32x64, Adam 1e-3, P x K = 8 x 4, 6 epochs, scored on ``ucmveid/tir2rgb-multi``) and
prints, per lever, the trained mAP, the mAP of the very network the run starts from (built as the
test builds it) and the gain, the first / last epoch's loss parts, and diagnostics for both networks:
the other direction, within-modality retrieval (query -> gallery of one modality) and the chance mAP
of each. A lever is ``key=value`` for a TrainConfig field (``--set``), a HWDNet config entry
(``--mo``) or a generator knob (``--synth``: a *data* lever, for diagnosis only; the learning test's
data are fixed); each call is one run, appended as a JSON line to ``--out``. The table built from
these runs is in ``data_cards/ucmveid.md``.

    OMP_NUM_THREADS=1 python benchmarks/bench_hwdnet_levers.py --label shipped
    OMP_NUM_THREADS=1 python benchmarks/bench_hwdnet_levers.py --label sgd --set optimizer=sgd --set lr=0.01
    OMP_NUM_THREADS=1 python benchmarks/bench_hwdnet_levers.py --label no-wr --mo weight_restrainer=false
    OMP_NUM_THREADS=1 python benchmarks/bench_hwdnet_levers.py --label gap0 --synth gap=0

The numbers are seeded (same thread count -> same numbers); the wall times are machine- and
load-dependent.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def _kv(items: list[str]) -> dict[str, Any]:
    """``["knob=value", ...]`` (values read as YAML) -> dict; exits with the parser's message on a bad item."""
    from reidlab.engine.config import parse_overrides

    try:
        return parse_overrides(items)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _diag_protocols() -> list[Any]:
    """The learning test's protocol, the other direction, and within-modality retrieval (not
    registered: reidlab's diagnostics, query split -> gallery split, nothing junk)."""
    from reidlab.eval.protocols import Protocol, get_protocol

    within = [Protocol(name=f"diag/{m}2{m}", dataset="ucmveid", query_split="query", gallery_split="gallery",
                       query_modalities=(m,), gallery_modalities=(m,), junk="none") for m in ("rgb", "tir")]
    return [get_protocol("ucmveid/tir2rgb-multi"), get_protocol("ucmveid/rgb2tir-multi"), *within]


def _scores(feats: Any) -> dict[str, float]:
    from reidlab.eval import evaluate
    from reidlab.eval.chance import chance_map

    out = {}
    for p in _diag_protocols():
        ev = evaluate(feats, p)
        pq = ev.per_query[~ev.per_query["skipped"].astype(bool)]
        out[p.name] = round(float(ev.summary["mAP"]), 4)
        out[p.name + ":chance"] = round(chance_map(pq["n_pos"], ev.summary["n_gallery"] - pq["n_junk"]), 4)
    return out


def measure(sets: dict[str, Any], method_overrides: dict[str, Any], seed: int = 0, data_seed: int = 0,
            synth_dir: str = "data/synth_levers", method: str = "hwdnet",
            synth: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run of the learning test's set-up with the given levers; returns mAPs, gain, loss parts.
    ``synth``: generator knobs on top of the test's (a *data* lever: a diagnosis, never a smoke setting)."""
    import test_methods_learn as tl  # the test's own set-up: _cfg, _untrained_map, SYNTH

    from reidlab.data.synth import generate
    from reidlab.engine import train

    ds, _, proto, smoke = tl._setup(method)
    knobs = {**tl.SYNTH, **(synth or {})}
    tag = "".join(f"_{k}{v}" for k, v in sorted((synth or {}).items()))
    cache = Path(synth_dir) / f"{ds}_smoke_{data_seed}{tag}"
    done = cache / "root.txt"
    if not done.exists():
        root = generate(ds, cache, preset="smoke", seed=data_seed, **knobs)
        done.write_text(str(root))
    root = Path(done.read_text())
    mo = {**smoke.get("method_overrides", {}), **method_overrides}
    with tempfile.TemporaryDirectory() as tmp:
        kw = dict(sets, seed=seed)
        if mo:
            kw["method_overrides"] = mo
        cfg = tl._cfg(method, root, Path(tmp), **kw)
        t0 = time.perf_counter()
        run = train(cfg, progress=False)
        wall = time.perf_counter() - t0
        trained = float(run.results.set_index("protocol").loc[proto, "mAP"])
        untrained = tl._untrained_map(cfg, proto)
        diag = {"trained": _scores(run.load_features()), "untrained": _scores(_untrained_features(tl, cfg))}
        h = run.history
        parts = {c: round(float(h[c].iloc[-1]), 4) for c in h.columns
                 if c in ("loss", "id", "tri", "wr", "orient", "centroid")}
        first = {c: round(float(h[c].iloc[0]), 4) for c in parts}
    return {"trained": round(trained, 4), "untrained": round(untrained, 4), "gain": round(trained - untrained, 4),
            "epochs": int(len(h)), "steps": int(h["steps"].iloc[0]), "wall_s": round(wall, 1),
            "loss_first": first, "loss_last": parts, "diag": diag}


def _untrained_features(tl: Any, cfg: Any) -> Any:
    import torch

    from reidlab.data.transforms import build_transforms
    from reidlab.engine.trainer import extract_features_for

    model, data, rc = tl._initial_model(cfg)
    return extract_features_for(model, data, rc, build_transforms(rc.height, rc.width, train=False),
                                torch.device("cpu"), progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="TrainConfig field")
    ap.add_argument("--mo", action="append", default=[], metavar="KEY=VALUE", help="HWDNet config entry")
    ap.add_argument("--synth", action="append", default=[], metavar="KNOB=VALUE",
                    help="generator knob (a data lever for diagnosis), e.g. gap=0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--method", default="hwdnet")
    ap.add_argument("--out", default="runs/hwdnet_levers.jsonl")
    a = ap.parse_args()
    import torch

    sets, mo = _kv(a.set), _kv(a.mo)
    r = measure(sets, mo, a.seed, a.data_seed, method=a.method, synth=_kv(a.synth))
    rec = {"label": a.label, "method": a.method, "set": sets, "method_overrides": mo, "synth": _kv(a.synth),
           "seed": a.seed, "data_seed": a.data_seed, "threads": torch.get_num_threads(), **r}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
