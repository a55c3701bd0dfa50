"""The modality gap as numbers: how far apart the modalities of one model's embeddings lie.

Four views of the same question (notebook 03):

* :func:`centroid_distance` — distance between the mean embedding of each modality;
* :func:`modality_probe_accuracy` — can a linear classifier tell the modality from the
  embedding? (chance = majority share; ~chance means the embedding hides the modality);
* :func:`mmd` — unbiased squared Maximum Mean Discrepancy with an RBF kernel;
* :func:`pair_distance_distributions` — intra-ID vs inter-ID distances per modality pair
  (a small gap means cross-modal intra-ID distances look like same-modal ones).

:func:`gap_report` runs them all on a :class:`~reidlab.eval.features.FeatureSet` after a
seeded, stratified subsample (same IDs in every modality).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from reidlab import MODALITIES
from reidlab.eval.features import FeatureSet

#: Notebook 03's default comparison per dataset: ``(table, row without, row with)`` the component
#: meant to narrow the gap — Kamenou's L_cos on RGBN300, TransOSS's contrastive optical-SAR
#: pre-training on HOSS. Rows of registered tables, so the runs are shared with notebook 06.
GAP_ROWS: dict[str, tuple[str, str, str]] = {
    "rgbn300": ("kamenou_table1", "Baseline + FC_e", "Baseline + FC_e + L_cos"),
    "hoss": ("transoss_ablation", "full", "full + pair pre-training"),
}


def _l2n(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(n, 1e-12)


def stratified_subsample(pids: np.ndarray, keys: np.ndarray, n_ids: int | None, per_id: int | None,
                         seed: int) -> np.ndarray:
    """Row indices of a seeded subsample: ``n_ids`` IDs present in every key, ``per_id`` rows per (ID, key).

    ``pids`` (R,) identity per row; ``keys`` (R,) modality (or any group) per row. Only IDs
    that have rows under every distinct key are eligible, so each modality shows the same
    identities. ``None`` means "all". Returns sorted int64 indices into the rows.
    """
    pids = np.asarray(pids)
    keys = np.asarray(keys).astype(str)
    if len(pids) != len(keys):
        raise ValueError(f"stratified_subsample: pids has {len(pids)} rows, keys has {len(keys)}")
    rng = np.random.default_rng(seed)
    uk = sorted(set(keys.tolist()))
    eligible = sorted(set.intersection(*[set(pids[keys == k].tolist()) for k in uk])) if uk else []
    if not eligible:
        raise ValueError(f"stratified_subsample: no identity has rows under every key {uk}")
    if n_ids is not None:
        if n_ids < 1:
            raise ValueError(f"n_ids must be >= 1, got {n_ids}")
        chosen = rng.choice(np.array(eligible), size=min(n_ids, len(eligible)), replace=False)
    else:
        chosen = np.array(eligible)
    out = []
    for p in np.sort(chosen):
        for k in uk:
            idx = np.flatnonzero((pids == p) & (keys == k))
            if per_id is not None and len(idx) > per_id:
                idx = rng.choice(idx, size=per_id, replace=False)
            out.append(idx)
    return np.sort(np.concatenate(out)).astype(np.int64)


def _two_groups(X: np.ndarray, mod: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    mod = np.asarray(mod).astype(str)
    u = sorted(set(mod.tolist()))
    if len(u) != 2:
        raise ValueError(f"expected exactly two modalities in `mod`, got {u}; select a pair first")
    if len(X) != len(mod):
        raise ValueError(f"X has {len(X)} rows, mod has {len(mod)}")
    return X[mod == u[0]], X[mod == u[1]], u


def centroid_distance(X: np.ndarray, mod: np.ndarray, *, relative: bool = False) -> float:
    """Euclidean distance between the centroids of the two modalities in ``mod``.

    ``X`` (N, D) embeddings (normalise them first if the model is compared by cosine);
    ``mod`` (N,) with exactly two distinct labels. With ``relative=True`` the distance is
    divided by the mean distance of a row to its own modality's centroid, making it
    comparable across models whose embeddings have different scales (units: spreads).
    """
    A, B, _ = _two_groups(np.asarray(X, dtype=np.float64), mod)
    ca, cb = A.mean(0), B.mean(0)
    d = float(np.linalg.norm(ca - cb))
    if relative:
        spread = np.concatenate([np.linalg.norm(A - ca, axis=1), np.linalg.norm(B - cb, axis=1)]).mean()
        d = d / max(float(spread), 1e-12)
    return d


def modality_probe_accuracy(X: np.ndarray, mod: np.ndarray, seed: int, cv: int = 5,
                            groups: np.ndarray | None = None) -> dict[str, float]:
    """Cross-validated accuracy of a logistic-regression probe predicting the modality from ``X``.

    ``X`` (N, D); ``mod`` (N,) labels (two or more). Features are standardised inside each
    fold. With ``groups`` (e.g. identities, (N,)) folds never split a group, so the probe
    cannot lean on identity. Returns ``{"accuracy", "std", "chance", "folds"}`` where
    ``chance`` is the majority-class share (the accuracy of always guessing the commonest).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(mod).astype(str)
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise ValueError(f"modality_probe_accuracy needs at least two modalities, got {labels.tolist()}")
    folds = int(min(cv, counts.min())) if groups is None else int(min(cv, len(np.unique(groups))))
    if folds < 2:
        raise ValueError(f"modality_probe_accuracy: too few rows per modality for cross-validation ({counts.tolist()})")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    if groups is None:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        scores = cross_val_score(clf, X, y, cv=splitter)
    else:
        # GroupKFold is deterministic; permute groups with the seed for reproducible variety.
        g = np.asarray(groups)
        perm = {u: i for i, u in enumerate(np.random.default_rng(seed).permutation(np.unique(g)))}
        scores = cross_val_score(clf, X, y, cv=GroupKFold(n_splits=folds),
                                 groups=np.array([perm[v] for v in g]))
    return {"accuracy": float(scores.mean()), "std": float(scores.std()),
            "chance": float(counts.max() / counts.sum()), "folds": float(folds)}


