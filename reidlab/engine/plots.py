"""Training curves from a run's history."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

_NON_LOSS = {"epoch", "lr", "steps", "images_per_s", "time_s", "eval"}


def plot_history(history: pd.DataFrame) -> Figure:
    """Loss parts, learning rate and (where evaluated) mAP per epoch.

    ``history``: :attr:`Run.history` (one row per epoch). Returns a figure with three panels:
    losses (log scale when all positive), lr, and mAP per protocol at evaluated epochs.
    """
    fig = Figure(figsize=(13, 3.6))
    ax_loss, ax_lr, ax_map = fig.subplots(1, 3)
    if history.empty:
        raise ValueError("history is empty: the run finished no epoch")
    ep = history["epoch"]
    loss_cols = [c for c in history.columns if c not in _NON_LOSS and pd.api.types.is_numeric_dtype(history[c])]
    for c in loss_cols:
        ax_loss.plot(ep, history[c], marker="o", ms=3, label=c, lw=2.2 if c == "loss" else 1.2)
    if loss_cols and (history[loss_cols] > 0).all().all():
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="loss (mean over steps)", title="losses")
    ax_loss.legend(fontsize=7)
    ax_lr.plot(ep, history["lr"], marker="o", ms=3)
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title="schedule")
    ax_map.set(xlabel="epoch", ylabel="mAP", title="evaluation")
    if "eval" in history.columns:
        rows = [dict(r, epoch=e) for e, ev in zip(ep, history["eval"]) if isinstance(ev, list) for r in ev]
        if rows:
            df = pd.DataFrame(rows)
            for name, g in df.groupby("protocol"):
                ax_map.plot(g["epoch"], g["mAP"], marker="o", ms=4, label=str(name))
            ax_map.legend(fontsize=7)
    fig.tight_layout()
    return fig
