"""Why orientation decoupling helps: probe and picture the two parts of a decoupled feature.

HWDNet (``reidlab.methods.hwdnet``) splits its feature z into an orientation-*relevant* part υ
(trained to predict the 8 orientation classes, L_R) and an orientation-*invariant* part μ (the
test embedding). If the decoupling works, a linear probe reads orientation from υ well and from μ
hardly better than chance, while μ keeps the identities apart. This module measures that on the
test images of a trained run:

* :func:`decouple_records` / :func:`decoupled_parts_of_run`: embed records with the model's
  ``decouple(images) -> {modality: {"feat", "inv", "rel"}}`` (eval mode) and keep each image's
  identity, orientation label (``Record.attrs["orientation"]``, -1 unknown) and modality;
* :func:`probe_accuracy`: a logistic-regression probe with a fixed, seeded train/test split *by
  identity* (no identity on both sides, so the probe cannot recognise a vehicle and recall its
  pose), its test accuracy with a 95 % bootstrap interval over test identities, and chance = the
  majority-class share of the test rows (the best a constant guess can do);
* :func:`orientation_probes`: that probe for every part (``inv``, ``rel``, ``feat``);
* :func:`embed_parts` and :func:`plot_decoupling`: a seeded 2-D embedding (t-SNE; UMAP optional)
  of each part, coloured by orientation and by identity.

Rows of a part are L2-normalised before probing and embedding (``normalise=True``), the way
HWDNet's test embedding is compared (``feature_norm = "l2"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["DecoupledParts", "decouple_records", "decoupled_parts_of_run", "embed_parts", "identity_split",
           "orientation_probes", "plot_decoupling", "probe_accuracy", "probe_difference", "evaluation_records"]

PARTS = ("inv", "rel", "feat")
PART_NAMES = {"inv": "orientation-invariant μ", "rel": "orientation-relevant υ", "feat": "whole feature z"}
_MARKERS = {"rgb": "o", "nir": "^", "tir": "s", "sar": "D"}


@dataclass
class DecoupledParts:
    """The parts of N embedded images, one row per image.

    ``parts``: part name (``inv``, ``rel``, ``feat``) -> (N, D_part) float32 (raw, not normalised);
    ``pid``: (N,) identity; ``orientation``: (N,) int class 0..7, -1 unknown; ``modality``: (N,) str;
    ``split``: (N,) str, the split each image came from.
    """

    parts: dict[str, np.ndarray]
    pid: np.ndarray
    orientation: np.ndarray
    modality: np.ndarray
    split: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pid)

    def subset(self, idx: np.ndarray) -> "DecoupledParts":
        """The rows ``idx`` (int indices or a boolean mask of length N)."""
        return DecoupledParts({k: v[idx] for k, v in self.parts.items()}, self.pid[idx], self.orientation[idx],
                              self.modality[idx], self.split[idx], dict(self.meta))


def _l2n(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------------------ extraction

def decouple_records(model: Any, records: Sequence[Any], modalities: Sequence[str], transform: Any, *,
                     batch_size: int = 64, device: str = "cpu", split: str = "test",
                     progress: bool = False) -> DecoupledParts:
    """Embed every (record, modality) image through ``model.decouple`` and keep its labels.

    Parameters
    ----------
    model : ReIDMethod with ``decouple(images) -> {modality: {"feat", "inv", "rel"}}``
        e.g. a trained :class:`reidlab.methods.hwdnet.HWDNet` (``rel`` absent for ``decoupling="none"``).
    records : sequence of Record
        Images to embed; a record contributes one row per modality of ``modalities`` it has.
    modalities : sequence of str
        The model's modalities (e.g. ``("rgb", "tir")``).
    transform : callable
        Test-time transform (``build_transforms(h, w, train=False)``).
    batch_size, device, progress
        Batching, torch device, tqdm bar.
    split : str
        Written into :attr:`DecoupledParts.split` for every row.

    Returns
    -------
    DecoupledParts
        Rows in (modality, record) order; ``parts`` holds the keys ``decouple`` returned.
    """
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from reidlab.data.torch_dataset import ReIDImageDataset, collate_batch

    if not callable(getattr(model, "decouple", None)):
        raise TypeError(f"{type(model).__name__} has no decouple(images) method; the decoupling analysis needs a "
                        "method that splits its feature into orientation parts (hwdnet)")
    model = model.to(device)
    chunks: dict[str, list[np.ndarray]] = {}
    pid, ori, mod = [], [], []
    for m in modalities:
        recs = [r for r in records if m in r.images]
        if not recs:
            continue
        ds = ReIDImageDataset(recs, (m,), transform, fields=("orientation",))
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate_batch)
        for batch in tqdm(loader, desc=f"decouple {m}", disable=not progress, leave=False):
            with torch.no_grad():
                out = model.decouple({m: batch["images"][m].to(device)})[m]
            for k, v in out.items():
                chunks.setdefault(k, []).append(v.detach().float().cpu().numpy())
            pid.append(batch["pid"].numpy())
            o = batch["fields"]["orientation"].numpy()  # float, NaN where a record has no label
            ori.append(np.where(np.isfinite(o), o, -1).astype(np.int64))
            mod.extend([m] * len(batch["pid"]))
    if not pid:
        raise ValueError(f"decouple_records: none of the {len(records)} records has a modality of {tuple(modalities)}")
    return DecoupledParts({k: np.concatenate(v).astype(np.float32) for k, v in chunks.items()},
                          np.concatenate(pid).astype(np.int64), np.concatenate(ori).astype(np.int64),
                          np.array(mod), np.array([split] * len(mod)))


def evaluation_records(data: Any) -> dict[str, list[Any]]:
    """The test images of a :class:`~reidlab.data.records.ReIDData`: ``{"test": ...}`` when the dataset
    has the paper's ``test`` split (UCM-VeID by modality), else ``{"query": ..., "gallery": ...}``."""
    if "test" in data.splits:
        return {"test": list(data.splits["test"])}
    missing = [s for s in ("query", "gallery") if s not in data.splits]
    if missing:
        raise KeyError(f"{data.name}: no 'test' split and no {missing}; splits are {sorted(data.splits)}")
    return {"query": list(data.query), "gallery": list(data.gallery)}


