"""Ranking metrics (mAP, CMC, mINP) computed chunk-wise and vectorised.

Definitions (for one query; see ``docs/evaluation.md``): sort the gallery by ascending
distance, **ties broken by gallery index** (a stable sort: of two items at the same distance
the one with the lower gallery index ranks first); remove the junk items of the protocol's
rule; ``rel(k)`` = 1 when rank ``k`` holds the query's ID; ``n_pos`` = positives left.

* AP   = (1 / n_pos) * sum_k rel(k) * hits(k) / k over the whole list (no cut-off);
* INP  = n_pos / R, R = rank of the last positive (Ye et al., AGW);
* CMC@k = share of valid queries whose first positive is at rank <= k. With the
  ``cam_group`` rule (SYSU-MM01) the CMC rank is taken on the ID-deduplicated list (only the
  first item of each gallery ID counts), AP and INP on the raw list.

Queries with ``n_pos == 0`` are *skipped*: they get NaN AP/INP/first-hit and are left out of
every mean, and their number is reported. All metrics are fractions in [0, 1].

How it stays fast: per chunk of queries, one ``torch.sort(stable=True)`` of the (Qc, G)
float32 distance block, and nothing else over the whole block. For the ID-based junk rules
the few non-zero pair codes (bit 0: same ID, bit 1: junk) are listed sparsely from the
gallery's per-ID index and located in the sorted rows by binary search (ties resolved by
gallery index); for camera groups a dense uint8 code is gathered into ranked order. Then only
the (sparse) list of non-zero codes is touched: a positive's rank among non-junk items is its column + 1 minus the
junk items before it in its row, and AP/INP/first hit follow from the positives' ranks. No Python loop
over queries, and no full (Q, G) index matrix is ever held: memory is bounded by
``chunk_mb``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from .distance import METRICS, as_tensor, distance_block, prepare

MATCH, JUNK = 1, 2  # bits of the pair code
BYTES_PER_PAIR = 40  # distance, sorted values, int64 order, the sort's own buffers, codes, temporaries


@dataclass
class RankingResult:
    """Per-query outcome of ranking Q queries against G gallery items.

    Arrays of length Q: ``ap``, ``inp``, ``first_hit`` (1-based CMC rank of the first positive
    among non-junk items, NaN when skipped), ``n_pos``, ``n_junk``, ``skipped`` (bool).
    ``topk_index`` (Q, k) gallery positions in ranked order *including* junk items,
    ``topk_dist`` (Q, k) their distances, ``topk_match`` (same ID) and ``topk_junk`` (Q, k) bool.
    ``cmc`` (G,) float: ``cmc[k-1]`` = CMC at rank k over the valid queries.
    """

    ap: np.ndarray
    inp: np.ndarray
    first_hit: np.ndarray
    n_pos: np.ndarray
    n_junk: np.ndarray
    topk_index: np.ndarray
    topk_dist: np.ndarray
    topk_match: np.ndarray
    topk_junk: np.ndarray
    cmc: np.ndarray

    @property
    def skipped(self) -> np.ndarray:
        return self.n_pos == 0

    @property
    def n_skipped(self) -> int:
        return int(self.skipped.sum())

    @property
    def mAP(self) -> float:
        return float(np.nanmean(self.ap)) if (~self.skipped).any() else float("nan")

    @property
    def mINP(self) -> float:
        return float(np.nanmean(self.inp)) if (~self.skipped).any() else float("nan")

    def rank(self, k: int) -> float:
        """CMC at rank ``k`` (1-based); the last value repeats beyond the gallery size."""
        if not len(self.cmc):
            return float("nan")
        return float(self.cmc[min(k, len(self.cmc)) - 1])


def cmc_from_first_hit(first_hit: np.ndarray, n_gallery: int) -> np.ndarray:
    """CMC curve (n_gallery,) from 1-based first-hit ranks (NaN = skipped query, left out)."""
    fh = first_hit[~np.isnan(first_hit)].astype(np.int64)
    if not len(fh):
        return np.full(n_gallery, np.nan)
    counts = np.bincount(fh - 1, minlength=n_gallery)[:n_gallery]
    return np.cumsum(counts) / len(fh)


def pair_codes(q_pid: torch.Tensor, q_cam: torch.Tensor, q_scene: torch.Tensor, g_pid: torch.Tensor,
               g_cam: torch.Tensor, g_scene: torch.Tensor, junk: str, q_group: torch.Tensor | None = None,
               g_group: torch.Tensor | None = None, drop_negative_pid: bool = True) -> torch.Tensor:
    """(Qc, G) uint8 pair codes in gallery order: bit 0 = same ID, bit 1 = junk for this query."""
    match = (q_pid[:, None] == g_pid[None, :]).view(torch.uint8)
    if junk == "same_cam":
        j = (q_pid[:, None] == g_pid[None, :]) & (q_cam[:, None] == g_cam[None, :])
    elif junk == "same_scene":
        j = (q_pid[:, None] == g_pid[None, :]) & (q_scene[:, None] == g_scene[None, :])
    elif junk == "none":
        j = None
    elif junk == "cam_group":
        j = q_group[:, None] == g_group[None, :]
    else:
        raise ValueError(f"unknown junk rule {junk!r}")
    if drop_negative_pid and bool((g_pid < 0).any()):
        neg = (g_pid < 0)[None, :]
        j = neg.expand(match.shape).clone() if j is None else j.bitwise_or_(neg)
    if j is None:
        return match
    return j.view(torch.uint8).mul_(JUNK).bitwise_or_(match)


def sparse_pairs(q_pid: torch.Tensor, q_cam: torch.Tensor, q_scene: torch.Tensor, g_pid: torch.Tensor,
                 g_cam: torch.Tensor, g_scene: torch.Tensor, junk: str, g_by_pid: tuple[torch.Tensor, ...],
                 drop_negative_pid: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The non-zero entries of :func:`pair_codes` for the ID-based rules (``same_cam``, ``same_scene``,
    ``none``) as ``(rows, cols, codes)`` with rows ascending, built from each query's same-ID
    gallery items only.
    ``g_by_pid`` = ``(uniq_pids, starts, counts, gallery_order_by_pid)`` (:func:`gallery_by_pid`)."""
    uniq, starts, counts, g_sorted = g_by_pid
    dev = q_pid.device
    qc = len(q_pid)
    rows = cols = torch.zeros(0, dtype=torch.int64, device=dev)
    val = torch.zeros(0, dtype=torch.uint8, device=dev)
    if len(uniq):
        at = torch.searchsorted(uniq, q_pid).clamp(max=len(uniq) - 1)
        cnt = torch.where(uniq[at] == q_pid, counts[at], torch.zeros_like(counts[at]))
        total = int(cnt.sum())
        if total:
            rows = torch.repeat_interleave(torch.arange(qc, device=dev), cnt)
            offs = torch.arange(total, device=dev) - torch.repeat_interleave(torch.cumsum(cnt, 0) - cnt, cnt)
            cols = g_sorted[torch.repeat_interleave(starts[at], cnt) + offs]
            val = torch.full((total,), MATCH, dtype=torch.uint8, device=dev)
            if junk == "same_cam":
                val |= (g_cam[cols] == q_cam[rows]).to(torch.uint8) * JUNK
            elif junk == "same_scene":
                val |= (g_scene[cols] == q_scene[rows]).to(torch.uint8) * JUNK
    if drop_negative_pid:
        neg = torch.nonzero(g_pid < 0, as_tuple=True)[0]
        if len(neg):
            val = val | (g_pid[cols] < 0).to(torch.uint8) * JUNK  # same-ID pairs of a negative query pid
            r = torch.arange(qc, device=dev).repeat_interleave(len(neg))
            c = neg.repeat(qc)
            new = g_pid[c] != q_pid[r]  # pairs not already listed as same-ID
            rows, cols = torch.cat([rows, r[new]]), torch.cat([cols, c[new]])
            val = torch.cat([val, torch.full((int(new.sum()),), JUNK, dtype=torch.uint8, device=dev)])
            o = torch.sort(rows, stable=True)[1]  # keep the contract: rows ascending
            rows, cols, val = rows[o], cols[o], val[o]
    return rows, cols, val


