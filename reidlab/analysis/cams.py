"""Class activation maps: HAMNet's per-spectrum CAMs and their class-aware fusion, Grad-CAM for the rest.

* :func:`hamnet_cam_maps` — for a method with ``has_cam_fusion`` (the
  :class:`~reidlab.methods.base.ReIDMethod` contract; HAMNet), whose ``cam_fusion(images) ->
  {"cams": {mod: (B, C, h, w)}, "alpha": (B, C, m), "fused": (B, C, h, w)}``: the CAM
  ``M^j_c`` of each spectrum for one class per sample, the class-aware weights
  ``alpha^j_c`` and the fused map ``M'_c = sum_j alpha^j_c M^j_c``, upsampled to the image.
* :func:`spectrum_dominance` — per sample, how much one spectrum dominates the fusion
  (``max_j alpha^j - min_j alpha^j`` for the sample's class), with the record's attributes
  (``daynight``, ``challenge``...) so that e.g. night captures can be compared.
* :func:`grad_cam` — Grad-CAM (Selvaraju et al. 2017) on the last feature map of the
  backbone stream that reads one modality, for methods without CAMs of their own.
* :func:`overlay` and the ``plot_*`` functions turn maps into pictures (Figures returned).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from tqdm.auto import tqdm

from reidlab.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from reidlab.methods.base import ReIDMethod

ArrayLike = Any


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) -> (B, H, W), bilinear (linear, so sums of maps upsample to sums of upsampled maps)."""
    return F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def _class_vector(class_idx: int | Sequence[int] | torch.Tensor | None, default: torch.Tensor,
                  num_classes: int) -> torch.Tensor:
    b = len(default)
    if class_idx is None:
        c = default
    elif isinstance(class_idx, (int, np.integer)):
        c = torch.full((b,), int(class_idx), dtype=torch.long)
    else:
        if torch.is_tensor(class_idx) or isinstance(class_idx, np.ndarray):
            items = class_idx.reshape(-1).tolist()
        else:
            items = list(class_idx)  # ints, numpy or 0-d tensor scalars
        c = torch.tensor([int(v) for v in items], dtype=torch.long)
        if len(c) != b:
            raise ValueError(f"class_idx has {len(c)} entries for a batch of {b}")
    if (c < 0).any() or (c >= num_classes).any():
        raise ValueError(f"class_idx {c.tolist()} outside 0..{num_classes - 1}: CAMs exist only for the "
                         "training classes (use train-split labels with relabel=True, or class_idx=None "
                         "for the predicted class)")
    return c


@torch.no_grad()
def hamnet_cam_maps(model: nn.Module, images: Mapping[str, torch.Tensor],
                    class_idx: int | Sequence[int] | torch.Tensor | None = None) -> dict[str, Any]:
    """Per-spectrum CAMs, class-aware weights and the fused CAM of a HAMNet-like model.

    ``images``: modality -> (B, 3, H, W) normalised tensors. ``class_idx``: one class for all
    samples, one per sample (B,), or None for the class the fused scores ``GAP(M')`` predict.
    Returns numpy arrays::

        modalities  tuple of the m spectra, in the order of alpha's last axis
        class_idx   (B,) int64, the class each map is for
        cams        {mod: (B, H, W)}  M^j_c upsampled to the image (raw CAM units, may be < 0)
        alpha       (B, m)            alpha^j_c, sums to 1 over spectra
        fused       (B, H, W)         M'_c = sum_j alpha^j_c M^j_c (upsampled)
        scores      (B, C)            fused class scores S' = GAP(M')
    """
    if not (isinstance(model, ReIDMethod) and model.has_cam_fusion):
        raise TypeError(f"{type(model).__name__} does not fuse class activation maps (ReIDMethod.has_cam_fusion "
                        "is False or it is no ReIDMethod); hamnet_cam_maps needs HAMNet (use grad_cam for other methods)")
    was_training = model.training
    model.eval()
    try:
        out = model.cam_fusion(images)
    finally:
        model.train(was_training)
    cams, alpha, fused = out["cams"], out["alpha"], out["fused"]
    mods = tuple(model.modalities)
    if alpha.shape[-1] != len(mods) or set(mods) != set(cams):
        raise ValueError(f"cam_fusion returned cams for {sorted(cams)} and alpha with {alpha.shape[-1]} spectra; "
                         f"model.modalities is {mods}")
    b, n_cls = fused.shape[:2]
    scores = fused.float().mean(dim=(2, 3)).cpu()
    c = _class_vector(class_idx, scores.argmax(1), n_cls)
    rows = torch.arange(b)
    size = tuple(images[mods[0]].shape[-2:])
    c_dev = c.to(fused.device)
    return {
        "modalities": mods,
        "class_idx": c.numpy(),
        "cams": {m: _upsample(cams[m][rows, c_dev], size).cpu().numpy() for m in mods},
        "alpha": alpha[rows, c_dev].float().cpu().numpy(),
        "fused": _upsample(fused[rows, c_dev], size).cpu().numpy(),
        "scores": scores.numpy(),
    }


