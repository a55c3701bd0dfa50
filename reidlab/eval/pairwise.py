"""Ranking by a learned pairwise scorer (a matcher) instead of a feature distance.

A :class:`PairScorer` gives distances between protocol items (smaller = more similar) for a block of
queries x a block of gallery items, and for aligned (query, gallery) pairs. :func:`scorer_blocks` turns
it into the ``block(start, stop) -> (stop - start, G)`` function of the evaluation engine
(:func:`reidlab.eval.metrics.rank_blocks`), so sorting, junk rules and metrics are the engine's own:

* exhaustive: every (query, gallery) pair is scored, in (``q_chunk`` x ``g_chunk``) blocks;
* shortlist N: per query the N nearest gallery items by the global feature distance are re-scored by
  the scorer (pairs mode); every other item keeps its global distance shifted past the scorer's range
  (``scorer.max_distance + 1 + d``), so it ranks after the shortlist and in global order. N is a
  protocol parameter: :func:`reidlab.eval.evaluate` reports it (``shortlist``) with every result.

A matcher scores items by their token maps, which the feature set does not hold: :func:`extract_tokens`
extracts them (``model.tokens(images)`` -> {modality: (B, h, w, c)}) into a :class:`TokenMaps`, and
:class:`MatcherScorer` looks up the tokens of each protocol item by (split, record, key).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np
import torch

from .distance import distance_block, prepare

__all__ = ["MatcherScorer", "PairScorer", "TokenMaps", "evaluate_with_matcher", "extract_tokens", "matcher_scorer",
           "scorer_blocks"]


@dataclass
class TokenMaps:
    """Token maps per split: ``splits[split] = (record (n,), key (n,), tokens (n, h, w, c))`` (CPU tensor)."""

    splits: dict[str, tuple[np.ndarray, np.ndarray, torch.Tensor]] = field(default_factory=dict)

    def positions(self, split: str, record: np.ndarray, key: np.ndarray) -> np.ndarray:
        """Row of each (record, key) item of ``split``; KeyError naming the first missing item."""
        rec, keys, _ = self._split(split)
        lut = {(int(r), str(k)): i for i, (r, k) in enumerate(zip(rec.tolist(), keys.tolist()))}
        out = np.empty(len(record), dtype=np.int64)
        for j, (r, k) in enumerate(zip(np.asarray(record).tolist(), np.asarray(key).tolist())):
            try:
                out[j] = lut[(int(r), str(k))]
            except KeyError:
                raise KeyError(f"split {split!r}: no token map for record {r} key {k!r} (keys present: "
                               f"{sorted(set(keys.tolist()))}); a matcher scores single-modality items only") from None
        return out

    def tokens(self, split: str) -> torch.Tensor:
        """All token maps of ``split`` (n, h, w, c)."""
        return self._split(split)[2]

    def _split(self, split: str) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        if split not in self.splits:
            raise KeyError(f"token maps have no split {split!r}; they have {sorted(self.splits)} "
                           "(extract_tokens(..., splits=[...]) with the protocol's splits)")
        return self.splits[split]


@torch.no_grad()
def extract_tokens(model: torch.nn.Module, data, splits: Iterable[str], transform: Callable, *,
                   batch_size: int = 64, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                   progress: bool = False) -> TokenMaps:
    """Token maps of every record of ``splits``, one row per (record, modality) the record holds.

    ``model.tokens(images)`` must return ``{modality: (B, h, w, c)}`` (e.g. :meth:`Porsche.tokens`); a model
    without it raises TypeError. ``dtype`` float16 halves the memory (c is large: D x (L + 1)).
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from reidlab.data.torch_dataset import ReIDImageDataset

    model = getattr(model, "module", model)
    fn = getattr(type(model), "tokens", None)
    if not callable(fn):
        raise TypeError(f"{type(model).__name__} has no tokens(images) method: it cannot be ranked by a matcher")
    was = model.training
    model.eval()
    out: dict[str, tuple[np.ndarray, np.ndarray, torch.Tensor]] = {}
    try:
        for split in splits:
            ds = ReIDImageDataset(data[split], tuple(model.modalities), transform, relabel=False)
            loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
            recs, keys, toks = [], [], []
            start = 0
            for batch in tqdm(loader, desc=f"tokens {split}", leave=False, disable=not progress):
                images = {m: t.to(device) for m, t in batch["images"].items()}
                b = next(iter(images.values())).shape[0]
                pos = np.arange(start, start + b)
                for m, t in sorted(model.tokens(images).items()):
                    ok = np.asarray(batch["present"][m], dtype=bool) if m in batch["present"] else np.ones(b, bool)
                    if ok.any():
                        toks.append(t[torch.from_numpy(ok).to(t.device)].to("cpu", dtype))
                        recs.append(pos[ok])
                        keys.append(np.full(int(ok.sum()), m))
                start += b
            if not toks:
                raise ValueError(f"split {split!r}: no record holds any of {model.modalities}")
            out[split] = (np.concatenate(recs), np.concatenate(keys), torch.cat(toks))
    finally:
        model.train(was)
    return TokenMaps(out)