def decoupled_parts_of_run(run: Any, *, batch_size: int = 64, device: str = "cpu",
                           progress: bool = False) -> DecoupledParts:
    """:func:`decouple_records` over the test images of a trained run (:class:`reidlab.engine.runs.Run`).

    The data, modalities and input size are the run's own (its config); the model is the run's
    final checkpoint (``run.load_model()``).
    """
    from reidlab.data.loading import load_data
    from reidlab.data.transforms import build_transforms

    cfg = run.config
    data = load_data(cfg)
    mods = tuple(run.record.get("modalities") or cfg.modalities or data.modalities)
    model = run.load_model(device)
    tf = build_transforms(cfg.height, cfg.width, train=False)
    pieces = [decouple_records(model, recs, mods, tf, batch_size=batch_size, device=device, split=split,
                               progress=progress) for split, recs in evaluation_records(data).items()]
    keys = set(pieces[0].parts)
    out = DecoupledParts({k: np.concatenate([p.parts[k] for p in pieces]) for k in keys},
                         *(np.concatenate([getattr(p, a) for p in pieces])
                           for a in ("pid", "orientation", "modality", "split")))
    out.meta = {"run_dir": str(run.run_dir), "method": cfg.method, "dataset": data.name, "modalities": list(mods),
                "decoupling": getattr(model, "config", {}).get("decoupling")}
    return out


# ------------------------------------------------------------------------------------ probes

def identity_split(groups: np.ndarray, train_frac: float = 0.5, seed: int = 0) -> np.ndarray:
    """(N,) bool, True = training row: a seeded share ``train_frac`` of the distinct ``groups``
    (identities) goes to training, the rest to test; no group is on both sides.

    Raises ValueError with fewer than two groups (no split is possible).
    """
    g = np.asarray(groups)
    u = np.unique(g)
    if len(u) < 2:
        raise ValueError(f"identity_split needs at least two identities, got {len(u)}")
    if not 0.0 < train_frac < 1.0:
        raise ValueError(f"train_frac must be in (0, 1), got {train_frac}")
    perm = np.random.default_rng(seed).permutation(u)
    n_train = int(np.clip(round(train_frac * len(u)), 1, len(u) - 1))
    return np.isin(g, perm[:n_train])


