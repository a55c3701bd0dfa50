"""Figures of the modality gap: 2-D embeddings (t-SNE / UMAP) and distance histograms.

Every function returns a :class:`matplotlib.figure.Figure` (nothing is shown or saved here).
UMAP is imported lazily: umap-learn compiles with numba on first use (~25 s).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reidlab.analysis.gap import GapReport

_MARKERS = {"rgb": "o", "nir": "^", "tir": "s", "sar": "D"}


def embed_2d(X: np.ndarray, method: str = "tsne", seed: int = 0, *, perplexity: float | None = None,
             n_neighbors: int | None = None) -> np.ndarray:
    """Project ``X`` (N, D) to (N, 2) with t-SNE (scikit-learn) or UMAP (umap-learn), seeded.

    t-SNE perplexity defaults to ``min(30, (N - 1) / 3)`` and UMAP ``n_neighbors`` to
    ``min(15, N - 1)`` so small subsamples work. Both use cosine-free Euclidean distance on
    the rows as given (normalise before if the model is compared by cosine).
    """
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if n < 4:
        raise ValueError(f"embed_2d needs at least 4 rows, got {n}")
    if method == "tsne":
        from sklearn.manifold import TSNE

        p = perplexity if perplexity is not None else min(30.0, (n - 1) / 3.0)
        return TSNE(n_components=2, perplexity=p, init="pca", random_state=seed).fit_transform(X)
    if method == "umap":
        import umap  # lazy: slow numba compile

        k = n_neighbors if n_neighbors is not None else min(15, n - 1)
        # random_state fixes the layout (umap then runs single-threaded, which is what we want).
        return umap.UMAP(n_components=2, n_neighbors=k, random_state=seed, n_jobs=1).fit_transform(X)
    raise ValueError(f"embed_2d: unknown method {method!r}; use 'tsne' or 'umap'")


def _id_colours(pids: np.ndarray) -> dict:
    import matplotlib

    u = np.unique(pids)
    cmap = matplotlib.colormaps["tab20" if len(u) <= 20 else "turbo"]
    return {p: cmap(i / max(len(u) - 1, 1)) if len(u) > 20 else cmap(i % 20) for i, p in enumerate(u)}


def plot_embedding(Y: np.ndarray, pids: np.ndarray, mods: np.ndarray, ax=None, title: str = "") -> Figure:
    """Scatter of 2-D points ``Y`` (N, 2): colour = identity, marker = modality (legend shows markers).

    Draws into ``ax`` when given (returns its figure), otherwise a new 5x4.5 in figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    fig = ax.figure
    pids, mods = np.asarray(pids), np.asarray(mods).astype(str)
    colours = _id_colours(pids)
    c = [colours[p] for p in pids]
    for m in sorted(set(mods.tolist())):
        sel = mods == m
        ax.scatter(Y[sel, 0], Y[sel, 1], c=[c[i] for i in np.flatnonzero(sel)], marker=_MARKERS.get(m, "x"),
                   s=28, alpha=0.85, edgecolors="k", linewidths=0.3)
    handles = [Line2D([], [], marker=_MARKERS.get(m, "x"), ls="", color="grey", markeredgecolor="k", label=m)
               for m in sorted(set(mods.tolist()))]
    ax.legend(handles=handles, loc="best", fontsize=8, title="modality", title_fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def plot_runs_side_by_side(reports: Mapping[str, GapReport], methods: Sequence[str] = ("tsne", "umap"),
                           seed: int = 0) -> Figure:
    """Grid of embeddings: one row per projection ``method``, one column per run (name -> report).

    Each panel title carries the run's centroid distance (relative) and probe accuracy of its
    first modality pair, so the picture and the numbers sit together.
    """
    import matplotlib.pyplot as plt

    names = list(reports)
    fig, axes = plt.subplots(len(methods), len(names), figsize=(5 * len(names), 4.5 * len(methods)), squeeze=False)
    for i, meth in enumerate(methods):
        for j, name in enumerate(names):
            rep = reports[name]
            Y = embed_2d(rep.X, meth, seed)
            row = rep.table.iloc[0]
            title = (f"{name} — {meth}\n{row.pair}: centroid {row.centroid_distance_rel:.2f} spreads, "
                     f"probe {row.probe_accuracy:.2f} (chance {row.probe_chance:.2f})")
            plot_embedding(Y, rep.pids, rep.mods, ax=axes[i, j], title=title)
    fig.tight_layout()
    return fig


def plot_distance_histograms(distances: pd.DataFrame | Mapping[str, pd.DataFrame], bins: int = 40) -> Figure:
    """Histograms of intra-ID vs inter-ID distances, one panel per modality pair.

    ``distances`` is the DataFrame of :func:`reidlab.analysis.gap.pair_distance_distributions`
    or a mapping run name -> such DataFrame (one row of panels per run). Densities, so the
    many inter-ID pairs do not drown the few intra-ID ones.
    """
    import matplotlib.pyplot as plt

    runs = {"": distances} if isinstance(distances, pd.DataFrame) else dict(distances)
    pairs = sorted(set().union(*[set(d.pair) for d in runs.values()]), key=lambda p: (p.split("-")[0] != p.split("-")[1], p))
    fig, axes = plt.subplots(len(runs), len(pairs), figsize=(3.6 * len(pairs), 2.8 * len(runs)),
                             squeeze=False, sharex=True)
    lo = min(d.distance.min() for d in runs.values())
    hi = max(d.distance.max() for d in runs.values())
    edges = np.linspace(lo, hi, bins + 1)
    for i, (name, df) in enumerate(runs.items()):
        for j, pair in enumerate(pairs):
            ax = axes[i, j]
            for kind, colour in (("intra", "tab:green"), ("inter", "tab:red")):
                d = df[(df.pair == pair) & (df.kind == kind)].distance
                if len(d):
                    ax.hist(d, bins=edges, density=True, alpha=0.55, color=colour, label=f"{kind}-ID (n={len(d)})")
            ax.set_title(f"{name} {pair}".strip(), fontsize=10)
            ax.legend(fontsize=7)
            if i == len(runs) - 1:
                ax.set_xlabel("distance")
    fig.tight_layout()
    return fig