class PairScorer:
    """A learned pairwise distance between protocol items (base class).

    Subclasses implement :meth:`bind` (look up the items of the query and gallery sides), :meth:`block`
    (distances of query rows x gallery rows, (len(qi), len(gi))) and :meth:`pairs` (distances of aligned pairs,
    (P,)). ``max_distance``: an upper bound of the distances (the shortlist mode puts unscored items past it).
    """

    name: str = "scorer"
    max_distance: float = 1.0

    def bind(self, q, g) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def block(self, qi: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def pairs(self, qi: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class MatcherScorer(PairScorer):
    """Scores items by their token maps with ``distance_fn(q_tok (a, ...), g_tok (b, ...)) -> (a, b)`` and
    ``pair_fn(q_tok (P, ...), g_tok (P, ...)) -> (P,)``, run on (``q_chunk`` x ``g_chunk``) blocks on ``device``.

    ``seconds`` accumulates the time spent in the scorer (the cost a matcher adds over a feature distance).
    """

    def __init__(self, tokens: TokenMaps, distance_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 pair_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None, *,
                 name: str = "matcher", max_distance: float = 1.0, q_chunk: int = 32, g_chunk: int = 64,
                 pair_chunk: int = 2048, device: str | torch.device = "cpu", keep_on_device: bool = False) -> None:
        self.tokens = tokens
        self.distance_fn = distance_fn
        self.pair_fn = pair_fn
        self.name = name
        self.max_distance = float(max_distance)
        self.q_chunk, self.g_chunk, self.pair_chunk = int(q_chunk), int(g_chunk), int(pair_chunk)
        self.device = torch.device(device)
        self.keep_on_device = bool(keep_on_device)  # move the bound tokens to ``device`` once (when they fit)
        self.seconds = 0.0
        self.n_pairs = 0
        self._q: torch.Tensor | None = None
        self._g: torch.Tensor | None = None

    def bind(self, q, g) -> None:
        """Tokens of the query side ``q`` and gallery side ``g`` (:class:`reidlab.eval.scoring.Side`)."""
        self._q = self.tokens.tokens(q.split)[torch.from_numpy(self.tokens.positions(q.split, q.record, q.key))]
        self._g = self.tokens.tokens(g.split)[torch.from_numpy(self.tokens.positions(g.split, g.record, g.key))]
        if self.keep_on_device:
            self._q, self._g = self._q.to(self.device), self._g.to(self.device)

    def _need(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._q is None or self._g is None:
            raise RuntimeError("MatcherScorer.bind(query_side, gallery_side) first")
        return self._q, self._g

    @torch.no_grad()
    def block(self, qi: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:
        qt, gt = self._need()
        t0 = time.perf_counter()
        out = torch.empty(len(qi), len(gi), dtype=torch.float32)
        for a in range(0, len(qi), self.q_chunk):
            qb = qt[qi[a:a + self.q_chunk].to(qt.device)].to(self.device, torch.float32)
            for b in range(0, len(gi), self.g_chunk):
                gb = gt[gi[b:b + self.g_chunk].to(gt.device)].to(self.device, torch.float32)
                out[a:a + len(qb), b:b + len(gb)] = self.distance_fn(qb, gb).float().cpu()
        self.seconds += time.perf_counter() - t0
        self.n_pairs += len(qi) * len(gi)
        return out

    @torch.no_grad()
    def pairs(self, qi: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:
        qt, gt = self._need()
        t0 = time.perf_counter()
        out = torch.empty(len(qi), dtype=torch.float32)
        for a in range(0, len(qi), self.pair_chunk):
            qb = qt[qi[a:a + self.pair_chunk].to(qt.device)].to(self.device, torch.float32)
            gb = gt[gi[a:a + self.pair_chunk].to(gt.device)].to(self.device, torch.float32)
            if self.pair_fn is not None:
                out[a:a + len(qb)] = self.pair_fn(qb, gb).float().cpu()
            else:  # no pairs mode: one (1 x 1) block per pair
                out[a:a + len(qb)] = torch.stack([self.distance_fn(qb[i:i + 1], gb[i:i + 1])[0, 0]
                                                  for i in range(len(qb))]).float().cpu()
        self.seconds += time.perf_counter() - t0
        self.n_pairs += len(qi)
        return out


def matcher_scorer(model: torch.nn.Module, tokens: TokenMaps, *, level: str | None = None, **kw) -> MatcherScorer:
    """A :class:`MatcherScorer` over ``model.match_distance`` / ``model.match_pair_distance`` (e.g. PORSCHE's
    layer-3 matcher, distance 1 - sigmoid(score / 10)); the model is put in eval mode."""
    model = getattr(model, "module", model)
    model.eval()
    name = f"{getattr(model, 'name', type(model).__name__)}-matcher:{level or model.config.get('test_level', '')}"
    return MatcherScorer(tokens, lambda q, g: model.match_distance(q, g, level),
                         lambda q, g: model.match_pair_distance(q, g, level), name=name, max_distance=1.0, **kw)


def scorer_blocks(scorer: PairScorer, n_query: int, n_gallery: int, *, shortlist: int | None = None,
                  q_feats: np.ndarray | None = None, g_feats: np.ndarray | None = None, metric: str = "cosine",
                  device: str | torch.device = "cpu") -> Callable[[int, int], torch.Tensor]:
    """The engine's ``block(start, stop) -> (stop - start, G)`` distances from ``scorer`` (bound to the sides).

    ``shortlist`` None: exhaustive. ``shortlist`` N: the N nearest gallery items of each query by ``metric``
    on ``q_feats`` / ``g_feats`` are re-scored; the rest get ``max_distance + 1 + global distance``.
    """
    all_g = torch.arange(n_gallery)
    if shortlist is None:
        return lambda s, e: scorer.block(torch.arange(s, e), all_g).to(device)
    if int(shortlist) < 1:
        raise ValueError(f"shortlist must be >= 1 gallery items (or None for exhaustive), got {shortlist}")
    if q_feats is None or g_feats is None:
        raise ValueError("shortlist mode needs the global features of both sides (q_feats, g_feats)")
    n = min(int(shortlist), n_gallery)
    pq, sq = prepare(torch.as_tensor(q_feats, dtype=torch.float32), metric)
    pg, sg = prepare(torch.as_tensor(g_feats, dtype=torch.float32), metric)
    offset = float(scorer.max_distance) + 1.0

    def block(s: int, e: int) -> torch.Tensor:
        d = distance_block(pq[s:e], None if sq is None else sq[s:e], pg, sg, metric).clamp_min(0)
        idx = d.topk(n, dim=1, largest=False).indices                 # (b, n), the shortlist
        qi = torch.arange(s, e).unsqueeze(1).expand(-1, n).reshape(-1)
        md = scorer.pairs(qi, idx.reshape(-1)).reshape(e - s, n)
        out = d + offset
        out.scatter_(1, idx, md)
        return out.to(device)

    return block


def score_summary(scorer: PairScorer, shortlist: int | None) -> Mapping[str, object]:
    """What every result ranked by ``scorer`` reports: scorer name, shortlist N ("all" = exhaustive), time."""
    return {"scorer": scorer.name, "shortlist": "all" if shortlist is None else int(shortlist),
            "scorer_seconds": float(getattr(scorer, "seconds", float("nan"))),
            "scorer_pairs": int(getattr(scorer, "n_pairs", -1))}


def evaluate_with_matcher(model: torch.nn.Module, data, features, protocols: Iterable[str], transform: Callable, *,
                          shortlist: int | None = None, metric: str = "cosine", device: str | torch.device = "cpu",
                          batch_size: int = 64, progress: bool = False, **kw):
    """One summary row per protocol, ranked by ``model``'s matcher (``matcher_scorer``) where the protocol's items
    are single images (cross-modal or single-modality protocols); fused multi-modal protocols are ranked by
    ``metric`` on the features instead. The ``scorer`` column says which ranking each row used ("feature" or the
    matcher's name) and ``shortlist`` the N of the shortlist mode ("all" = exhaustive)."""
    import pandas as pd

    from .protocols import get_protocol
    from .scoring import evaluate

    protos = [get_protocol(p) for p in protocols]
    single = [p for p in protos if len(p.query_modalities) == 1 and len(p.gallery_modalities) == 1]
    splits = sorted({s for p in single for s in (p.query_split, *p.query_split_aliases, p.gallery_split)
                     if s in data.splits})
    tokens = extract_tokens(model, data, splits, transform, batch_size=batch_size, device=device,
                            progress=progress) if single else None
    rows = []
    for p in protos:
        if p in single:
            scorer = matcher_scorer(model, tokens, device=device)
            rows.append(evaluate(features, p, metric=metric, scorer=scorer, shortlist=shortlist, **kw).summary)
        else:
            rows.append({**evaluate(features, p, metric=metric, **kw).summary, "scorer": "feature",
                         "shortlist": "-"})
    return pd.DataFrame(rows)