def _probe_right(X: np.ndarray, y: np.ndarray, g: np.ndarray, train_frac: float, seed: int, C: float,
                 normalise: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit on the training identities; return (right (N_test,) bool, y, groups, train mask) over the
    labelled rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y, g = np.asarray(X, dtype=np.float64), np.asarray(y), np.asarray(g)
    if not (len(X) == len(y) == len(g)):
        raise ValueError(f"probe_accuracy: X has {len(X)} rows, y {len(y)}, groups {len(g)}")
    keep = y >= 0 if np.issubdtype(y.dtype, np.number) else np.ones(len(y), bool)
    X, y, g = X[keep], y[keep], g[keep]
    if normalise:
        X = _l2n(X)
    tr = identity_split(g, train_frac, seed)
    if len(np.unique(y[tr])) < 2:
        raise ValueError(f"probe_accuracy: the training identities carry one class only ({np.unique(y[tr]).tolist()}); "
                         "use more identities or another seed")
    scaler = StandardScaler().fit(X[tr])
    clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(scaler.transform(X[tr]), y[tr])
    return clf.predict(scaler.transform(X[~tr])) == y[~tr], y, g, tr


def _boot_over_ids(values: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the row mean of ``values`` (N,) when whole ``groups`` are resampled."""
    if not n_boot:
        return float("nan"), float("nan")
    ids, inv = np.unique(groups, return_inverse=True)
    per_id = np.bincount(inv, weights=values.astype(float), minlength=len(ids))
    per_n = np.bincount(inv, minlength=len(ids)).astype(float)
    draw = np.random.default_rng(seed).integers(0, len(ids), size=(n_boot, len(ids)))
    boots = per_id[draw].sum(1) / per_n[draw].sum(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(lo), float(hi)


def probe_accuracy(X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, train_frac: float = 0.5, seed: int = 0,
                   n_boot: int = 1000, C: float = 1.0, normalise: bool = True) -> dict[str, float]:
    """Test accuracy of a linear probe predicting ``y`` from ``X``, split by ``groups``.

    Parameters
    ----------
    X : (N, D) array
        Features (rows L2-normalised first when ``normalise``; then standardised on the
        training rows).
    y : (N,) array
        Class labels (e.g. orientation 0..7); rows with a negative label are left out (unknown).
    groups : (N,) array
        Identity per row: the train/test split is by identity (:func:`identity_split`).
    train_frac, seed
        Share of identities used for training; the seed fixes the split and the bootstrap.
    n_boot : int
        Bootstrap resamples of the *test identities* for the 95 % interval (0: no interval).
    C : float
        Inverse L2 regularisation of the logistic regression.

    Returns
    -------
    dict
        ``accuracy`` (fraction of test rows right), ``ci_low``, ``ci_high`` (percentile bootstrap,
        NaN without ``n_boot``), ``chance`` (majority-class share of the test rows), ``n_train``,
        ``n_test``, ``n_train_ids``, ``n_test_ids``, ``n_classes`` (in the training rows). A class
        seen only in the test rows can never be predicted: that is part of the measurement.
    """
    right, y, g, tr = _probe_right(X, y, groups, train_frac, seed, C, normalise)
    _, counts = np.unique(y[~tr], return_counts=True)
    lo, hi = _boot_over_ids(right, g[~tr], n_boot, seed)
    return {"accuracy": float(right.mean()), "ci_low": lo, "ci_high": hi, "chance": float(counts.max() / counts.sum()),
            "n_train": int(tr.sum()), "n_test": int((~tr).sum()), "n_train_ids": int(len(np.unique(g[tr]))),
            "n_test_ids": int(len(np.unique(g[~tr]))), "n_classes": int(len(np.unique(y[tr])))}


def probe_difference(Xa: np.ndarray, Xb: np.ndarray, y: np.ndarray, groups: np.ndarray, *, train_frac: float = 0.5,
                     seed: int = 0, n_boot: int = 1000, C: float = 1.0, normalise: bool = True) -> dict[str, float]:
    """Probe accuracy of ``Xa`` minus that of ``Xb`` (both (N, ·), the same N rows: same images), on
    the same identity split, with a *paired* 95 % bootstrap interval over test identities.

    Returns ``{"accuracy_a", "accuracy_b", "delta", "ci_low", "ci_high", "n_test"}``; ``delta > 0``
    with ``ci_low > 0`` means ``Xa`` carries more of ``y`` than ``Xb`` beyond resampling noise.
    """
    ra, ya, g, tr = _probe_right(Xa, y, groups, train_frac, seed, C, normalise)
    rb, _, _, _ = _probe_right(Xb, y, groups, train_frac, seed, C, normalise)
    lo, hi = _boot_over_ids(ra.astype(float) - rb.astype(float), g[~tr], n_boot, seed)
    return {"accuracy_a": float(ra.mean()), "accuracy_b": float(rb.mean()), "delta": float(ra.mean() - rb.mean()),
            "ci_low": lo, "ci_high": hi, "n_test": int((~tr).sum())}


def orientation_probes(parts: DecoupledParts, *, seed: int = 0, train_frac: float = 0.5, n_boot: int = 1000,
                       by_modality: bool = False, normalise: bool = True) -> pd.DataFrame:
    """:func:`probe_accuracy` of the orientation label for every part, on the same identity split.

    Returns one row per part (and per modality with ``by_modality``; modality ``all`` pools both):
    ``part, modality, dim, accuracy, ci_low, ci_high, chance, n_train, n_test, n_train_ids, n_test_ids,
    n_classes``. Rows without an orientation label (-1) are left out.
    """
    if not (parts.orientation >= 0).any():
        raise ValueError("orientation_probes: no image carries an orientation label (Record.attrs['orientation']); "
                         "the dataset needs orientation labels (UCM-VeID labels.csv / a manifest column)")
    groups = [("all", np.ones(len(parts), bool))]
    if by_modality:
        groups += [(m, parts.modality == m) for m in sorted(set(parts.modality.tolist()))]
    rows = []
    for mod, sel in groups:
        for k in (p for p in PARTS if p in parts.parts):
            r = probe_accuracy(parts.parts[k][sel], parts.orientation[sel], parts.pid[sel], train_frac=train_frac,
                               seed=seed, n_boot=n_boot, normalise=normalise)
            rows.append({"part": k, "modality": mod, "dim": int(parts.parts[k].shape[1]), **r})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ pictures

def embed_parts(parts: DecoupledParts, *, method: str = "tsne", seed: int = 0, normalise: bool = True,
                which: Sequence[str] = PARTS) -> dict[str, np.ndarray]:
    """``{part: (N, 2)}``: a seeded 2-D embedding of each part present (t-SNE or UMAP, see
    :func:`reidlab.analysis.embedding_plots.embed_2d`). Subsample first with :meth:`DecoupledParts.subset`
    (e.g. :func:`reidlab.analysis.gap.stratified_subsample`) to keep t-SNE cheap."""
    from reidlab.analysis.embedding_plots import embed_2d

    out = {}
    for k in which:
        if k in parts.parts:
            X = parts.parts[k]
            out[k] = embed_2d(_l2n(X) if normalise else X, method=method, seed=seed)
    return out


def _orientation_colours(n: int = 8) -> list[tuple[float, float, float, float]]:
    """A cyclic palette: orientation classes are headings in 45° bins, so 7 sits next to 0."""
    import matplotlib

    cmap = matplotlib.colormaps["hsv"]
    return [tuple(float(c) for c in cmap(i / n)) for i in range(n)]


def plot_decoupling(parts: DecoupledParts, embeddings: Mapping[str, np.ndarray], *,
                    probes: pd.DataFrame | None = None, title: str = "") -> Figure:
    """Grid of scatter plots: one column per embedded part, top row coloured by orientation (cyclic
    palette, unknown grey), bottom row by identity (:func:`~reidlab.analysis.embedding_plots.id_palette`);
    marker = modality. With ``probes`` (:func:`orientation_probes`, modality ``all``) each column's
    title gives its orientation-probe accuracy and chance.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from reidlab.analysis.embedding_plots import id_palette

    cols = [k for k in PARTS if k in embeddings]
    if not cols:
        raise ValueError("plot_decoupling: no embedded part given")
    fig, axes = plt.subplots(2, len(cols), figsize=(4.2 * len(cols), 8.0), squeeze=False)
    ocol = _orientation_colours()
    ids = np.unique(parts.pid)
    icol = dict(zip(ids.tolist(), id_palette(len(ids))))
    mods = sorted(set(parts.modality.tolist()))
    acc = {} if probes is None else {r.part: r for r in probes[probes["modality"] == "all"].itertuples()}
    for j, k in enumerate(cols):
        Y = embeddings[k]
        if len(Y) != len(parts):
            raise ValueError(f"plot_decoupling: embedding {k!r} has {len(Y)} rows, parts {len(parts)}")
        by_orientation = [ocol[o] if 0 <= o < len(ocol) else (0.6, 0.6, 0.6, 1.0) for o in parts.orientation]
        for i, colour in enumerate((by_orientation, [icol[p] for p in parts.pid.tolist()])):
            ax = axes[i, j]
            for m in mods:
                s = np.flatnonzero(parts.modality == m)
                ax.scatter(Y[s, 0], Y[s, 1], c=[colour[t] for t in s], marker=_MARKERS.get(m, "x"), s=22,
                           alpha=0.85, edgecolors="k", linewidths=0.25)
            ax.set_xticks([])
            ax.set_yticks([])
        head = PART_NAMES.get(k, k)
        if k in acc:
            head += f"\norientation probe {acc[k].accuracy:.2f} (chance {acc[k].chance:.2f})"
        axes[0, j].set_title(head, fontsize=9)
    axes[0, 0].set_ylabel("coloured by orientation", fontsize=9)
    axes[1, 0].set_ylabel(f"coloured by identity ({len(ids)} IDs)", fontsize=9)
    o_handles = [Line2D([], [], marker="o", ls="", color=ocol[o], markeredgecolor="k", label=f"{45 * o}°")
                 for o in range(len(ocol))]
    m_handles = [Line2D([], [], marker=_MARKERS.get(m, "x"), ls="", color="grey", markeredgecolor="k", label=m)
                 for m in mods]
    axes[0, -1].legend(handles=o_handles, title="orientation", fontsize=7, title_fontsize=8,
                       loc="center left", bbox_to_anchor=(1.01, 0.5))
    axes[1, -1].legend(handles=m_handles, title="modality", fontsize=7, title_fontsize=8,
                       loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
