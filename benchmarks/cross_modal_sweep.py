"""Controlled runs of the demo's cross-modal claims, one generator / training lever at a time, in parallel.

For every *lever* (a label plus generator knobs and/or training fields) and every training seed it
trains the rows of the chosen tables (default ``kamenou_table1`` and ``hamnet_table2``) plus the
shared-backbone learnability baseline (``benchmarks/bench_learnability.py``), all with the demo's
``common.train`` (``notebooks/params/demo.yaml``), then checks each table's claims with
:func:`reidlab.analysis.claims.check_claims` (paired bootstrap over queries, 95 % CI) and prints, per
lever, the Kamenou Table I mAPs, the learnability ratio and every claim verdict. Runs are cached in
``--runs`` (``get_or_train``), so a second call reuses them.

A lever is ``LABEL:KEY=VALUE;KEY=VALUE`` (VALUE is YAML). ``s.KNOB`` is a generator knob
(``synth_overrides``), ``m.KEY`` a method override for every row whose method has KEY (a row's own
switches, e.g. Table I's ``lambda_cos``, still win), anything else a TrainConfig field
(``epochs``, ``lr``...)::

    python benchmarks/cross_modal_sweep.py "shipped:" "p 0.75:s.nir_paint_predictability=0.75" \\
        "200 IDs:s.num_train_ids=200" --seeds 0 1 --jobs 2 --json runs/sweep.json

Use ``--jobs`` = CPU cores / 2 on a CPU machine; on a GPU machine many jobs share the card.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench_learnability import SHARED_BASELINE, learnability  # noqa: E402  (benchmarks/ is on sys.path)


def parse_lever(arg: str) -> dict[str, Any]:
    """``"LABEL:KEY=VALUE;..."`` -> ``{"label", "synth", "method", "train"}`` (values parsed by
    :func:`reidlab.engine.config.parse_overrides`: ``s.KNOB`` and ``m.KEY`` nest under ``s`` / ``m``)."""
    from reidlab.engine.config import parse_overrides

    label, _, sets = arg.partition(":")
    try:
        d = parse_overrides([x.strip() for x in sets.split(";") if x.strip()])
    except ValueError as exc:
        raise SystemExit(f"lever {arg!r}: {exc}") from None
    return {"label": label, "synth": d.pop("s", {}), "method": d.pop("m", {}), "train": d}


def _common() -> dict[str, Any]:
    return yaml.safe_load((REPO / "notebooks/params/demo.yaml").read_text())["common"]["train"]


def _train_fields(lev: dict[str, Any], synth_cache: str) -> dict[str, Any]:
    train = {**_common(), **lev["train"], "synth_overrides": dict(lev["synth"]), "synth_cache": synth_cache}
    if lev["method"]:
        train["method_overrides"] = dict(lev["method"])
    return train


def job_configs(lev: dict[str, Any], seed: int, tables: list[str], runs_dir: str, synth_cache: str) -> list[dict[str, Any]]:
    """Every run config of one (lever, seed): the tables' rows and the shared baseline."""
    from reidlab.analysis.tables import row_config
    from reidlab.methods.specs import get_table

    train = _train_fields(lev, synth_cache)
    out = []
    for t in tables:
        spec = get_table(t)
        for row in spec.rows:
            out.append(_own_keys(row_config(spec, row, preset="demo", seed=seed, runs_dir=runs_dir, **train)))
    shared = row_config(get_table("kamenou_table1"), get_table("kamenou_table1").rows[0], preset="demo", seed=seed,
                        runs_dir=runs_dir, **train)
    shared["method_overrides"] = {**shared.get("method_overrides", {}), **SHARED_BASELINE}
    out.append(shared)
    return out


