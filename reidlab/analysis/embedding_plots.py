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


# Identities get categorical colours: a continuous map (turbo, viridis) gives 30 IDs shades that
# neighbours cannot tell apart. Up to 10 IDs: tab10. Beyond: tab10 then colours picked greedily to be
# as far as possible (CIELAB distance) from every colour already chosen, among a grid of sRGB colours
# neither too light for a white background nor too dark for the black marker edges. Beyond
# MAX_LABELLED_IDS, colours necessarily come close; the ID labels at the centroids say which is which.
MAX_LABELLED_IDS = 60


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) sRGB in [0, 1] -> (N, 3) CIELAB (D65)."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def id_palette(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` categorical RGBA colours, deterministic; the first 10 are tab10's."""
    import matplotlib

    chosen = [np.asarray(c[:3], dtype=float) for c in matplotlib.colormaps["tab10"].colors][:n]
    if n > len(chosen):
        g = np.linspace(0.0, 1.0, 12)
        cand = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        lab = _srgb_to_lab(cand)
        cand, lab = cand[(lab[:, 0] > 25) & (lab[:, 0] < 88)], lab[(lab[:, 0] > 25) & (lab[:, 0] < 88)]
        dmin = np.min(np.linalg.norm(lab[:, None] - _srgb_to_lab(np.stack(chosen))[None], axis=2), axis=1)
        while len(chosen) < n:
            k = int(np.argmax(dmin))
            chosen.append(cand[k])
            dmin = np.minimum(dmin, np.linalg.norm(lab - lab[k], axis=1))
    return [(float(c[0]), float(c[1]), float(c[2]), 1.0) for c in chosen]


def _id_colours(pids: np.ndarray) -> dict:
    u = np.unique(pids)
    return dict(zip(u.tolist(), id_palette(len(u))))


def plot_embedding(Y: np.ndarray, pids: np.ndarray, mods: np.ndarray, ax=None, title: str = "") -> Figure:
    """Scatter of 2-D points ``Y`` (N, 2): colour = identity (categorical palette, :func:`id_palette`),
    marker = modality (legend shows markers), and each identity's ID written beside the medoid of
    its points in each modality (up to :data:`MAX_LABELLED_IDS` identities), so that similar
    colours stay readable.

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
    ids = np.unique(pids)
    if len(ids) <= MAX_LABELLED_IDS:
        import matplotlib.patheffects as pe

        # one label per (ID, modality) group, on its medoid: with a modality gap the groups of one
        # ID sit apart, and a label between them would mark empty space
        for p in ids.tolist():
            for m in sorted(set(mods[pids == p].tolist())):
                pts = Y[(pids == p) & (mods == m)]
                k = int(np.argmin(np.linalg.norm(pts[:, None] - pts[None], axis=2).sum(1)))
                ax.annotate(str(p), pts[k], xytext=(3, 3), textcoords="offset points", fontsize=6.5,
                            fontweight="bold", color=colours[p],
                            path_effects=[pe.withStroke(linewidth=2, foreground="white")])
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
