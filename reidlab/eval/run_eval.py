"""Evaluating a trained run's features: which splits to embed and the per-protocol table."""
from __future__ import annotations

from typing import Any


def eval_splits(data: Any, protocols: list[str] | None) -> list[str]:
    """Splits the evaluation needs: those of the named protocols, else every non-train split."""
    if protocols:
        from reidlab.eval.protocols import get_protocol

        need = []
        for name in protocols:
            p = get_protocol(name)
            cand = (p.query_split, *p.query_split_aliases, p.gallery_split, *p.gallery_split_aliases)
            need += [s for s in cand if s in data.splits]
        return sorted(set(need))
    return [s for s in data.splits if s != "train"]


def evaluate_features(features, dataset: str, protocols: list[str] | None):
    """Evaluation table (one row per protocol; every protocol of ``dataset`` when ``protocols`` is empty).

    Parameters
    ----------
    features : FeatureSet
    dataset : str
        Dataset name (picks the protocols when ``protocols`` is empty).
    protocols : list of str or None

    Returns
    -------
    pandas.DataFrame
        One row per protocol with the summary columns of :func:`reidlab.eval.evaluate`, plus
        ``feature_norm`` (from ``features.meta``, "none" when unrecorded).
    """
    import pandas as pd

    if not protocols:
        from reidlab.eval import evaluate_all

        table = evaluate_all(features, dataset)
    else:
        from reidlab.eval import evaluate, get_protocol

        table = pd.DataFrame([evaluate(features, get_protocol(n)).summary for n in protocols])
    table["feature_norm"] = (features.meta or {}).get("feature_norm", "none")
    return table