def _own_keys(cfg: dict[str, Any]) -> dict[str, Any]:
    """Keep only the method overrides the row's method knows (an ``m.KEY`` lever targets the methods that have
    KEY); a row's own switches were merged last by ``row_config`` and so still define the row."""
    from reidlab.methods.registry import default_config

    known = default_config(cfg["method"])
    if "method_overrides" in cfg:
        cfg["method_overrides"] = {k: v for k, v in cfg["method_overrides"].items() if k in known}
    return cfg


def _train_one(cfg: dict[str, Any], runs_dir: str, threads: int) -> tuple[str, float, bool]:
    import torch

    torch.set_num_threads(threads)
    from reidlab.engine.run_cache import get_or_train

    t0 = time.perf_counter()
    run, reused, h = get_or_train(cfg, runs_dir, progress=False)
    return str(run.run_dir), time.perf_counter() - t0, reused


def _gen_one(synth: dict[str, Any], cache: str) -> str:
    from reidlab.data.synth import ensure_synthetic

    return str(ensure_synthetic("rgbn300", preset="demo", seed=0, cache_dir=cache, **synth))


def summarise(lev: dict[str, Any], seed: int, tables: list[str], runs_dir: str, synth_cache: str) -> dict[str, Any]:
    """Tables (all runs already trained), claims and the learnability ratio of one (lever, seed)."""
    from reidlab.analysis.claims import check_claims
    from reidlab.analysis.tables import run_table
    from reidlab.engine.run_cache import get_or_train
    from reidlab.methods.specs import get_table

    train = _train_fields(lev, synth_cache)
    out: dict[str, Any] = {"label": lev["label"], "seed": seed, "lever": lev, "tables": {}, "claims": []}
    for t in tables:
        spec = get_table(t)
        df = run_table(spec, preset="demo", seed=seed, runs_dir=runs_dir, progress=False, **train)
        out["tables"][t] = {f"{r.row} | {r.protocol}": 100 * r.mAP for r in df.itertuples()}
        cl = check_claims(spec, df, progress=False)
        for r in cl.itertuples():
            out["claims"].append({"id": r.id, "verdict": r.verdict, "delta": _pct(getattr(r, "delta", None), r.kind),
                                  "ci95": [_pct(getattr(r, "ci_low", None), r.kind), _pct(getattr(r, "ci_high", None), r.kind)]})
    cfg = job_configs(lev, seed, [], runs_dir, synth_cache)[-1]
    run, _, _ = get_or_train(cfg, runs_dir, progress=False)
    out["learnability"] = learnability(run.load_features())
    return out