def spectrum_dominance(model: nn.Module, dataset: torch.utils.data.Dataset, records: Sequence[Any] | None = None,
                       *, class_source: str = "label", batch_size: int = 32, device: str = "cpu",
                       max_samples: int | None = None, seed: int = 0,
                       attrs: Sequence[str] = ("daynight", "challenge")) -> pd.DataFrame:
    """How much one spectrum dominates HAMNet's fusion, per sample of ``dataset``.

    ``dataset`` yields items like :class:`reidlab.data.torch_dataset.ReIDImageDataset`
    (``images``, ``label``, ``pid``, ``index``). ``class_source``: ``"label"`` uses each
    item's ``label`` as the class (must be a training class: use the train split with
    ``relabel=True``), ``"pred"`` the predicted class. ``records`` (default
    ``dataset.records`` when present) supplies the ``attrs`` columns by the item's ``index``.
    ``max_samples`` draws a seeded random subset. Returns one row per sample: ``position``
    (in ``dataset``), ``index``, ``pid``, ``class_idx``, ``alpha_<mod>``, ``dominance``
    (max - min alpha, 0 = balanced, 1 = one spectrum only), ``dominant`` and the attributes.
    """
    if class_source not in ("label", "pred"):
        raise ValueError(f"class_source must be 'label' or 'pred', got {class_source!r}")
    positions = np.arange(len(dataset))
    if max_samples is not None and max_samples < len(positions):
        positions = np.sort(np.random.default_rng(seed).choice(positions, size=max_samples, replace=False))
    # The dataset's own list is indexed by position (it may have dropped records); a split's
    # record list by the item's ``index``.
    by_position = records is None
    if records is None:
        records = getattr(dataset, "records", None)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, positions.tolist()),
                                         batch_size=batch_size, shuffle=False, num_workers=0,
                                         collate_fn=getattr(dataset, "collate", None))
    model = model.to(device)
    rows: list[dict[str, Any]] = []
    start = 0
    for batch in tqdm(loader, desc="CAM fusion weights", leave=False):
        imgs = {m: t.to(device) for m, t in batch["images"].items() if m in model.modalities}
        cls = batch["label"] if class_source == "label" else None
        out = hamnet_cam_maps(model, imgs, cls)
        for i in range(len(out["class_idx"])):
            a = out["alpha"][i]
            row = {"position": int(positions[start + i]), "index": int(batch["index"][i]),
                   "pid": int(batch["pid"][i]), "class_idx": int(out["class_idx"][i])}
            row.update({f"alpha_{m}": float(a[j]) for j, m in enumerate(out["modalities"])})
            row["dominance"] = float(a.max() - a.min())
            row["dominant"] = out["modalities"][int(a.argmax())]
            if records is not None:
                rec = records[row["position"] if by_position else row["index"]]
                row.update({k: rec.attrs.get(k) for k in attrs})
            rows.append(row)
        start += len(out["class_idx"])
    return pd.DataFrame(rows)


def run_dataset(run: Any, split: str = "train") -> torch.utils.data.Dataset:
    """The images a run was trained/evaluated on, as a test-time :class:`ReIDImageDataset`.

    ``run``: a :class:`reidlab.engine.runs.Run`. Uses the run's dataset, modalities and input
    size; ``split == "train"`` relabels pids to the classifier's classes (same mapping as the
    engine), so ``item["label"]`` is a valid CAM class. Record attributes are the loader's
    (:func:`reidlab.data.load_dataset` merges the ``attributes.csv`` sidecar).
    """
    from reidlab.data.torch_dataset import ReIDImageDataset
    from reidlab.data.transforms import build_transforms
    from reidlab.data.loading import load_data

    cfg = run.config
    data = load_data(cfg)
    mods = tuple(run.record.get("modalities") or cfg.modalities or data.modalities)
    return ReIDImageDataset(data[split], mods, build_transforms(cfg.height, cfg.width, train=False),
                            relabel=split == "train")


