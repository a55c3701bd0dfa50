"""Features in, results out: ``evaluate(features, protocol)`` and ``evaluate_all(features)``.

Items of a protocol are *records* of a split (one fused feature per record) or, with fusion
``each`` or a single modality, feature rows. Gallery sampling is per trial with seed
``protocol.seed + trial`` and happens *after* junk removal: for each query, ``single_shot``
keeps one random non-junk item per gallery ID, ``multi_shot`` ``shots`` per ID (all of an
ID's non-junk items when it has fewer), so a query never loses its true matches to a draw
that picked only junk. The draw is one random priority per gallery item and trial; a query
keeps, per ID, its ``shots`` non-junk items of lowest priority, so with junk rule ``none``
every query sees the same gallery. Queries whose junk sets coincide (same ID and camera for
``same_cam``, same ID and scene for ``same_scene``, same camera group for ``cam_group``) are
ranked together. Gallery items with ``pid < 0`` are never sampled (junk under
``drop_negative_pid``). Trials are aggregated as mean and sample standard deviation (ddof=1).
Metrics are fractions in [0, 1].
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .features import FeatureSet, SplitFeatures, fused_key
from .metrics import RankingResult, cmc_from_first_hit, rank_distances, rank_features
from .protocols import FUSIONS, Protocol, get_protocol, list_protocols
from .rerank import RerankParams, average_query_expansion, k_reciprocal_rerank

log = logging.getLogger(__name__)
CMC_RANKS = (1, 5, 10, 20)
METRIC_NAMES = ("mAP", "R1", "R5", "R10", "R20", "mINP")


class ProtocolUnsupported(ValueError):
    """The feature set lacks a split or a feature key the protocol needs."""


@dataclass
class Side:
    """One side (query or gallery) of a protocol: items (n,) with features (n, D).

    ``record`` is each item's record position in its split; ``key`` the feature key it came
    from (a modality, ``+``-joined modalities for fused items, or ``fused:...``).
    ``n_excluded`` counts records that have some but not all of the side's modalities.
    """

    split: str
    feats: np.ndarray
    record: np.ndarray
    key: np.ndarray
    pid: np.ndarray
    camid: np.ndarray
    scene: np.ndarray
    n_excluded: int = 0

    def subset(self, idx: np.ndarray) -> "Side":
        return replace(self, feats=self.feats[idx], record=self.record[idx], key=self.key[idx],
                       pid=self.pid[idx], camid=self.camid[idx], scene=self.scene[idx])


def build_side(sf: SplitFeatures, split: str, modalities: tuple[str, ...], fusion: str) -> Side:
    """Turn one split's rows into protocol items (see the module docstring of ``protocols``)."""
    present = sf.keys

    def need(key: str) -> tuple[np.ndarray, np.ndarray]:
        rec, feats = sf.rows(key)
        if not len(rec):
            hint = " (pass fusion='method' if your method writes its own fused embedding)" \
                if any(k.startswith("fused:") for k in present) and fusion != "method" else ""
            raise ProtocolUnsupported(f"split {split!r} has no feature rows with key {key!r}; keys present: "
                                      f"{present}{hint}")
        return rec, feats

    def meta(rec: np.ndarray) -> dict[str, np.ndarray]:
        return {"pid": sf.pid[rec], "camid": sf.camid[rec], "scene": sf.scene[rec]}

    if fusion == "each" or (len(modalities) == 1 and fusion != "method") or \
            (len(modalities) == 1 and fusion == "method" and fused_key(modalities) not in present):
        sel = np.flatnonzero(np.isin(sf.key, modalities))
        if not len(sel):
            raise ProtocolUnsupported(f"split {split!r} has no feature rows with keys {list(modalities)}; "
                                      f"keys present: {present}")
        rec = sf.record[sel]
        return Side(split, sf.feats[sel], rec, sf.key[sel], **meta(rec))
    if fusion == "method":
        key = fused_key(modalities)
        rec, feats = need(key)
        return Side(split, feats, rec, np.full(len(rec), key), **meta(rec))
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; choose one of {FUSIONS}")
    per_mod = {}
    for m in modalities:
        rec, feats = need(m)
        if len(np.unique(rec)) != len(rec):
            raise ValueError(f"split {split!r}: some records have several {m!r} rows; fusion {fusion!r} needs "
                             "one row per record and modality")
        per_mod[m] = (rec, feats)
    any_rec = np.unique(np.concatenate([r for r, _ in per_mod.values()]))
    common = any_rec
    for rec, _ in per_mod.values():
        common = np.intersect1d(common, rec)
    if not len(common):
        raise ProtocolUnsupported(f"split {split!r}: no record has all of {list(modalities)}")
    parts = []
    for m in modalities:
        rec, feats = per_mod[m]
        order = np.argsort(rec)
        parts.append(feats[order[np.searchsorted(rec[order], common)]])
    if fusion == "concat":
        fused = np.concatenate(parts, axis=1)
    else:
        fused = np.sum(parts, axis=0, dtype=np.float32)
        if fusion == "mean":
            fused /= len(parts)
    return Side(split, fused.astype(np.float32), common, np.full(len(common), "+".join(modalities)),
                **meta(common), n_excluded=int(len(any_rec) - len(common)))


