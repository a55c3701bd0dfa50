"""Figures laid out for reading: every plotting function's figure has a sane size, no empty
subplot and (saved) no wide blank band; identities get distinguishable categorical colours."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reidlab.analysis.cams import plot_cam_panel, plot_grad_cam_grid  # noqa: E402
from reidlab.analysis.embedding_plots import (_srgb_to_lab, id_palette, plot_distance_histograms,  # noqa: E402
                                              plot_embedding)
from reidlab.analysis.figcheck import check_figure, check_png, figure_problems, png_problems  # noqa: E402


def _maps(b: int, h: int, w: int, mods=("rgb", "nir", "tir")) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    images = {m: torch.from_numpy(rng.normal(size=(b, 3, h, w)).astype(np.float32)) for m in mods}
    alpha = rng.random((b, len(mods)))
    alpha /= alpha.sum(1, keepdims=True)
    cams = {m: rng.random((b, h, w)) for m in mods}
    maps = {"modalities": mods, "cams": cams, "alpha": alpha, "class_idx": np.arange(b),
            "fused": sum(alpha[:, j, None, None] * cams[m] for j, m in enumerate(mods))}
    return images, maps


def _saved(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def test_checks_catch_an_empty_panel_and_a_blank_band(tmp_path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].plot([0, 1])
    axes[1].axis("off")
    assert any("empty subplot" in p for p in figure_problems(fig))
    with pytest.raises(AssertionError, match="empty subplot"):
        check_figure(fig)
    fig, axes = plt.subplots(2, 1, figsize=(4, 8), gridspec_kw={"hspace": 2.5})
    for ax in axes:
        ax.imshow(np.random.default_rng(0).random((8, 16)))
        ax.axis("off")
    assert any("horizontal band" in p for p in png_problems(_saved(fig, tmp_path / "band.png")))


@pytest.mark.parametrize("h,w", [(32, 64), (64, 32)])  # wide (RGBN300 smoke crops) and tall (256x128 style)
def test_cam_panel_uses_every_panel_once(tmp_path: Path, h: int, w: int) -> None:
    images, maps = _maps(2, h, w)
    fig = plot_cam_panel(images, maps, i=1, title="sample 1")
    check_figure(fig)
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("fused" in t for t in titles) == 1, titles
    assert len(fig.axes) == 2 * (len(maps["modalities"]) + 1)
    check_png(_saved(fig, tmp_path / "panel.png"))


@pytest.mark.parametrize("h,w", [(32, 64), (64, 32)])
def test_grad_cam_grid_has_no_blank_bands(tmp_path: Path, h: int, w: int) -> None:
    images, maps = _maps(2, h, w, mods=("rgb", "nir"))
    grid = {"msn": {"rgb": maps["cams"]["rgb"], "nir": maps["cams"]["nir"]}, "one_stream": {"rgb": maps["cams"]["rgb"]},
            "kamenou": {"rgb": maps["cams"]["rgb"], "nir": maps["cams"]["nir"]}}
    fig = plot_grad_cam_grid(images, grid, i=0)
    check_figure(fig)  # the missing one_stream/nir panel says so instead of staying blank
    check_png(_saved(fig, tmp_path / "grid.png"))


def test_embedding_identities_are_told_apart(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pids = np.repeat(np.arange(30), 4)
    mods = np.tile(["rgb", "nir"], 60)
    Y = rng.normal(size=(120, 2)) + pids[:, None] * 0.5
    fig = plot_embedding(Y, pids, mods, title="30 IDs")
    check_figure(fig)
    ax = fig.axes[0]
    colours = np.unique(np.concatenate([c.get_facecolors()[:, :3] for c in ax.collections]), axis=0)
    assert len(colours) == 30
    lab = _srgb_to_lab(colours)
    d = np.linalg.norm(lab[:, None] - lab[None], axis=2) + np.eye(30) * 1e3
    assert d.min() > 20, f"two identities' colours are only {d.min():.1f} apart (CIELAB)"
    # one ID label per (ID, modality) group
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(list(range(30)) * 2)
    check_png(_saved(fig, tmp_path / "emb.png"))
    assert len(set(id_palette(60))) == 60


def test_distance_histograms(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [{"pair": p, "kind": k, "distance": float(v)} for p in ("rgb-nir", "rgb-rgb") for k in ("intra", "inter")
            for v in rng.random(20) + (k == "inter")]
    fig = plot_distance_histograms({"msn": pd.DataFrame(rows), "hamnet": pd.DataFrame(rows)})
    check_figure(fig)
    check_png(_saved(fig, tmp_path / "hist.png"))