def _pct(x: Any, kind: str) -> float | None:
    if x is None or x != x:
        return None
    return float(x) if kind == "gap_lower" else 100 * float(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("levers", nargs="+", metavar="LABEL:KEY=VALUE;...")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--tables", nargs="+", default=["kamenou_table1", "hamnet_table2"])
    ap.add_argument("--runs", default="runs/cross_modal_sweep")
    ap.add_argument("--synth-cache", default="data/synth")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per job")
    ap.add_argument("--json", default=None, help="write every result to this file (rewritten after each lever)")
    ap.add_argument("--deadline-s", type=float, default=None, help="stop submitting runs after this many seconds")
    a = ap.parse_args()
    levers = [parse_lever(x) for x in a.levers]
    t_start = time.perf_counter()
    from reidlab.engine.pretrain import ensure_pretrained

    ensure_pretrained(_common()["backbone"], "demo", progress=False)
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    results: list[dict[str, Any]] = []
    # spawn: each worker starts CUDA (when there is one) on its own, never in a forked parent
    with ProcessPoolExecutor(max_workers=a.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        # 1. data: one generation per distinct generator setting (parallel, distinct cache folders)
        synths = {json.dumps(lev["synth"], sort_keys=True): lev["synth"] for lev in levers}
        for f in as_completed([pool.submit(_gen_one, s, a.synth_cache) for s in synths.values()]):
            f.result()
        print(f"data ready ({len(synths)} settings) after {time.perf_counter() - t_start:.0f} s", flush=True)
        # 2. runs, lever-major so the first levers finish first; a (lever, seed) is summarised
        #    (tables, claims, learnability) as soon as its last run is done
        pending: dict[tuple[int, int], int] = {}
        futs: dict[Any, tuple[str, Any]] = {}
        for i, lev in enumerate(levers):
            for seed in a.seeds:
                cfgs = job_configs(lev, seed, a.tables, a.runs, a.synth_cache)
                pending[(i, seed)] = len(cfgs)
                for cfg in cfgs:
                    futs[pool.submit(_train_one, cfg, a.runs, a.threads)] = ("run", (i, seed, cfg["method"]))
        times: list[float] = []
        cancelled = False
        while futs:
            f = next(as_completed(futs))
            kind, key = futs.pop(f)
            if f.cancelled():
                continue
            try:
                out = f.result()
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"FAILED {kind} {key}: {exc!r}\n{exc.__cause__ or ''}", flush=True)
                continue
            if kind == "run":
                times.append(out[1])
                i, seed, _ = key
                pending[(i, seed)] -= 1
                if pending[(i, seed)] == 0:
                    futs[pool.submit(summarise, levers[i], seed, a.tables, a.runs, a.synth_cache)] = ("summary", (i, seed))
            else:
                results.append(out)
                _print(out)
                if a.json:
                    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
                    Path(a.json).write_text(json.dumps(results, indent=1))
            if a.deadline_s and not cancelled and time.perf_counter() - t_start > a.deadline_s:
                n = sum(g.cancel() for g, (k, _) in futs.items() if k == "run")
                cancelled = True
                print(f"deadline reached: {n} runs not started were cancelled", flush=True)
    _overview(results)
    med = sorted(times)[len(times) // 2] if times else float("nan")
    print(f"{len(times)} runs, {len(results)} summaries in {time.perf_counter() - t_start:.0f} s "
          f"(median {med:.0f} s per run with {a.jobs} jobs)", flush=True)


def _overview(results: list[dict[str, Any]]) -> None:
    """One line per (lever, seed): Kamenou FC_e / FC_e + L_cos mAPs, learnability ratio, claims held."""
    print(f"\n{'lever':34s} seed | FC_e iviv v2i i2v | +L_cos iviv v2i i2v | shared ratio | claims held")
    for r in results:
        k = r["tables"].get("kamenou_table1", {})
        g = lambda row, p: k.get(f"{row} | rgbn300/{p}", float("nan"))  # noqa: E731
        a, b = "Baseline + FC_e", "Baseline + FC_e + L_cos"
        held = sum(c["verdict"] == "holds" for c in r["claims"])
        print(f"{r['label']:34s} {r['seed']:4d} | {g(a, 'rgb-nir'):4.1f} {g(a, 'rgb2nir'):4.1f} {g(a, 'nir2rgb'):4.1f} | "
              f"{g(b, 'rgb-nir'):4.1f} {g(b, 'rgb2nir'):4.1f} {g(b, 'nir2rgb'):4.1f} | {r['learnability']['ratio']:.2f} | "
              f"{held}/{len(r['claims'])}")


def _print(r: dict[str, Any]) -> None:
    k = r["tables"].get("kamenou_table1", {})
    print(f"\n== {r['label']} (seed {r['seed']}) lever {r['lever']}")
    for key, v in k.items():
        print(f"   {key:55s} {v:5.1f}")
    ln = r["learnability"]
    print(f"   learnability: multi {ln['rgbn300/rgb-nir']:.1f} v2i {ln['rgbn300/rgb2nir']:.1f} i2v {ln['rgbn300/nir2rgb']:.1f} "
          f"ratio {ln['ratio']:.2f} (chance {ln['rgbn300/rgb2nir:chance']:.1f})")
    for c in r["claims"]:
        d, ci = c["delta"], c["ci95"]
        ds = "   n/a" if d is None else f"{d:6.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
        print(f"   {c['id']:45s} {c['verdict']:28s} {ds}")


if __name__ == "__main__":
    main()
