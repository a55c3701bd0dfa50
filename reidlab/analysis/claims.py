"""Checking a paper's headline claims on reidlab's own runs, with bootstrap confidence intervals.

A :class:`~reidlab.methods.specs.Claim` (registered with its table by the method file) says e.g.
"row A beats row B on protocol P". :func:`check_claims` evaluates every claim of a table from the
run folders that :func:`reidlab.analysis.tables.run_table` trained or reused, and returns one line
per claim: the two sides' point values, ``delta`` (> 0 means the claim's direction), its 95 %
percentile bootstrap interval ``ci95`` and ``holds`` (the whole interval above 0).

How each kind is resampled (``n_boot`` resamples, seeded):

* ``greater`` / ``ratio`` — per-query values (AP for ``mAP``, first-hit <= k for ``Rk``, INP for
  ``mINP``; queries averaged over the protocol's trials). When both sides are the same query set
  (same protocol: same data, same queries) the resample is *paired*: the same queries are drawn
  for both rows. Otherwise the two sides are resampled independently.
* ``above_chance`` — the chance level is computed per query (the exact expected
  AP of a uniformly random ranking with that query's positives and valid gallery size; for ``Rk``
  the probability that a random ranking puts a positive in the top k), then resampled paired with
  the query's own value.
* ``gap_lower`` — the gap statistic (:data:`GAP_STATISTICS`) of the two runs' gallery features,
  identities resampled with replacement, the same identities for both runs (paired).
* ``drop_greater`` — per-query values split by the query's capture attribute (``attr``,
  ``name=value``); drop = mean without the attribute − mean with it; queries resampled within each
  group (stratified), the two rows independently unless they share the query set.

Chance levels come from :mod:`reidlab.eval.chance` (exact, tested against enumeration and Monte Carlo).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from reidlab.eval.chance import chance_ap_array, chance_rank_k
from reidlab.methods.specs import Claim, TableSpec

__all__ = ["GAP_STATISTICS", "ClaimChecker", "check_claims", "claims_for_summary", "plot_claims"]


# ----------------------------------------------------------------------------------------------
# chance levels


# ----------------------------------------------------------------------------------------------
# per-query values of one (run, protocol)


def _metric_values(pq: pd.DataFrame, metric: str) -> np.ndarray:
    """Per-row value of ``metric`` from an evaluation's per-query table (NaN where skipped)."""
    if metric == "mAP":
        return pq["ap"].to_numpy(dtype=np.float64)
    if metric == "mINP":
        return pq["inp"].to_numpy(dtype=np.float64)
    if metric.startswith("R") and metric[1:].isdigit():
        fh = pq["first_hit"].to_numpy(dtype=np.float64)
        return np.where(np.isnan(fh), np.nan, (fh <= int(metric[1:])).astype(np.float64))
    raise ValueError(f"unknown retrieval metric {metric!r}; use mAP, mINP or R<k>")


def _chance_values(pq: pd.DataFrame, metric: str, n_gallery: float) -> np.ndarray:
    n_pos = pq["n_pos"].to_numpy(dtype=np.int64)
    n_valid = np.round(n_gallery - pq["n_junk"].to_numpy(dtype=np.float64)).astype(np.int64)
    if metric == "mAP":
        return np.asarray(chance_ap_array(np.maximum(n_pos, 0), np.maximum(n_valid, n_pos)), dtype=np.float64)
    if metric.startswith("R") and metric[1:].isdigit():
        return np.asarray(chance_rank_k(n_pos, np.maximum(n_valid, n_pos), int(metric[1:])), dtype=np.float64)
    raise ValueError(f"above_chance: no chance level for metric {metric!r} (use mAP or R<k>)")


@dataclass
class _Side:
    """Per-query values of one side of a claim: ``ids`` identify queries (for pairing)."""

    values: np.ndarray
    ids: np.ndarray
    group: np.ndarray | None = None  # bool: query has the claim's attribute (drop_greater)
    chance: np.ndarray | None = None