def _sq_dists(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def median_bandwidth(X: np.ndarray, Y: np.ndarray) -> float:
    """Median heuristic: the median pairwise Euclidean distance over the pooled rows of ``X`` and ``Y``."""
    Z = np.concatenate([X, Y]).astype(np.float64)
    d = np.sqrt(_sq_dists(Z, Z)[np.triu_indices(len(Z), k=1)])
    med = float(np.median(d)) if d.size else 0.0
    return med if med > 0 else 1.0


def mmd(X: np.ndarray, Y: np.ndarray, kernel: str = "rbf", bandwidth: float | str = "median") -> float:
    """Unbiased estimate of the squared MMD between the samples ``X`` (n, D) and ``Y`` (m, D).

    Kernel ``k(a, b) = exp(-||a-b||^2 / (2 sigma^2))`` with ``sigma = bandwidth`` (same units
    as the features) or the median pairwise distance of the pooled sample (``"median"``).
    Unbiased: diagonal terms are left out, so the estimate is ~0 (and may be slightly
    negative) when both samples come from one distribution. Needs n, m >= 2.
    """
    if kernel != "rbf":
        raise NotImplementedError(f"mmd: kernel {kernel!r} is not implemented; use kernel='rbf'")
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, m = len(X), len(Y)
    if n < 2 or m < 2:
        raise ValueError(f"mmd needs at least 2 rows per sample, got {n} and {m}")
    sigma = median_bandwidth(X, Y) if bandwidth == "median" else float(bandwidth)
    if sigma <= 0:
        raise ValueError(f"mmd: bandwidth must be > 0, got {sigma}")
    g = 1.0 / (2.0 * sigma * sigma)
    kxx = np.exp(-g * _sq_dists(X, X))
    kyy = np.exp(-g * _sq_dists(Y, Y))
    kxy = np.exp(-g * _sq_dists(X, Y))
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.mean())


def pair_distance_distributions(X: np.ndarray, pids: np.ndarray, mods: np.ndarray) -> pd.DataFrame:
    """Every pairwise Euclidean distance, labelled intra-ID / inter-ID and by modality pair.

    ``X`` (N, D), ``pids`` (N,), ``mods`` (N,). Returns a long DataFrame with columns
    ``pair`` (e.g. ``"rgb-rgb"``, ``"nir-rgb"``; modality names sorted), ``kind``
    (``"intra"`` same ID / ``"inter"`` different ID) and ``distance``. Each unordered pair of
    distinct rows appears once (self pairs are left out).
    """
    X = np.asarray(X, dtype=np.float64)
    pids = np.asarray(pids)
    mods = np.asarray(mods).astype(str)
    if not (len(X) == len(pids) == len(mods)):
        raise ValueError(f"X, pids, mods lengths differ: {len(X)}, {len(pids)}, {len(mods)}")
    D = np.sqrt(_sq_dists(X, X))
    iu, ju = np.triu_indices(len(X), k=1)
    ma, mb = mods[iu], mods[ju]
    pair = np.where(ma <= mb, np.char.add(np.char.add(ma, "-"), mb), np.char.add(np.char.add(mb, "-"), ma))
    kind = np.where(pids[iu] == pids[ju], "intra", "inter")
    return pd.DataFrame({"pair": pair, "kind": kind, "distance": D[iu, ju]})


