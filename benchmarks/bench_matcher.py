"""Matcher ranking at gallery scale: exhaustive vs top-N shortlist (a benchmark, not a timed test).

A learned matcher (PORSCHE's POM) scores every query-gallery pair: Q x G pair evaluations instead of one
GEMM. This script measures, at the RGBN300 test size (4,985 queries x 24,925 gallery, 150 IDs) on
synthetic ID-structured data, through the evaluation engine (:func:`reidlab.eval.evaluate` with
``scorer=`` / ``shortlist=``):

* ``exhaustive``: the scorer on every pair of ``--queries`` queries (a subset: all of them is hours on a
  CPU) x the full gallery; time per query and extrapolated to all 4,985 queries;
* ``shortlist N``: the N nearest gallery items by the global feature (cosine) re-scored by the scorer;
* ``global``: the global feature alone (no scorer);
* mAP / R-1 of each on the same queries, and the gap shortlist - exhaustive.

Data: per ID a centre token map (n tokens x d); an item's tokens = centre + noise, its global feature =
mean of its tokens + more noise, so the token scorer is the better ranker (as a matcher is meant to be).
The *times* carry over to real models of the same token size; the *mAP gap* does not: it depends on how
well the global feature shortlists the true matches, which here is set by ``--global-noise`` (a trained
PORSCHE's gap must be measured on its own features and tokens).
Scorers: ``maxsim`` (parameter-free point-wise matching: mean over query tokens of the best cosine over
gallery tokens, both ways; its cost is the matcher's similarity stage) and ``matcher`` (PORSCHE's
TokenMatcher, untrained, at the tiny width: timing only, its ranking is random). ``--paper-matcher`` times
the matcher at the paper's size (layer-3 tokens 8 x 16 of a 128 x 256 input, width 1024 x 4 chunks) on one
block and extrapolates to all 4,985 x 24,925 pairs (measured on a 2-core CPU: about 24 ms per pair, i.e.
about 830 hours exhaustive). All numbers depend on the machine; run
``python benchmarks/bench_matcher.py [--device cuda] [--matcher] [--paper-matcher]``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from reidlab.eval import FeatureSet, SplitFeatures, evaluate
from reidlab.eval.pairwise import MatcherScorer, TokenMaps


def make_data(n_query: int, n_gallery: int, n_ids: int, grid: tuple[int, int], dim: int, seed: int,
              token_noise: float, global_noise: float):
    g = torch.Generator().manual_seed(seed)
    n_tok = grid[0] * grid[1]
    centres = torch.randn(n_ids, n_tok, dim, generator=g)

    def side(n: int, key: str, cam0: int):
        pid = torch.randint(0, n_ids, (n,), generator=g)
        tok = centres[pid] + token_noise * torch.randn(n, n_tok, dim, generator=g)
        glob = tok.mean(1) + global_noise * torch.randn(n, dim, generator=g)
        sf = SplitFeatures(pid=pid.numpy(), camid=np.full(n, cam0), scene=np.zeros(n, int), index=np.arange(n),
                           feats=glob.numpy(), record=np.arange(n), key=np.full(n, key))
        return sf, (np.arange(n), np.full(n, key), tok.reshape(n, *grid, dim))

    q, qt = side(n_query, "rgb", 0)
    gal, gt = side(n_gallery, "nir", 1)
    return FeatureSet("rgbn300", {"query": q, "gallery": gal}), TokenMaps({"query": qt, "gallery": gt})


def maxsim_distance(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """1 - (mean_t max_s cos(q_t, g_s) + mean_s max_t cos) / 2: (a, h, w, d) x (b, h, w, d) -> (a, b)."""
    qn = torch.nn.functional.normalize(q.flatten(1, 2), dim=-1)
    gn = torch.nn.functional.normalize(g.flatten(1, 2), dim=-1)
    s = torch.einsum("atd,bsd->abts", qn, gn)
    return 1 - (s.amax(3).mean(2) + s.amax(2).mean(2)) / 2


def maxsim_pairs(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    qn = torch.nn.functional.normalize(q.flatten(1, 2), dim=-1)
    gn = torch.nn.functional.normalize(g.flatten(1, 2), dim=-1)
    s = torch.einsum("ptd,psd->pts", qn, gn)
    return 1 - (s.amax(2).mean(1) + s.amax(1).mean(1)) / 2


def time_paper_matcher(device: str, n_query: int, n_gallery: int, block: tuple[int, int] = (16, 128)) -> dict:
    """Seconds per pair of PORSCHE's layer-3 matcher at 128 x 256 input (tokens 8 x 16, width 1024 x 4 chunks),
    fp32 and (on CUDA) fp16 autocast, timed on a (16 x 128) block after a warm-up; extrapolated to Q x G."""
    from reidlab.methods.porsche import TokenMatcher

    torch.manual_seed(0)
    m = TokenMatcher((8, 16), d=1024, chunks=4, ff=2048).eval().to(device)
    q = torch.randn(block[0], 8, 16, 4096, device=device)
    g = torch.randn(block[1], 8, 16, 4096, device=device)
    out = {"mode": "paper-size matcher timing", "block": list(block), "device": device}
    dtypes = [("fp32", None)] + ([("fp16", torch.float16)] if str(device).startswith("cuda") else [])
    for name, dt in dtypes:
        with torch.no_grad(), torch.autocast("cuda", dtype=dt, enabled=dt is not None):
            for _ in range(2):
                m(q, g)
            if str(device).startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            reps = 3
            for _ in range(reps):
                m(q, g)
            if str(device).startswith("cuda"):
                torch.cuda.synchronize()
            per_pair = (time.perf_counter() - t0) / reps / (block[0] * block[1])
        out[f"{name}_us_per_pair"] = round(per_pair * 1e6, 3)
        out[f"{name}_exhaustive_hours"] = round(per_pair * n_query * n_gallery / 3600, 2)
        out[f"{name}_shortlist100_s"] = round(per_pair * n_query * 100, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=100, help="queries scored (subset of the 4,985)")
    ap.add_argument("--gallery", type=int, default=24925)
    ap.add_argument("--total-queries", type=int, default=4985)
    ap.add_argument("--ids", type=int, default=150)
    ap.add_argument("--grid", type=int, nargs=2, default=(4, 8), help="token grid h w")
    ap.add_argument("--dim", type=int, default=32, help="token width")
    ap.add_argument("--shortlists", type=int, nargs="+", default=[50, 100, 200, 500])
    ap.add_argument("--token-noise", type=float, default=1.5)
    ap.add_argument("--global-noise", type=float, default=0.1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--g-chunk", type=int, default=512)
    ap.add_argument("--q-chunk", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--matcher", action="store_true", help="also time PORSCHE's TokenMatcher (tiny, untrained)")
    ap.add_argument("--paper-matcher", action="store_true",
                    help="time PORSCHE's matcher at the paper's size (layer-3 tokens 8x16, D 1024, 3 encoder layers) "
                         "on one block and extrapolate to every query-gallery pair")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()

    fs, tm = make_data(args.queries, args.gallery, args.ids, tuple(args.grid), args.dim, args.seed,
                       args.token_noise, args.global_noise)
    proto = "rgbn300/rgb2nir"
    rows = []

    def run(label: str, scorer=None, shortlist=None):
        t0 = time.perf_counter()
        s = evaluate(fs, proto, metric="cosine", scorer=scorer, shortlist=shortlist, n_boot=0,
                     device="cpu").summary
        dt = time.perf_counter() - t0
        row = {"mode": label, "shortlist": shortlist if shortlist else ("all" if scorer else "-"),
               "mAP": round(100 * s["mAP"], 2), "R1": round(100 * s["R1"], 2), "seconds": round(dt, 2),
               "s_per_query": dt / args.queries, "extrapolated_s": round(dt / args.queries * args.total_queries, 1),
               "pairs_scored": s.get("scorer_pairs", 0)}
        rows.append(row)
        print(json.dumps(row))
        return row

    print(f"# {args.queries} queries x {args.gallery} gallery, {args.ids} IDs, tokens {args.grid[0]}x{args.grid[1]}"
          f"x{args.dim}, device {args.device}, torch threads {torch.get_num_threads()}")
    run("global")
    mk = lambda: MatcherScorer(tm, maxsim_distance, maxsim_pairs, name="maxsim", q_chunk=args.q_chunk,  # noqa: E731
                               g_chunk=args.g_chunk, device=args.device, keep_on_device=True)
    ex = run("exhaustive maxsim", mk())
    for n in args.shortlists:
        r = run("shortlist maxsim", mk(), n)
        r["gap_mAP_vs_exhaustive"] = round(r["mAP"] - ex["mAP"], 2)
        print(f"#   N={n}: mAP gap to exhaustive {r['gap_mAP_vs_exhaustive']:+.2f} points, "
              f"{ex['seconds'] / max(r['seconds'], 1e-9):.1f}x faster")
    if args.matcher:
        from reidlab.methods.porsche import TokenMatcher

        torch.manual_seed(0)
        m = TokenMatcher(tuple(args.grid), d=args.dim // 2, chunks=2, ff=64).eval().to(args.device)
        with torch.no_grad():
            sc = MatcherScorer(tm, lambda q, g: 1 - torch.sigmoid(m(q, g) / 10),
                               lambda q, g: 1 - torch.sigmoid(m.pairs(q, g) / 10), name="tokenmatcher",
                               q_chunk=8, g_chunk=args.g_chunk // 4, device=args.device, keep_on_device=True)
            run("exhaustive tokenmatcher (timing only)", sc)
            run("shortlist tokenmatcher (timing only)", MatcherScorer(
                tm, sc.distance_fn, sc.pair_fn, name="tokenmatcher", device=args.device, keep_on_device=True),
                args.shortlists[1])
    if args.paper_matcher:
        rows.append(time_paper_matcher(args.device, args.total_queries, args.gallery))
        print(json.dumps(rows[-1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