def _per_query(result: Any, metric: str, chance: bool = False) -> _Side:
    pq = result.per_query.copy()
    pq["_v"] = _metric_values(pq, metric)
    if chance:
        pq["_c"] = _chance_values(pq, metric, float(result.summary["n_gallery"]))
    pq["_id"] = pq["query"].astype(str) + "|" + pq["key"].astype(str)
    cols = ["_v"] + (["_c"] if chance else [])
    g = pq.groupby("_id", sort=True)[cols].mean()  # mean over trials (single/multi-shot protocols)
    g = g[np.isfinite(g["_v"].to_numpy())]
    return _Side(values=g["_v"].to_numpy(), ids=g.index.to_numpy(),
                 chance=g["_c"].to_numpy() if chance else None)


# ----------------------------------------------------------------------------------------------
# bootstrap


def _percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    s = samples[np.isfinite(samples)]
    if len(s) == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(s, [2.5, 97.5])
    return float(lo), float(hi)


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) == 0:
        return np.full(n_boot, np.nan)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    return values[idx].mean(axis=1)


def _paired(a: _Side, b: _Side) -> tuple[np.ndarray, np.ndarray] | None:
    """Aligned values when both sides hold exactly the same queries; else None."""
    if len(a.ids) != len(b.ids) or not np.array_equal(np.sort(a.ids), np.sort(b.ids)):
        return None
    ia, ib = np.argsort(a.ids), np.argsort(b.ids)
    return a.values[ia], b.values[ib]


def _compare(a: _Side, b: _Side, factor: float, n_boot: int, rng: np.random.Generator) -> dict[str, Any]:
    """delta = mean(A) - factor * mean(B), paired when the query sets are equal."""
    pair = _paired(a, b)
    if pair is not None:
        va, vb = pair
        idx = rng.integers(0, len(va), size=(n_boot, len(va)))
        boots = va[idx].mean(1) - factor * vb[idx].mean(1)
    else:
        boots = _boot_means(a.values, n_boot, rng) - factor * _boot_means(b.values, n_boot, rng)
    va_, vb_ = float(np.mean(a.values)), float(np.mean(b.values))
    return {"value_a": va_, "value_b": vb_, "delta": va_ - factor * vb_, "ci95": _percentile_ci(boots),
            "paired": pair is not None, "n_a": len(a.values), "n_b": len(b.values)}


def _drop(side: _Side, n_boot: int, rng: np.random.Generator, idx_fn=None) -> tuple[float, np.ndarray]:
    g = side.group
    assert g is not None
    without, with_ = side.values[~g], side.values[g]
    if len(without) == 0 or len(with_) == 0:
        raise ValueError(f"drop_greater: {int(g.sum())} queries with the attribute and {int((~g).sum())} without; "
                         "both groups need queries (does the data carry this attribute?)")
    point = float(without.mean() - with_.mean())
    return point, _boot_means(without, n_boot, rng) - _boot_means(with_, n_boot, rng)


# ----------------------------------------------------------------------------------------------
# gap statistics


def _gap_centroid(X: np.ndarray, mods: np.ndarray) -> float:
    from reidlab.analysis.gap import centroid_distance

    return centroid_distance(X, mods)


def _gap_mmd(X: np.ndarray, mods: np.ndarray) -> float:
    from reidlab.analysis.gap import mmd

    u = sorted(set(mods.tolist()))
    return mmd(X[mods == u[0]], X[mods == u[1]])


GAP_STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "centroid_distance": _gap_centroid,
    "mmd2": _gap_mmd,
}
"""Gap statistics of ``gap_lower`` claims computed on resampled identities; ``probe_accuracy``
(modality read by an identity-grouped logistic-regression probe, out-of-fold predictions) is
handled separately: its per-row correctness is resampled by identity."""