def _resolve_split(features: FeatureSet, name: str, aliases: tuple[str, ...]) -> str:
    for s in (name,) + aliases:
        if s in features.splits:
            return s
    raise ProtocolUnsupported(f"feature set has no split {name!r}" + (f" (nor {list(aliases)})" if aliases else "")
                              + f"; it has {sorted(features.splits)}")


def sample_gallery(pid: np.ndarray, mode: str, shots: int, seed: int,
                   valid: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of the gallery items kept: all, or up to ``shots`` random items per ID (pid >= 0).

    ``valid`` (G,) bool restricts the draw to those items (the non-junk items of a query); the
    draw uses one uniform priority per item from ``seed``, so the same seed keeps the same items
    wherever the valid sets agree.
    """
    if mode == "all":
        return np.arange(len(pid)) if valid is None else np.flatnonzero(valid)
    prio = np.random.default_rng(seed).random(len(pid))
    ok = pid >= 0 if valid is None else (pid >= 0) & valid
    idx = np.flatnonzero(ok)
    if not len(idx):
        return np.zeros(0, dtype=np.int64)
    order = idx[np.lexsort((prio[idx], pid[idx]))]  # by ID, then by priority
    p = pid[order]
    first = np.r_[0, np.flatnonzero(p[1:] != p[:-1]) + 1]
    rank_in_id = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    return np.sort(order[rank_in_id < shots])


def junk_groups(q: "Side", g: "Side", proto: Protocol) -> list[tuple[np.ndarray, np.ndarray]]:
    """Queries that share a junk set, and that set: ``[(query indices, gallery junk mask (G,)), ...]``.

    Junk here is the protocol's rule only (items with pid < 0 are never sampled anyway).
    """
    if proto.junk == "none":
        return [(np.arange(len(q.pid)), np.zeros(len(g.pid), bool))]
    if proto.junk == "same_cam":
        keys = np.stack([q.pid, q.camid], 1)
    elif proto.junk == "same_scene":
        keys = np.stack([q.pid, q.scene], 1)
    elif proto.junk == "cam_group":
        cmap = proto.cam_group_map
        missing = sorted((set(q.camid.tolist()) | set(g.camid.tolist())) - set(cmap))
        if missing:
            raise ValueError(f"cam_group junk rule: cameras {missing} are not in the protocol's cam_groups {cmap}")
        qg = np.array([cmap[int(c)] for c in q.camid])
        gg = np.array([cmap[int(c)] for c in g.camid])
        keys = qg[:, None]
    else:
        raise ValueError(f"unknown junk rule {proto.junk!r}")
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    out = []
    for k, key in enumerate(uniq):
        if proto.junk == "same_cam":
            junk = (g.pid == key[0]) & (g.camid == key[1])
        elif proto.junk == "same_scene":
            junk = (g.pid == key[0]) & (g.scene == key[1])
        else:
            junk = gg == key[0]
        out.append((np.flatnonzero(inv == k), junk))
    return out


@dataclass
class EvalResult:
    """What :func:`evaluate` returns.

    ``summary``: protocol name and settings, metric, rerank/QE settings, counts (``n_query``,
    ``n_gallery``, ``n_skipped``, ``n_excluded[_query|_gallery]``), ``mAP R1 R5 R10 R20 mINP``
    (fractions; mean over trials), ``<metric>_std`` when trials > 1, ``<metric>_ci95`` (bootstrap
    95% interval over queries). ``cmc`` (G,) the CMC curve (mean over trials). ``per_query``:
    one row per query (and trial) with columns ``query key pid camid scene ap inp first_hit n_pos
    n_junk skipped topk topk_dist topk_match topk_junk topk_key [trial]``; ``topk`` holds gallery
    record positions in ranked order including junk items.
    """

    protocol: Protocol
    summary: dict[str, Any]
    cmc: np.ndarray
    per_query: pd.DataFrame
    trials: list[dict[str, float]] = field(default_factory=list)

    def __str__(self) -> str:
        s = self.summary
        pct = " ".join(f"{m}={100 * s[m]:.2f}" + (f"±{100 * s[m + '_std']:.2f}" if m + "_std" in s else "")
                       for m in METRIC_NAMES)
        return f"[{s['protocol']}] {pct} (n_query={s['n_query']}, skipped={s['n_skipped']})"


def _trial_metrics(r: RankingResult) -> dict[str, float]:
    out = {"mAP": r.mAP, "mINP": r.mINP}
    out.update({f"R{k}": r.rank(k) for k in CMC_RANKS})
    return out


def bootstrap_ci(ap: np.ndarray, inp: np.ndarray, first_hit: np.ndarray, n_boot: int = 1000,
                 seed: int = 0) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of each metric, resampling queries with replacement.

    Inputs are (T, Q) arrays (T trials over the same Q queries; NaN = skipped). A resample's
    metric is the mean over trials of the mean over its valid queries.
    """
    t, q = ap.shape
    if q == 0 or n_boot <= 0:
        return {}
    rng = np.random.default_rng(seed)
    vals = {"mAP": ap, "mINP": inp}
    valid = ~np.isnan(first_hit)
    for k in CMC_RANKS:
        vals[f"R{k}"] = np.where(valid, first_hit <= k, np.nan)
    stats = {m: [] for m in vals}
    for s in range(0, n_boot, 64):
        idx = rng.integers(0, q, size=(min(64, n_boot - s), q))
        cnt = valid[:, idx].sum(axis=2)  # (T, B)
        for m, v in vals.items():
            tot = np.nansum(v[:, idx], axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                stats[m].append(np.nanmean(np.where(cnt > 0, tot / cnt, np.nan), axis=0))
    return {m: tuple(float(x) for x in np.nanpercentile(np.concatenate(v), [2.5, 97.5])) for m, v in stats.items()}


def _as_rerank(rerank: Any) -> RerankParams | None:
    if rerank is None or rerank is False:
        return None
    if rerank is True:
        return RerankParams()
    if isinstance(rerank, RerankParams):
        return rerank
    if isinstance(rerank, dict):
        d = dict(rerank)
        if "lambda" in d:
            d["lambda_"] = d.pop("lambda")
        return RerankParams(**d)
    raise TypeError(f"rerank must be None, True, a dict(k1, k2, lambda_) or RerankParams; got {rerank!r}")


def evaluate(features: FeatureSet | str, protocol: Protocol | str, *, metric: str = "euclidean",
             rerank: bool | dict | RerankParams | None = None, qe: int | None = None, device: str = "cpu",
             fusion: str | None = None, topk: int = 10, n_boot: int = 1000, boot_seed: int = 0,
             chunk_mb: float = 256.0, memory_budget_gb: float = 4.0, check_dataset: bool = True,
             progress: bool = False, scorer: Any = None, shortlist: int | None = None) -> EvalResult:
    """Evaluate ``features`` under ``protocol``: CMC, mAP, mINP per trial, with bootstrap intervals.

    Parameters
    ----------
    features : FeatureSet or str
        The extracted features, or the path of a saved ``.npz`` :class:`FeatureSet`.
    protocol : Protocol or str
        A :class:`Protocol` or a registered protocol name (``reidlab protocols`` lists them).
    metric : {"euclidean", "cosine"}
        Distance between query and gallery rows.
    rerank : bool, dict, RerankParams or None
        k-reciprocal re-ranking: True for the defaults (k1=20, k2=6, lambda=0.3), a dict or
        :class:`RerankParams` for explicit ones, None/False for none.
    qe : int, optional
        Average query expansion with that many gallery neighbours (None: off).
    device : str
        Torch device for the distances and the sorting.
    fusion : {"sum", "mean", "concat", "method", "each"}, optional
        Overrides the protocol's fusion of multi-modal sides (``method``: use the method's own
        ``fused:...`` rows).
    topk : int
        Gallery items kept per query in ``per_query`` (ranked lists for the browser).
    n_boot : int
        Bootstrap resamples of the queries for the 95% intervals (0: no intervals).
    boot_seed : int
        Seed of the bootstrap resampling.
    chunk_mb : float
        Memory (MiB) of one query block of the (Q, G) distance matrix; bounds peak memory.
    memory_budget_gb : float
        Re-ranking is refused (:class:`RerankMemoryError`) when it would need more (GiB).
    check_dataset : bool
        Refuse features of another dataset than the protocol's (ValueError).
    progress : bool
        Show tqdm progress bars.
    scorer : reidlab.eval.pairwise.PairScorer, optional
        A learned pair scorer (e.g. PORSCHE's matcher) that ranks instead of the feature distance,
        on (query chunk x gallery chunk) blocks; the summary then reports ``scorer``,
        ``shortlist``, ``scorer_seconds`` and ``scorer_pairs``.
    shortlist : int, optional
        With ``scorer``: re-score only the N nearest gallery items of each query by ``metric``
        (None: exhaustive).

    Returns
    -------
    EvalResult
        ``summary`` (metrics as fractions in [0, 1], settings, counts), ``cmc`` (G,),
        ``per_query`` (one row per query and trial), ``trials``.

    Raises
    ------
    ProtocolUnsupported
        When the feature set lacks the protocol's splits or modality keys.
    """
    if isinstance(features, str):
        features = FeatureSet.load(features)
    proto = get_protocol(protocol)
    if check_dataset and features.dataset != proto.dataset:
        raise ValueError(f"features are of dataset {features.dataset!r} but protocol {proto.name!r} is for "
                         f"{proto.dataset!r}; pick a {features.dataset!r} protocol (`reidlab protocols`) or pass "
                         "check_dataset=False (CLI: --any-dataset) if the data really follows that protocol")
    fus = fusion or proto.fusion
    qs = _resolve_split(features, proto.query_split, proto.query_split_aliases)
    gs = _resolve_split(features, proto.gallery_split, proto.gallery_split_aliases)
    q = build_side(features[qs], qs, proto.query_modalities, fus)
    g_all = build_side(features[gs], gs, proto.gallery_modalities, fus)
    if q.feats.shape[1] != g_all.feats.shape[1]:
        raise ValueError(f"protocol {proto.name!r} with fusion {fus!r}: query features have dimension "
                         f"{q.feats.shape[1]}, gallery {g_all.feats.shape[1]} (concat needs the same modality "
                         "count on both sides; use sum or mean)")
    rr = _as_rerank(rerank)
    if scorer is None and shortlist is not None:
        raise ValueError("shortlist needs a scorer (evaluate(..., scorer=matcher_scorer(model, tokens), shortlist=N))")
    if scorer is not None and (rr is not None or qe):
        raise ValueError("a pairwise scorer ranks by its own distances: rerank / qe apply to feature distances only")
    trials, frames, cmcs = [], [], []
    aps, inps, fhs, skipped = [], [], [], []
    gsizes: list[float] = []
    sampled = proto.gallery_sampling != "all"
    groups = junk_groups(q, g_all, proto) if sampled else [(np.arange(len(q.pid)), np.zeros(len(g_all.pid), bool))]
    n_q = len(q.pid)
    for t in range(proto.trials):
        ap, inp, fh = np.full(n_q, np.nan), np.full(n_q, np.nan), np.full(n_q, np.nan)
        n_pos, n_junk = np.zeros(n_q, np.int64), np.zeros(n_q, np.int64)
        top_rec = [[] for _ in range(n_q)]
        top_key, top_dist, top_match, top_junk = ([[] for _ in range(n_q)] for _ in range(4))
        g_sizes = []
        for qi, junk in groups:
            # sampling after junk removal: draw among this query group's non-junk items only
            gi = sample_gallery(g_all.pid, proto.gallery_sampling, proto.shots, proto.seed + t,
                                valid=~junk if sampled else None)
            g = g_all.subset(gi)
            g_sizes.append(len(gi))
            qs_ = q.subset(qi)
            qf = qs_.feats if qe is None else average_query_expansion(qs_.feats, g.feats, qe, metric=metric)
            meta = dict(q_pid=qs_.pid, g_pid=g.pid, q_camid=qs_.camid, g_camid=g.camid, q_scene=qs_.scene,
                        g_scene=g.scene, junk=proto.junk, cam_groups=proto.cam_group_map,
                        drop_negative_pid=proto.drop_negative_pid, topk=topk, chunk_mb=chunk_mb, device=device,
                        progress=progress)
            if scorer is not None:
                from .metrics import rank_blocks
                from .pairwise import scorer_blocks

                scorer.bind(qs_, g)
                block = scorer_blocks(scorer, len(qs_.pid), len(g.pid), shortlist=shortlist, q_feats=qs_.feats,
                                      g_feats=g.feats, metric=metric, device=device)
                res = rank_blocks(block, len(qs_.pid), len(g.pid), **meta)
            elif rr is not None:
                dist = k_reciprocal_rerank(qf, g.feats, rr, metric=metric, memory_budget_gb=memory_budget_gb,
                                           progress=progress)
                res = rank_distances(dist, **meta)
            else:
                res = rank_features(qf, g.feats, metric=metric, **meta)
            ap[qi], inp[qi], fh[qi], n_pos[qi], n_junk[qi] = res.ap, res.inp, res.first_hit, res.n_pos, res.n_junk
            for j, row in enumerate(qi):
                top_rec[row] = g.record[res.topk_index[j]].tolist()
                top_key[row] = g.key[res.topk_index[j]].tolist()
                top_dist[row] = res.topk_dist[j].tolist()
                top_match[row] = res.topk_match[j].tolist()
                top_junk[row] = res.topk_junk[j].tolist()
        n_gal = max(g_sizes) if g_sizes else 0
        res = RankingResult(ap=ap, inp=inp, first_hit=fh, n_pos=n_pos, n_junk=n_junk,
                            topk_index=np.zeros((n_q, 0), np.int64), topk_dist=np.zeros((n_q, 0), np.float32),
                            topk_match=np.zeros((n_q, 0), bool), topk_junk=np.zeros((n_q, 0), bool),
                            cmc=cmc_from_first_hit(fh, n_gal))
        trials.append(_trial_metrics(res))
        cmcs.append(res.cmc)
        gsizes.append(float(np.mean(g_sizes)) if g_sizes else 0.0)
        aps.append(res.ap), inps.append(res.inp), fhs.append(res.first_hit), skipped.append(res.n_skipped)
        frame = pd.DataFrame({
            "query": q.record, "key": q.key, "pid": q.pid, "camid": q.camid, "scene": q.scene,
            "ap": res.ap, "inp": res.inp, "first_hit": res.first_hit, "n_pos": res.n_pos, "n_junk": res.n_junk,
            "skipped": res.skipped, "topk": top_rec, "topk_dist": top_dist, "topk_match": top_match,
            "topk_junk": top_junk, "topk_key": top_key})
        if proto.trials > 1:
            frame["trial"] = t
        frames.append(frame)
    summary: dict[str, Any] = {
        "protocol": proto.name, "dataset": proto.dataset, "query_split": qs, "gallery_split": gs,
        "query_modalities": "+".join(proto.query_modalities), "gallery_modalities": "+".join(proto.gallery_modalities),
        "fusion": fus, "junk": proto.junk, "gallery_sampling": proto.gallery_sampling, "shots": proto.shots,
        "trials": proto.trials, "seeds": f"{proto.seed}..{proto.seed + proto.trials - 1}", "metric": metric,
        "rerank": str(rr) if rr else "none", "qe": f"average(k={qe})" if qe else "none",
        "n_query": int(len(q.pid)), "n_gallery": int(len(g_all.pid)) if proto.gallery_sampling == "all"
        else float(np.mean(gsizes)),
        "n_skipped": int(sum(skipped)), "n_excluded_query": q.n_excluded, "n_excluded_gallery": g_all.n_excluded,
        "n_excluded": q.n_excluded + g_all.n_excluded,
    }
    if scorer is not None:
        from .pairwise import score_summary

        summary.update(score_summary(scorer, shortlist))
        if shortlist is not None:
            summary["shortlist_metric"] = metric
    if proto.trials > 1:
        summary["n_skipped_per_trial"] = skipped
    for m in METRIC_NAMES:
        vals = np.array([tr[m] for tr in trials], dtype=float)
        summary[m] = float(np.mean(vals))
        if proto.trials > 1:
            summary[m + "_std"] = float(np.std(vals, ddof=1))
    for m, ci in bootstrap_ci(np.stack(aps), np.stack(inps), np.stack(fhs), n_boot, boot_seed).items():
        summary[m + "_ci95"] = ci
    n = min(len(c) for c in cmcs) if cmcs else 0
    cmc = np.mean([c[:n] for c in cmcs], axis=0) if cmcs else np.zeros(0)
    if summary["n_excluded"]:
        log.warning("%s: %d query and %d gallery records lack some of the protocol's modalities and were excluded",
                    proto.name, q.n_excluded, g_all.n_excluded)
    return EvalResult(protocol=proto, summary=summary, cmc=cmc, per_query=pd.concat(frames, ignore_index=True),
                      trials=trials)


def evaluate_all(features: FeatureSet | str, dataset: str | None = None, **kw: Any) -> pd.DataFrame:
    """One summary row per protocol registered for ``dataset`` that the feature set supports.

    Parameters
    ----------
    features : FeatureSet or str
        The extracted features, or the path of a saved ``.npz`` :class:`FeatureSet`.
    dataset : str, optional
        Whose protocols to run (default: ``features.dataset``; another name also turns off
        :func:`evaluate`'s dataset check).
    **kw
        Passed to :func:`evaluate` (``metric``, ``rerank``, ``qe``, ``fusion``, ``n_boot``...).

    Returns
    -------
    pandas.DataFrame
        One row per evaluated protocol: :attr:`EvalResult.summary` (metrics as fractions).
        Protocols whose splits or keys are absent are skipped with a logged note.

    Raises
    ------
    ProtocolUnsupported
        When no protocol of ``dataset`` is supported by the feature set.
    """
    if isinstance(features, str):
        features = FeatureSet.load(features)
    ds = dataset or features.dataset
    rows = []
    for p in list_protocols(ds):
        try:
            rows.append(evaluate(features, p, check_dataset=dataset is None, **kw).summary)
        except ProtocolUnsupported as e:
            log.info("skipping protocol %s: %s", p.name, e)
    if not rows:
        raise ProtocolUnsupported(f"none of the {ds!r} protocols is supported by this feature set "
                                  f"(splits {sorted(features.splits)})")
    return pd.DataFrame(rows)