def sparse_pair_codes(q_pid: torch.Tensor, q_cam: torch.Tensor, q_scene: torch.Tensor, g_pid: torch.Tensor,
                      g_cam: torch.Tensor, g_scene: torch.Tensor, junk: str, g_by_pid: tuple[torch.Tensor, ...],
                      drop_negative_pid: bool = True) -> torch.Tensor:
    """:func:`sparse_pairs` written into a dense (Qc, G) uint8 code (equals :func:`pair_codes`)."""
    rows, cols, val = sparse_pairs(q_pid, q_cam, q_scene, g_pid, g_cam, g_scene, junk, g_by_pid,
                                   drop_negative_pid)
    code = torch.zeros((len(q_pid), len(g_pid)), dtype=torch.uint8, device=q_pid.device)
    code[rows, cols] = val
    return code


def gallery_by_pid(g_pid: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(uniq_pids, starts, counts, gallery_order_by_pid)`` for :func:`sparse_pair_codes`."""
    order = torch.sort(g_pid, stable=True)[1]
    uniq, counts = torch.unique_consecutive(g_pid[order], return_counts=True)
    return uniq, torch.cumsum(counts, 0) - counts, counts, order


def _score_block(dist: torch.Tensor, code: torch.Tensor, topk: int, g_pidcode: torch.Tensor | None,
                 n_pidcodes: int) -> dict[str, torch.Tensor]:
    """Metrics of one (Qc, G) block. ``g_pidcode`` given -> CMC rank on the ID-deduplicated list.

    Positives and junk items are few per query, so after the sort and one uint8 gather the work
    is done on the (row, column) list of non-zero codes: the rank of a positive among non-junk
    items is its column + 1 minus the junk items before it in its row.
    """
    qc, g = dist.shape
    dev = dist.device
    vals, order = torch.sort(dist, dim=1, stable=True)  # ties -> lower gallery index first
    del dist
    sc = torch.gather(code, 1, order)
    del code
    r, c = torch.nonzero(sc, as_tuple=True)  # row-major: in ranked order within each query
    out = _metrics_from_ranked_pairs(r, c, sc[r, c], qc)
    has, start, n_pos = out.pop("_has"), out.pop("_start"), out["n_pos"]
    if g_pidcode is not None and bool(has.any()):
        # distinct gallery IDs among non-junk items ranked before the first positive, + 1
        cpos = out.pop("_cpos")
        first_col = torch.zeros(qc, dtype=torch.int64, device=dev)
        first_col[has] = cpos[start[has]]
        before = (torch.arange(g, device=dev)[None, :] < first_col[:, None]) & (sc < JUNK)
        ids = torch.where(before, g_pidcode[order], torch.full_like(order, n_pidcodes))
        seen = torch.zeros(qc, n_pidcodes + 1, dtype=torch.bool, device=dev).scatter_(1, ids, True)
        out["first_hit"] = torch.where(has, seen[:, :n_pidcodes].sum(dim=1).to(torch.float64) + 1, out["first_hit"])
    out.pop("_cpos", None)
    k = min(topk, g)
    return {**out, "topk_index": order[:, :k], "topk_dist": vals[:, :k], "topk_code": sc[:, :k]}


def _metrics_from_ranked_pairs(r: torch.Tensor, c: torch.Tensor, v: torch.Tensor, qc: int) -> dict[str, torch.Tensor]:
    """AP / INP / first hit from the non-zero codes ``v`` at (row ``r``, 0-based ranked column ``c``),
    sorted by (row, column). Also returns the positives' row starts and columns (keys ``_*``)."""
    dev = c.device
    is_junk = v >= JUNK
    is_pos = v == MATCH
    n_junk = torch.bincount(r[is_junk], minlength=qc)
    ones_j = is_junk.to(torch.int64)
    junk_before = torch.cumsum(ones_j, 0) - ones_j  # junk entries before e in the whole list
    junk_start = torch.cumsum(n_junk, 0) - n_junk  # junk entries in earlier rows
    rk_all = (c + 1 - (junk_before - junk_start[r])).to(torch.float64)  # 1-based rank among non-junk
    r, c, rk = r[is_pos], c[is_pos], rk_all[is_pos]
    n_pos = torch.bincount(r, minlength=qc)
    start = torch.cumsum(n_pos, 0) - n_pos
    hits = torch.arange(len(r), device=dev, dtype=torch.float64) - start[r].to(torch.float64) + 1
    ap_sum = torch.zeros(qc, dtype=torch.float64, device=dev).index_add_(0, r, hits / rk)
    has = n_pos > 0
    nan = torch.full((qc,), float("nan"), dtype=torch.float64, device=dev)
    ap = torch.where(has, ap_sum / n_pos.clamp(min=1), nan)
    first = nan.clone()
    last = nan.clone()
    first[has] = rk[start[has]]
    last[has] = rk[(start + n_pos - 1)[has]]
    inp = n_pos / last
    return {"ap": ap, "inp": inp, "first_hit": first, "n_pos": n_pos, "n_junk": n_junk,
            "_has": has, "_start": start, "_cpos": c}


def _score_pairs(dist: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, val: torch.Tensor, topk: int,
                 tie_chunk: int = 1 << 22) -> dict[str, torch.Tensor]:
    """Metrics of one (Qc, G) block from its sparse non-zero pair codes (ID-based junk rules).

    Same result as :func:`_score_block`, without any dense pass after the sort: the 0-based
    ranked position of a listed pair (r, c) is #{j: d[r, j] < d[r, c]} (a binary search in the
    sorted row) plus, only when its distance is tied, the gallery indices below c in its run of
    equal values (the stable sort's tie-break by gallery index).
    """
    qc, g = dist.shape
    dev = dist.device
    x = dist[rows, cols]
    vals, order = torch.sort(dist, dim=1, stable=True)
    del dist
    k = min(topk, g)
    top_index, top_dist = order[:, :k].clone(), vals[:, :k].clone()
    n_row = torch.bincount(rows, minlength=qc)
    m = int(n_row.max()) if len(rows) else 0
    pos = torch.zeros(0, dtype=torch.int64, device=dev)
    if m:
        slot = torch.arange(len(rows), device=dev) - (torch.cumsum(n_row, 0) - n_row)[rows]
        padded = torch.full((qc, m), float("inf"), dtype=vals.dtype, device=dev)
        padded[rows, slot] = x
        left = torch.searchsorted(vals, padded, side="left")[rows, slot]
        right = torch.searchsorted(vals, padded, side="right")[rows, slot]
        pos = left
        tied = torch.nonzero(right - left > 1, as_tuple=True)[0]
        if len(tied):
            # the tied run of a pair is vals[r, left:right]; count its gallery indices below c
            width = right[tied] - left[tied]
            step = max(1, tie_chunk // int(width.max()))
            for s in range(0, len(tied), step):
                t, w = tied[s:s + step], width[s:s + step]
                span = torch.arange(int(w.max()), device=dev)
                at = (left[t, None] + span[None, :]).clamp(max=g - 1)
                below = (order[rows[t, None], at] < cols[t, None]) & (span[None, :] < w[:, None])
                pos[t] += below.sum(dim=1)
    del order, vals
    key = torch.sort(rows * g + pos)[1]
    r, c, v = rows[key], pos[key], val[key]
    out = _metrics_from_ranked_pairs(r, c, v, qc)
    for name in ("_has", "_start", "_cpos"):
        out.pop(name)
    top_code = torch.zeros((qc, k), dtype=torch.uint8, device=dev)
    in_top = c < k
    top_code[r[in_top], c[in_top]] = v[in_top]
    return {**out, "topk_index": top_index, "topk_dist": top_dist, "topk_code": top_code}


def _meta(x, n: int, what: str) -> torch.Tensor:
    if x is None:
        return torch.full((n,), -1, dtype=torch.int64)
    t = torch.as_tensor(np.asarray(x), dtype=torch.int64)
    if t.shape != (n,):
        raise ValueError(f"{what} has shape {tuple(t.shape)}, expected ({n},)")
    return t


def _fits32(t: torch.Tensor) -> bool:
    """Whether int64 ids can be compared as int32 (faster, half the memory traffic)."""
    return not len(t) or (int(t.min()) >= -(2**31) and int(t.max()) < 2**31)


def _groups(cams: torch.Tensor, cam_groups: Mapping[int, int], side: str) -> torch.Tensor:
    missing = sorted(set(cams.tolist()) - set(cam_groups))
    if missing:
        raise ValueError(f"cam_group junk rule: {side} cameras {missing} are not in the camera-group map "
                         f"{dict(cam_groups)}; add them to the protocol's cam_groups")
    lut = {int(k): int(v) for k, v in cam_groups.items()}
    return torch.tensor([lut[int(c)] for c in cams.tolist()], dtype=torch.int64)


def rank_blocks(block: Callable[[int, int], torch.Tensor], n_query: int, n_gallery: int, *,
                q_pid, g_pid, q_camid=None, g_camid=None, q_scene=None, g_scene=None,
                junk: str = "same_cam", cam_groups: Mapping[int, int] | None = None,
                drop_negative_pid: bool = True, topk: int = 10, chunk_mb: float = 256.0,
                device: str | torch.device = "cpu", progress: bool = False) -> RankingResult:
    """Score queries chunk by chunk; ``block(start, stop)`` returns the (stop-start, G) distances.

    ``chunk_mb`` bounds the working memory of one chunk (about 40 bytes per query-gallery pair).
    """
    qp, gp = _meta(q_pid, n_query, "q_pid"), _meta(g_pid, n_gallery, "g_pid")
    qcam, gcam = _meta(q_camid, n_query, "q_camid"), _meta(g_camid, n_gallery, "g_camid")
    qs, gs = _meta(q_scene, n_query, "q_scene"), _meta(g_scene, n_gallery, "g_scene")
    if junk == "same_cam" and (q_camid is None or g_camid is None):
        raise ValueError("junk='same_cam' needs q_camid and g_camid")
    if junk == "same_scene" and (q_scene is None or g_scene is None or bool((qs < 0).any())):
        raise ValueError("junk='same_scene' needs scene ids (>= 0) for every query; this data has none "
                         "(use the same-camera variant of the protocol)")
    qg = gg = gcode = None
    n_codes = 0
    if junk == "cam_group":
        if not cam_groups:
            raise ValueError("junk='cam_group' needs cam_groups={cam: group}")
        qg, gg = _groups(qcam, cam_groups, "query").to(device), _groups(gcam, cam_groups, "gallery").to(device)
        uniq, inv = torch.unique(gp, return_inverse=True)
        gcode, n_codes = inv.to(device), len(uniq)
    small = lambda t: t.to(device=device, dtype=torch.int32 if _fits32(t) else torch.int64)  # noqa: E731
    qp, gp, qcam, gcam, qs, gs = (small(t) for t in (qp, gp, qcam, gcam, qs, gs))
    if qg is not None:
        qg, gg = small(qg), small(gg)
    by_pid = gallery_by_pid(gp) if junk != "cam_group" else None
    step = max(1, int(chunk_mb * 2**20 // (BYTES_PER_PAIR * max(n_gallery, 1))))
    parts: list[dict[str, np.ndarray]] = []
    starts = range(0, n_query, step)
    for s in tqdm(starts, desc="ranking", unit="chunk", disable=not progress or len(starts) < 2):
        e = min(s + step, n_query)
        dist = block(s, e)
        if junk == "cam_group":
            code = pair_codes(qp[s:e], qcam[s:e], qs[s:e], gp, gcam, gs, junk, qg[s:e], gg, drop_negative_pid)
            out = _score_block(dist, code, topk, gcode, n_codes)
            del code
        else:
            pairs = sparse_pairs(qp[s:e], qcam[s:e], qs[s:e], gp, gcam, gs, junk, by_pid, drop_negative_pid)
            out = _score_pairs(dist, *pairs, topk)
        del dist
        # copy: the top-k entries are views of the chunk's full (Qc, G) sort; keeping the views
        # would keep every chunk's sort buffers alive
        parts.append({k: v.cpu().numpy().copy() for k, v in out.items()})
    if not parts:
        k = min(topk, n_gallery)
        empty = {"ap": np.zeros(0), "inp": np.zeros(0), "first_hit": np.zeros(0), "n_pos": np.zeros(0, np.int64),
                 "n_junk": np.zeros(0, np.int64), "topk_index": np.zeros((0, k), np.int64),
                 "topk_dist": np.zeros((0, k), np.float32), "topk_code": np.zeros((0, k), np.uint8)}
        parts = [empty]
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    code = cat.pop("topk_code")
    return RankingResult(ap=cat["ap"], inp=cat["inp"], first_hit=cat["first_hit"],
                         n_pos=cat["n_pos"].astype(np.int64), n_junk=cat["n_junk"].astype(np.int64),
                         topk_index=cat["topk_index"].astype(np.int64), topk_dist=cat["topk_dist"].astype(np.float32),
                         topk_match=(code & MATCH) > 0, topk_junk=(code & JUNK) > 0,
                         cmc=cmc_from_first_hit(cat["first_hit"], n_gallery))


def rank_distances(distmat: np.ndarray | torch.Tensor, **kw) -> RankingResult:
    """Score a precomputed (Q, G) distance matrix (smaller = more similar).

    Keyword arguments as :func:`rank_blocks` (``q_pid``, ``g_pid``, ``q_camid``, ``g_camid``,
    ``q_scene``, ``g_scene``, ``junk``, ``cam_groups``, ``drop_negative_pid``, ``topk``,
    ``chunk_mb``, ``device``). NaN distances are refused.
    """
    device = kw.get("device", "cpu")
    d = torch.as_tensor(distmat)
    if d.ndim != 2:
        raise ValueError(f"distance matrix must be 2-D (queries x gallery), got shape {tuple(d.shape)}")
    if bool(torch.isnan(d).any()):
        raise ValueError("distance matrix contains NaN")
    return rank_blocks(lambda s, e: d[s:e].to(device=device, dtype=torch.float32), d.shape[0], d.shape[1], **kw)


def rank_features(q_feats: np.ndarray | torch.Tensor, g_feats: np.ndarray | torch.Tensor, *,
                  metric: str = "euclidean", **kw) -> RankingResult:
    """Score query features (Q, D) against gallery features (G, D); distances computed per chunk.

    ``metric`` is ``euclidean`` or ``cosine``; other keywords as :func:`rank_blocks`.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    device = kw.get("device", "cpu")
    q, g = as_tensor(q_feats, device), as_tensor(g_feats, device)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query features have dimension {q.shape[1]}, gallery {g.shape[1]}")
    pq, sq = prepare(q, metric)
    pg, sg = prepare(g, metric)
    return rank_blocks(lambda s, e: distance_block(pq[s:e], None if sq is None else sq[s:e], pg, sg, metric),
                       q.shape[0], g.shape[0], **kw)