# --------------------------------------------------------------------------------------------
# Grad-CAM


def _contract_score(model: nn.Module, modality: str) -> Callable[[Any], torch.Tensor]:
    """``outputs -> (B, C)``: the class logits of ``modality`` through ``model.class_logits`` (the
    :class:`~reidlab.methods.base.ReIDMethod` contract). Other modules must pass ``score_fn``."""
    if not isinstance(model, ReIDMethod):
        raise TypeError(f"grad_cam: {type(model).__name__} is no ReIDMethod, so its class logits are unknown; "
                        "pass score_fn=lambda outputs: <(B, C) tensor>")

    def score(outputs: Any) -> torch.Tensor:
        logits = model.class_logits(outputs)
        if modality not in logits:
            raise ValueError(f"grad_cam: {model.name}.class_logits gives logits for {sorted(logits)}, not "
                             f"{modality!r}; pass score_fn=lambda outputs: <(B, C) tensor>")
        return logits[modality]

    return score


def _stream_layers(model: nn.Module) -> list[nn.Module]:
    from reidlab.methods.backbones import Backbone

    return [m for m in model.modules() if isinstance(m, Backbone)]


def grad_cam(model: nn.Module, images: Mapping[str, torch.Tensor], modality: str,
             class_idx: int | Sequence[int] | torch.Tensor | None = None, target_layer: nn.Module | None = None,
             score_fn: Callable[[Any], torch.Tensor] | None = None) -> dict[str, np.ndarray]:
    """Grad-CAM of ``modality``'s stream: ReLU(sum_k w_k A_k), w_k = spatial mean of dScore_c/dA_k.

    ``A`` is the output (B, K, h, w) of ``target_layer``; by default the reidlab
    :class:`~reidlab.methods.backbones.Backbone` whose output is computed from
    ``images[modality]`` (found by letting only that input carry gradients, so shared and
    separate backbones both work). ``score_fn(outputs) -> (B, C)`` picks the logits from
    ``model(images)`` (default: ``model.class_logits(outputs)[modality]``, the method contract).
    ``class_idx``: int, (B,), or None for the predicted class. The model runs in eval mode.
    Returns ``{"cam": (B, H, W) >= 0 (upsampled, raw units), "class_idx": (B,), "scores": (B, C)}``.
    """
    if modality not in images:
        raise ValueError(f"grad_cam: no images for {modality!r}; have {sorted(images)}")
    layers = [target_layer] if target_layer is not None else _stream_layers(model)
    if not layers:
        raise ValueError(f"grad_cam: {type(model).__name__} holds no reidlab Backbone; pass target_layer=<module "
                         "whose output is the (B, K, h, w) feature map>")
    score = score_fn or _contract_score(model, modality)
    captured: list[torch.Tensor] = []

    def hook(_m, _inp, out):
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.requires_grad:
            out.retain_grad()
            captured.append(out)

    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    handles = [layer.register_forward_hook(hook) for layer in layers]
    try:
        # Only the chosen modality carries gradients: activations of other streams then have
        # requires_grad False and the hook ignores them.
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
        x = {m: (t.detach().clone().requires_grad_(m == modality)) for m, t in images.items()}
        with torch.enable_grad():
            outputs = model(x)
            scores = score(outputs)
            b = len(images[modality])
            if not captured:
                raise ValueError(f"grad_cam: no 4-D feature map computed from {modality!r} passed the target "
                                 "layer(s); pass target_layer explicitly")
            act = captured[-1]
            if act.shape[0] != b:
                raise NotImplementedError(f"grad_cam: the target layer's output has batch {act.shape[0]} for a "
                                          f"batch of {b} (modalities concatenated?); pass a per-modality target_layer")
            c = _class_vector(class_idx, scores.detach().argmax(1).cpu(), scores.shape[1])
            scores.gather(1, c.to(scores.device)[:, None]).sum().backward()
    finally:
        for h in handles:
            h.remove()
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
        model.train(was_training)
    weights = act.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act.detach()).sum(1))
    size = tuple(images[modality].shape[-2:])
    return {"cam": _upsample(cam, size).clamp_min(0).cpu().numpy(), "class_idx": c.numpy(),
            "scores": scores.detach().cpu().numpy()}


