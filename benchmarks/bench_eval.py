"""Speed and memory of reidlab's evaluation on random features (a benchmark, not a timed test).

For each size (RGBN300: 4,985 x 24,925; Market-1501: 3,368 x 15,913) it prints:

* ``eval``      - ``rank_features``: distances + stable sort + mAP / CMC / mINP, chunked;
* ``eval(dist)``- ``rank_distances`` on a precomputed distance matrix (metrics without the GEMM);
* ``sort``      - a bare ``torch.sort(dist, dim=1)`` of the same full float32 distance matrix;
* ``ratio``     - eval / sort and eval(dist) / sort (target: <= 1.5 on the CPU);
* ``loop``      - a per-query loop (NumPy stable argsort + vectorised AP per query, as in most
  re-ID code bases), and ``loop(py)`` the plain Python per-query loop of the tests, timed on
  50 queries and extrapolated to all queries;
* ``peak``      - peak resident memory *added* by the evaluation, against the float32 (Q, G)
  distance matrix (target: <= 2x). Each measurement runs in a fresh subprocess; the kernel's
  peak-RSS counter (VmHWM) is reset through /proc/self/clear_refs right before the evaluation
  and read from /proc/self/status after it, so torch's allocations are seen (tracemalloc would
  not see them). All numbers depend on the machine; run ``python benchmarks/bench_eval.py``.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = {"rgbn300": (4985, 24925, 150, 8), "market": (3368, 15913, 751, 6)}
DIM = 512


def make(case: str, seed: int = 0):
    q, g, ids, cams = SIZES[case]
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(ids, DIM)).astype(np.float32)
    qp, gp = rng.integers(0, ids, q), rng.integers(0, ids, g)
    qf = protos[qp] + 1.5 * rng.normal(size=(q, DIM)).astype(np.float32)
    gf = protos[gp] + 1.5 * rng.normal(size=(g, DIM)).astype(np.float32)
    return qf, gf, qp, gp, rng.integers(0, cams, q), rng.integers(0, cams, g)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return -1


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def per_query_loop(dist: np.ndarray, qp, gp, qc, gc) -> float:
    """Per query: stable argsort, drop same-ID-same-camera, vectorised AP. Returns mAP."""
    aps = []
    for i in range(len(dist)):
        order = np.argsort(dist[i], kind="stable")
        keep = ~((gp[order] == qp[i]) & (gc[order] == qc[i]))
        rel = (gp[order] == qp[i])[keep]
        n = rel.sum()
        if n == 0:
            continue
        hits = np.cumsum(rel)
        aps.append((hits[rel] / (np.flatnonzero(rel) + 1)).sum() / n)
    return float(np.mean(aps))


def python_loop(dist: np.ndarray, qp, gp, qc, gc) -> float:
    """The obviously-correct loop of tests/test_eval_properties.py (AP part only)."""
    aps = []
    for i in range(len(dist)):
        order = np.argsort(dist[i], kind="stable")
        ranked = [j for j in order.tolist() if not (gp[j] == qp[i] and gc[j] == qc[i])]
        rel = [gp[j] == qp[i] for j in ranked]
        n, hits, ap = sum(rel), 0, 0.0
        for k, r in enumerate(rel, 1):
            if r:
                hits += 1
                ap += hits / k
        if n:
            aps.append(ap / n)
    return float(np.mean(aps))


def child(case: str, what: str) -> dict:
    import torch

    from reidlab.eval.distance import pairwise_distance
    from reidlab.eval.metrics import rank_distances, rank_features

    qf, gf, qp, gp, qc, gc = make(case)
    meta = dict(q_pid=qp, g_pid=gp, q_camid=qc, g_camid=gc, junk="same_cam")
    out: dict = {"case": case, "what": what, "threads": torch.get_num_threads()}
    dist = None
    if what != "eval":
        dist = pairwise_distance(qf, gf)
    base = _status("VmRSS")
    out["peak_reset"] = _reset_peak()
    t = time.perf_counter()
    if what == "eval":
        r = rank_features(qf, gf, **meta)
        out["mAP"] = r.mAP
    elif what == "eval_dist":
        r = rank_distances(dist, **meta)
        out["mAP"] = r.mAP
    elif what == "sort":
        torch.sort(dist, dim=1)
    elif what == "loop":
        out["mAP"] = per_query_loop(dist.numpy(), qp, gp, qc, gc)
    elif what == "loop_py":
        n = 50
        out["mAP_50"] = python_loop(dist.numpy()[:n], qp, gp, qc, gc)
        out["extrapolated_from"] = n
    out["seconds"] = time.perf_counter() - t
    if what == "loop_py":
        out["seconds"] *= len(qp) / out["extrapolated_from"]
    out["peak_extra_bytes"] = _status("VmHWM") - base
    return out


def run(case: str, what: str) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", case, what], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", nargs=2, metavar=("CASE", "WHAT"), help=argparse.SUPPRESS)
    ap.add_argument("--cases", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--skip-loops", action="store_true", help="skip the per-query reference loops")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    for case in args.cases:
        q, g, *_ = SIZES[case]
        mat = q * g * 4
        r = {w: run(case, w) for w in ("eval", "eval_dist", "sort") + (() if args.skip_loops else ("loop", "loop_py"))}
        print(f"== {case}: {q} x {g} (D={DIM}, threads={r['eval']['threads']}), "
              f"float32 distance matrix {mat / 2**20:.0f} MiB")
        print(f"  eval (features -> metrics) {r['eval']['seconds']:7.2f} s   mAP {r['eval']['mAP']:.4f}   "
              f"peak extra {r['eval']['peak_extra_bytes'] / 2**20:6.0f} MiB = "
              f"{r['eval']['peak_extra_bytes'] / mat:.2f} x matrix")
        print(f"  eval (distances -> metrics){r['eval_dist']['seconds']:7.2f} s   mAP {r['eval_dist']['mAP']:.4f}   "
              f"peak extra {r['eval_dist']['peak_extra_bytes'] / 2**20:6.0f} MiB = "
              f"{r['eval_dist']['peak_extra_bytes'] / mat:.2f} x matrix")
        print(f"  bare torch.sort            {r['sort']['seconds']:7.2f} s   "
              f"peak extra {r['sort']['peak_extra_bytes'] / 2**20:6.0f} MiB")
        print(f"  ratio eval / sort          {r['eval']['seconds'] / r['sort']['seconds']:7.2f}    "
              f"eval(dist) / sort {r['eval_dist']['seconds'] / r['sort']['seconds']:.2f}   (target <= 1.5)")
        if not args.skip_loops:
            print(f"  per-query loop (NumPy)     {r['loop']['seconds']:7.2f} s   mAP {r['loop']['mAP']:.4f}")
            print(f"  per-query loop (Python)    {r['loop_py']['seconds']:7.2f} s   (extrapolated from "
                  f"{r['loop_py']['extrapolated_from']} queries)")
        if not r["eval"]["peak_reset"]:
            print("  note: could not reset VmHWM; peak figures include the set-up")
        if math.isnan(r["eval"]["mAP"]):
            raise SystemExit("benchmark produced NaN mAP")


if __name__ == "__main__":
    main()