def _gap_rows(features: Any, modalities: Sequence[str], split: str, per_id: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2-normalised rows of ``split`` for the two ``modalities``: X (N, D), pids (N,), mods (N,)."""
    from reidlab.analysis.gap import _l2n, stratified_subsample

    sf = features[split]
    sel = np.flatnonzero(np.isin(sf.key.astype(str), list(modalities)))
    if len(sel) == 0:
        raise ValueError(f"gap_lower: split {split!r} has no rows for {list(modalities)} (keys: {sf.keys})")
    sub = sel[stratified_subsample(sf.pid[sf.record[sel]], sf.key[sel], None, per_id, seed)]
    return _l2n(sf.feats[sub].astype(np.float64)), sf.pid[sf.record[sub]], sf.key[sub].astype(str)


def _probe_correct(X: np.ndarray, mods: np.ndarray, pids: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = int(min(5, len(np.unique(pids))))
    perm = {u: i for i, u in enumerate(np.random.default_rng(seed).permutation(np.unique(pids)))}
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    pred = cross_val_predict(clf, X, mods, cv=GroupKFold(n_splits=folds), groups=np.array([perm[p] for p in pids]))
    return (pred == mods).astype(np.float64)


def _gap_claim(fa: Any, fb: Any, claim: Claim, modalities: Sequence[str], split: str, n_boot: int,
               rng: np.random.Generator, seed: int, per_id: int) -> dict[str, Any]:
    """delta = stat(B) - stat(A) with identities resampled jointly (both runs saw the same data)."""
    Xa, pa, ma = _gap_rows(fa, modalities, split, per_id, seed)
    Xb, pb, mb = _gap_rows(fb, modalities, split, per_id, seed)
    ids = np.intersect1d(np.unique(pa), np.unique(pb))
    if len(ids) < 2:
        raise ValueError("gap_lower: the two runs share fewer than two identities in the gap split")
    rows_a = {p: np.flatnonzero(pa == p) for p in ids}
    rows_b = {p: np.flatnonzero(pb == p) for p in ids}
    if claim.metric == "probe_accuracy":
        ca, cb = _probe_correct(Xa, ma, pa, seed), _probe_correct(Xb, mb, pb, seed)
        stat_a = lambda r: float(ca[r].mean())  # noqa: E731
        stat_b = lambda r: float(cb[r].mean())  # noqa: E731
    elif claim.metric in GAP_STATISTICS:
        fn = GAP_STATISTICS[claim.metric]
        stat_a = lambda r: fn(Xa[r], ma[r])  # noqa: E731
        stat_b = lambda r: fn(Xb[r], mb[r])  # noqa: E731
    else:
        raise ValueError(f"gap_lower: unknown gap statistic {claim.metric!r}; "
                         f"use one of {sorted(GAP_STATISTICS) + ['probe_accuracy']}")
    all_a = np.concatenate([rows_a[p] for p in ids])
    all_b = np.concatenate([rows_b[p] for p in ids])
    va, vb = stat_a(all_a), stat_b(all_b)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        draw = rng.choice(ids, size=len(ids), replace=True)
        boots[i] = stat_b(np.concatenate([rows_b[p] for p in draw])) - stat_a(np.concatenate([rows_a[p] for p in draw]))
    return {"value_a": va, "value_b": vb, "delta": vb - va, "ci95": _percentile_ci(boots), "paired": True,
            "n_a": len(ids), "n_b": len(ids)}


# ----------------------------------------------------------------------------------------------
# the checker


class ClaimChecker:
    """Evaluates claims of one table from its runs; caches features and evaluations per run.

    ``runs``: row label -> run folder (str / Path) or an object with ``run_dir``.
    ``load_data``: ``run_dir -> ReIDData`` used to read query attributes (``drop_greater``);
    defaults to rebuilding the run's dataset from its config.
    """

    def __init__(self, spec: TableSpec, runs: Mapping[str, Any], *, n_boot: int = 1000, seed: int = 0,
                 gap_split: str = "gallery", gap_per_id: int = 4,
                 load_data: Callable[[Path], Any] | None = None) -> None:
        self.spec = spec
        self.runs = {k: Path(getattr(v, "run_dir", v)) for k, v in runs.items()}
        self.n_boot, self.seed = int(n_boot), int(seed)
        self.gap_split, self.gap_per_id = gap_split, int(gap_per_id)
        self._load_data = load_data or _data_of_run
        self._feats: dict[Path, Any] = {}
        self._evals: dict[tuple[Path, str], Any] = {}
        self._data: dict[Path, Any] = {}

    # -- cached pieces
    def _run(self, label: str) -> Path:
        if label not in self.runs:
            raise KeyError(f"table {self.spec.name}: no run for row {label!r} (rows with runs: {sorted(self.runs)}); "
                           "run the table with these rows first")
        return self.runs[label]

    def features(self, label: str) -> Any:
        from reidlab.eval.features import FeatureSet

        d = self._run(label)
        if d not in self._feats:
            path = d / "features.npz"
            if not path.exists():
                raise FileNotFoundError(f"{path}: the run has no features.npz (did it finish?)")
            self._feats[d] = FeatureSet.load(path)
        return self._feats[d]

    def result(self, label: str, protocol: str) -> Any:
        from reidlab.eval import evaluate

        key = (self._run(label), protocol)
        if key not in self._evals:
            self._evals[key] = evaluate(self.features(label), protocol, n_boot=0)
        return self._evals[key]

    def _attr_mask(self, label: str, result: Any, attr: str) -> np.ndarray:
        name, value = attr.split("=", 1)
        d = self._run(label)
        if d not in self._data:
            self._data[d] = self._load_data(d)
        data = self._data[d]
        split = result.summary["query_split"]
        recs = data.splits[split]
        sf = self.features(label)[split]
        pq = result.per_query.drop_duplicates(["query", "key"]).copy()
        pq["_id"] = pq["query"].astype(str) + "|" + pq["key"].astype(str)
        pq = pq.set_index("_id")
        idx = sf.index[pq["query"].to_numpy(dtype=np.int64)]
        vals = np.array([str(recs[int(i)].attrs.get(name, "")) for i in idx])
        if not np.any(vals != ""):
            raise ValueError(f"drop_greater: the queries of {split!r} carry no attribute {name!r} "
                             f"(run {d}); the claim cannot be checked on this data")
        return pd.Series(vals == value, index=pq.index)

    # -- one claim
    def check(self, claim: Claim, rng: np.random.Generator) -> dict[str, Any]:
        k = claim.kind
        if k in ("greater", "ratio"):
            a = _per_query(self.result(claim.a, claim.protocol), claim.metric)
            b = _per_query(self.result(claim.b, claim.protocol_b or claim.protocol), claim.metric)
            return _compare(a, b, claim.factor if k == "ratio" else 1.0, self.n_boot, rng)
        if k == "above_chance":
            a = _per_query(self.result(claim.a, claim.protocol), claim.metric, chance=True)
            chance = _Side(values=a.chance, ids=a.ids)
            out = _compare(a, chance, claim.factor, self.n_boot, rng)
            out["chance"] = out.pop("value_b")
            out["value_b"] = out["chance"]
            return out
        if k == "gap_lower":
            from reidlab.eval import get_protocol

            mods: tuple[str, ...] = ()
            if claim.protocol:
                p = get_protocol(claim.protocol)
                mods = tuple(dict.fromkeys((*p.query_modalities, *p.gallery_modalities)))
            if len(mods) != 2:
                raise ValueError(f"gap_lower claim {claim.id!r}: protocol {claim.protocol!r} must span exactly two "
                                 f"modalities (got {mods})")
            return _gap_claim(self.features(claim.a), self.features(claim.b), claim, mods, self.gap_split,
                              self.n_boot, rng, self.seed, self.gap_per_id)
        if k == "drop_greater":
            sides = []
            for label, proto in ((claim.a, claim.protocol), (claim.b, claim.protocol_b or claim.protocol)):
                res = self.result(label, proto)
                s = _per_query(res, claim.metric)
                s.group = self._attr_mask(label, res, claim.attr).reindex(s.ids).to_numpy(dtype=bool)
                sides.append(s)
            (pa, ba), (pb, bb) = (_drop(s, self.n_boot, rng) for s in sides)
            return {"value_a": pa, "value_b": pb, "delta": pa - pb, "ci95": _percentile_ci(ba - bb), "paired": False,
                    "n_a": len(sides[0].values), "n_b": len(sides[1].values)}
        raise ValueError(f"claim {claim.id!r}: unknown kind {k!r}")  # pragma: no cover - Claim validates kinds

    def check_all(self, claims: Sequence[Claim] | None = None, progress: bool = True) -> pd.DataFrame:
        """One row per claim: ``id paper claim kind a b protocol metric value_a value_b delta ci_low
        ci_high holds verdict paired n_a n_b``; a claim whose rows were not run is reported with
        ``verdict = "not run"`` (and ``holds`` None), never silently dropped."""
        rows = []
        claims = list(self.spec.claims if claims is None else claims)
        for i, c in enumerate(tqdm(claims, desc=f"claims {self.spec.name}", disable=not progress)):
            base = {"id": c.id, "paper": c.paper, "claim": c.text, "kind": c.kind, "a": c.a, "b": c.b,
                    "protocol": c.protocol, "protocol_b": c.protocol_b, "metric": c.metric}
            missing = [x for x in (c.a, c.b) if x is not None and x not in self.runs]
            if missing:
                rows.append({**base, "holds": None, "verdict": f"not run (rows {missing})"})
                continue
            rng = np.random.default_rng([self.seed, i])
            r = self.check(c, rng)
            lo, hi = r.pop("ci95")
            holds = bool(lo > 0)
            verdict = "holds" if holds else ("reversed" if hi < 0 else "not shown (CI includes 0)")
            rows.append({**base, **r, "ci_low": lo, "ci_high": hi, "holds": holds, "verdict": verdict})
        return pd.DataFrame(rows)


def _data_of_run(run_dir: Path) -> Any:
    """The dataset a run was trained on (synthetic data regenerated from the cache when needed)."""
    from reidlab.data import load_dataset
    from reidlab.engine.config import load_config

    cfg = load_config(Path(run_dir) / "config.yaml")
    root = cfg.root
    if root is None:
        from reidlab.data.synth import ensure_synthetic

        root = ensure_synthetic(cfg.dataset, preset=cfg.preset, seed=cfg.data_seed, cache_dir=cfg.synth_cache,
                                **cfg.synth_overrides)
    return load_dataset(cfg.dataset, root)


def check_claims(spec: TableSpec, table: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
                 progress: bool = True, **kw: Any) -> pd.DataFrame:
    """Check every claim of ``spec`` on the runs of ``table`` (the output of ``run_table``).

    Parameters
    ----------
    spec : the table (its ``claims``).
    table : ``run_table`` output; its ``row`` and ``run_dir`` columns name the run of each row.
    n_boot : bootstrap resamples per claim.
    seed : seeds the resampling (the same table gives the same CIs).

    Returns
    -------
    DataFrame, one row per claim (see :meth:`ClaimChecker.check_all`); metric values are fractions.
    """
    runs = dict(zip(table["row"], table["run_dir"])) if len(table) else {}
    return ClaimChecker(spec, runs, n_boot=n_boot, seed=seed, **kw).check_all(progress=progress)


def claims_for_summary(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The runner's ``summary.json`` form: ``[{id, paper, claim, holds, delta, ci95}]``."""
    out = []
    for _, r in df.iterrows():
        ci = [r.get("ci_low"), r.get("ci_high")]
        out.append({"id": r["id"], "paper": r["paper"], "claim": r["claim"],
                    "holds": None if r.get("holds") is None or pd.isna(r.get("holds")) else bool(r["holds"]),
                    "delta": None if pd.isna(r.get("delta", np.nan)) else float(r["delta"]),
                    "ci95": None if any(pd.isna(x) for x in ci) else [float(ci[0]), float(ci[1])],
                    "verdict": r.get("verdict")})
    return out


def plot_claims(df: pd.DataFrame, ax: Any = None, title: str | None = None) -> Any:
    """Forest plot: each claim's delta with its 95 % CI; green = holds, grey = not shown, red = reversed."""
    import matplotlib.pyplot as plt

    d = df[df["holds"].notna()] if "holds" in df else df.iloc[0:0]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * max(len(d), 1) + 1.2))
    colours = {"holds": "tab:green", "reversed": "tab:red"}
    for i, (_, r) in enumerate(d.iloc[::-1].iterrows()):
        c = colours.get(r["verdict"], "tab:grey")
        ax.errorbar(r["delta"], i, xerr=[[r["delta"] - r["ci_low"]], [r["ci_high"] - r["delta"]]], fmt="o", color=c,
                    capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(d)))
    ax.set_yticklabels([f"{r['id']}" for _, r in d.iloc[::-1].iterrows()], fontsize=8)
    ax.set_xlabel("delta (> 0: the paper's direction), 95 % bootstrap CI")
    ax.set_title(title or "claims")
    ax.figure.tight_layout()
    return ax