@dataclass
class GapReport:
    """What :func:`gap_report` measured.

    ``table``: one row per modality pair with ``centroid_distance``, ``centroid_distance_rel``
    (in units of the within-modality spread), ``probe_accuracy``, ``probe_std``,
    ``probe_chance``, ``mmd2``, ``intra_same`` / ``intra_cross`` / ``inter_cross`` (mean
    distances) and ``n_rows``. ``X`` (N, D), ``pids`` (N,), ``mods`` (N,) is the subsample the
    numbers were computed on (what the embedding plots show); ``distances`` the pair
    distance DataFrame of :func:`pair_distance_distributions`.
    """

    table: pd.DataFrame
    X: np.ndarray
    pids: np.ndarray
    mods: np.ndarray
    distances: pd.DataFrame
    params: dict = field(default_factory=dict)


def gap_report(features: FeatureSet, split: str = "gallery", modalities: Sequence[str] | None = None,
               n_ids: int | None = 50, per_id: int | None = 4, seed: int = 0, normalize: bool = True,
               probe_cv: int = 5) -> GapReport:
    """Gap numbers of one feature set: for each pair of ``modalities``, the metrics of this module.

    Parameters
    ----------
    features : FeatureSet
        Extracted features (one row per record and modality key).
    split : str
        Which split's rows are measured.
    modalities : sequence of str, optional
        Keys compared pairwise (default: every key of the split except the ``fused:`` ones);
        at least two.
    n_ids : int or None
        Identities in the subsample, drawn among those seen in every modality (None: all).
    per_id : int or None
        Rows per (identity, modality) in the subsample (None: all).
    seed : int
        Seed of the subsample and of the probe's folds.
    normalize : bool
        L2-normalise rows first (what cosine retrieval sees), so distances are in [0, 2].
    probe_cv : int
        Folds of the modality probe (identity-grouped, so no identity is in train and test).

    Returns
    -------
    GapReport
        ``table`` (one row per modality pair), the subsample ``X`` (N, D), ``pids`` (N,),
        ``mods`` (N,), the pair ``distances`` and the ``params`` used.

    Raises
    ------
    ValueError
        When the split lacks rows for a requested modality, or fewer than two are given.
    """
    sf = features[split]
    # Default: every single-modality key of the split (fused keys are not a modality), in order seen.
    mods_wanted = (list(modalities) if modalities is not None else
                   [k for k in dict.fromkeys(sf.key.astype(str)) if not k.startswith("fused:")])
    missing = [m for m in mods_wanted if m not in sf.keys]
    if missing:
        raise ValueError(f"gap_report: split {split!r} of {features.dataset} has no rows for {missing}; "
                         f"keys present: {sf.keys}")
    if len(mods_wanted) < 2:
        raise ValueError("gap_report needs at least two modalities")
    sel = np.flatnonzero(np.isin(sf.key, mods_wanted))
    row_pid = sf.pid[sf.record[sel]]
    sub = sel[stratified_subsample(row_pid, sf.key[sel], n_ids, per_id, seed)]
    X = sf.feats[sub].astype(np.float64)
    X = _l2n(X) if normalize else X
    pids, mods = sf.pid[sf.record[sub]], sf.key[sub].astype(str)
    dist = pair_distance_distributions(X, pids, mods)
    rows = []
    for a, b in itertools.combinations(mods_wanted, 2):
        m = (mods == a) | (mods == b)
        probe = modality_probe_accuracy(X[m], mods[m], seed=seed, cv=probe_cv, groups=pids[m])
        pa, pb, pab = "-".join(sorted((a, a))), "-".join(sorted((b, b))), "-".join(sorted((a, b)))
        same = dist[dist.pair.isin([pa, pb])]
        cross = dist[dist.pair == pab]
        rows.append({
            "pair": f"{a}-{b}", "n_rows": int(m.sum()), "n_ids": int(len(np.unique(pids[m]))),
            "centroid_distance": centroid_distance(X[m], mods[m]),
            "centroid_distance_rel": centroid_distance(X[m], mods[m], relative=True),
            "probe_accuracy": probe["accuracy"], "probe_std": probe["std"], "probe_chance": probe["chance"],
            "mmd2": mmd(X[mods == a], X[mods == b]),
            "intra_same": float(same[same.kind == "intra"].distance.mean()),
            "intra_cross": float(cross[cross.kind == "intra"].distance.mean()),
            "inter_cross": float(cross[cross.kind == "inter"].distance.mean()),
        })
    params = {"split": split, "modalities": tuple(mods_wanted), "n_ids": n_ids, "per_id": per_id,
              "seed": seed, "normalize": normalize, "dataset": features.dataset}
    return GapReport(table=pd.DataFrame(rows), X=X, pids=pids, mods=mods, distances=dist, params=params)