# --------------------------------------------------------------------------------------------
# pictures


def to_display(image: ArrayLike, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """An image as (H, W, 3) float in [0, 1].

    Accepts a normalised tensor/array (3, H, W) (undoes ``mean``/``std``), a uint8 array
    (H, W, 3), a float array (H, W, 3) in [0, 1], or a PIL image.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0) * np.asarray(std)[None, None] + np.asarray(mean)[None, None]
    elif arr.dtype == np.uint8:
        arr = arr / 255.0
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"to_display: expected an image (3, H, W) or (H, W, 3), got shape {arr.shape}")
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


def normalise_map(cam: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Min-max scale a map (H, W) to [0, 1] (given bounds let several maps share one scale)."""
    cam = np.asarray(cam, dtype=np.float64)
    lo = cam.min() if vmin is None else vmin
    hi = cam.max() if vmax is None else vmax
    if hi - lo < 1e-12:
        return np.zeros_like(cam)
    return np.clip((cam - lo) / (hi - lo), 0.0, 1.0)


def overlay(image: ArrayLike, cam: np.ndarray, alpha: float = 0.45, cmap: str = "jet",
            vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Blend a heat map onto an image: (H, W, 3) float in [0, 1].

    ``image`` as :func:`to_display` accepts; ``cam`` (h, w) is resized (bilinear) to the image
    if needed and min-max scaled (to ``vmin..vmax`` when given); ``alpha`` = heat-map weight.
    """
    import matplotlib

    img = to_display(image)
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise ValueError(f"overlay: cam must be 2-D (h, w), got shape {cam.shape}")
    if cam.shape != img.shape[:2]:
        cam = _upsample(torch.from_numpy(cam)[None], img.shape[:2])[0].numpy()
    heat = matplotlib.colormaps[cmap](normalise_map(cam, vmin, vmax))[..., :3]
    return np.clip((1.0 - alpha) * img + alpha * heat, 0.0, 1.0)


def _attr_text(row: Mapping[str, Any] | None, keys: Sequence[str] = ("daynight", "challenge")) -> str:
    if row is None:
        return ""
    return " ".join(str(row[k]) for k in keys if k in row and row[k] is not None and row[k] == row[k])


def _image_aspect(images: Mapping[str, torch.Tensor]) -> float:
    """Height / width of the images (all modalities share one size after the transforms)."""
    t = next(iter(images.values()))
    return float(t.shape[-2]) / float(t.shape[-1])


def plot_cam_panel(images: Mapping[str, torch.Tensor], maps: Mapping[str, Any], i: int = 0,
                   title: str = "") -> Figure:
    """HAMNet's fusion for sample ``i``, every panel used once.

    Left block, one column per spectrum: the image (top) and its own CAM ``M^j_c`` on it
    (bottom, titled with ``alpha^j_c``; the spectra's CAMs share one colour scale). Right
    column: the fused map ``M'_c = sum_j alpha^j_c M^j_c`` (shown once, on the first spectrum's
    image) above a bar chart of the alphas (dotted line: equal weights). ``images``: modality
    -> (B, 3, H, W); ``maps``: the output of :func:`hamnet_cam_maps`. Panels are sized from
    the images' aspect ratio, so wide (RGBN300-style) and tall crops leave no blank bands.
    """
    import matplotlib.pyplot as plt

    mods = list(maps["modalities"])
    lo = min(maps["cams"][m][i].min() for m in mods)
    hi = max(maps["cams"][m][i].max() for m in mods)
    aspect = _image_aspect(images)
    cell_w = 2.0
    cell_h = cell_w * aspect + 0.45  # + title line
    fig, axes = plt.subplots(2, len(mods) + 1, figsize=(cell_w * (len(mods) + 1.2), 2 * cell_h + 0.4),
                             squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [1] * len(mods) + [1.2]})
    for c, m in enumerate(mods):
        img = images[m][i]
        axes[0, c].imshow(to_display(img))
        axes[0, c].set_title(m, fontsize=9)
        axes[1, c].imshow(overlay(img, maps["cams"][m][i], vmin=lo, vmax=hi))
        axes[1, c].set_title(f"CAM $M^{{{m}}}$  α={maps['alpha'][i][c]:.2f}", fontsize=9)
        for ax in axes[:, c]:
            ax.set_xticks([])
            ax.set_yticks([])
    fused = axes[0, -1]
    fused.imshow(overlay(images[mods[0]][i], maps["fused"][i]))
    fused.set_title(f"fused $M'$ (on {mods[0]})", fontsize=9)
    fused.set_xticks([])
    fused.set_yticks([])
    bar = axes[1, -1]
    bar.bar(mods, maps["alpha"][i], color=["tab:red", "tab:purple", "tab:orange", "tab:grey"][:len(mods)])
    bar.set_ylim(0, 1)
    bar.axhline(1 / len(mods), color="k", ls=":", lw=1)
    bar.set_title(f"α for class {int(maps['class_idx'][i])}", fontsize=9)
    bar.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_dominance_gallery(model: nn.Module, dataset: torch.utils.data.Dataset, table: pd.DataFrame,
                           n: int = 6, largest: bool = True, class_source: str = "label") -> Figure:
    """Gallery of the ``n`` samples whose fusion one spectrum dominates most (or least).

    ``table`` is :func:`spectrum_dominance`'s output for ``dataset``. One column per sample,
    one row per spectrum: the image with its CAM overlaid, titled with its alpha; the column
    title gives the dominance and the capture's attributes (e.g. ``night low_light``).
    """
    import matplotlib.pyplot as plt

    if table.empty:
        raise ValueError("plot_dominance_gallery: empty dominance table")
    pick = table.sort_values(["dominance", "position"], ascending=[not largest, True]).head(n)
    items = [dataset[int(p)] for p in pick.position]
    mods = tuple(model.modalities)
    batch = {m: torch.stack([it["images"][m] for it in items]) for m in mods}
    cls = pick.class_idx.to_numpy() if class_source == "label" else None
    maps = hamnet_cam_maps(model, batch, cls)
    cell_w = 1.7
    fig, axes = plt.subplots(len(mods), len(items), squeeze=False, layout="constrained",
                             figsize=(cell_w * len(items) + 0.6, len(mods) * (cell_w * _image_aspect(batch) + 0.4) + 0.7))
    for j, (_, row) in enumerate(pick.iterrows()):
        for r, m in enumerate(mods):
            ax = axes[r, j]
            ax.imshow(overlay(batch[m][j], maps["cams"][m][j]))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"α={maps['alpha'][j][r]:.2f}", fontsize=8)
            if j == 0:
                ax.set_ylabel(m, fontsize=9)
        axes[0, j].set_title(f"dom {row.dominance:.2f}\n{_attr_text(row)}", fontsize=8)
    fig.suptitle(("most" if largest else "least") + " spectrum-dominated samples", fontsize=10)
    return fig


def plot_grad_cam_grid(images: Mapping[str, torch.Tensor], maps: Mapping[str, Mapping[str, np.ndarray]],
                       i: int = 0) -> Figure:
    """Grad-CAMs of several methods for sample ``i``: rows = methods, columns = modalities.

    ``images``: modality -> (B, 3, H, W); ``maps``: method name -> {modality: (B, H, W)}
    (e.g. ``grad_cam(...)["cam"]``). A method without a modality gets a "no <modality>" note
    in that panel. Panels are sized from the images' aspect ratio (no blank bands between rows).
    """
    import matplotlib.pyplot as plt

    mods = list(images)
    names = list(maps)
    cell_w = 1.9
    cell_h = cell_w * _image_aspect(images) + 0.3  # + title / label space
    fig, axes = plt.subplots(len(names) + 1, len(mods), squeeze=False, layout="constrained",
                             figsize=(cell_w * len(mods) + 0.9, cell_h * (len(names) + 1) + 0.2))
    for c, m in enumerate(mods):
        axes[0, c].imshow(to_display(images[m][i]))
        axes[0, c].set_title(m, fontsize=9)
        for r, name in enumerate(names, start=1):
            if m in maps[name]:
                axes[r, c].imshow(overlay(images[m][i], maps[name][m][i]))
            else:  # say so rather than leave a blank panel
                axes[r, c].text(0.5, 0.5, f"no {m}\nin {name}", ha="center", va="center", fontsize=8,
                                color="grey", transform=axes[r, c].transAxes)
            if c == 0:
                axes[r, c].set_ylabel(name, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=9)
    return fig
