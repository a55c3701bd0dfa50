"""``transoss`` — TransOSS, cross-modal optical <-> SAR ship re-ID (Wang et al., ICCV 2025; HOSS ReID).

A ViT (timm ``Block``s) with three additions (paper; public code ``Alioth2000/Hoss-ReID``):

* **Dual-head tokenizer** — two patch-embedding convolutions, ``patch_embed`` for optical
  (``rgb``) and ``patch_embed_sar`` for SAR; each sample is routed by its modality.
  ``dual_tokenizer=False`` (ablation) sends SAR through the optical one.
* **Modality information embedding (MIE)** — a learned vector per modality, ``mie_coef`` (3.0) x
  it added to every token (CLS included) next to the position embedding. ``mie=False`` removes it.
* **Ship-size embedding (SSE)** — one extra token ``Linear(3 -> D)`` of the *original* image's
  normalised width, height and aspect ratio (optical sizes x 0.75: 0.75 m vs 1 m ground
  resolution), appended after the position embedding (it has none), as the public code does.
  ``sse=False`` removes it. The normalisation ``((w/93 - 0.434)/0.031, (h/427 - 0.461)/0.031, h/w)``
  is the public code's (HOSS statistics; ``sse_norm``).

Token grid: ``patch_size`` kernels at ``stride_size`` (the public code's "overlapping" patch
embedding; its HOSS config uses stride 16 = patch 16, i.e. a 16x8 grid at 256x128; stride 12 is
TransReID's overlapping variant). The position embedding is resized bilinearly to the grid when
a checkpoint's grid differs.

Head: CLS -> LayerNorm (f, "global feature") -> BNNeck (bias frozen) -> bias-free linear
classifier. Loss: CE on the classifier logits + soft-margin batch-hard triplet on f (weights 1, 1).
All samples of a batch (both modalities) share one CE and one triplet, as in the public code.
Test feature: f before the BNNeck, L2-normalised (public ``NECK_FEAT: before``, ``FEAT_NORM: yes``).

Sizes: the method declares ``sample_fields = ("size",)``, so the engine hands ``forward``/``embed``
``fields={"size": {modality: (B_m, 2) float (width, height) of the original images in pixels}}``
(:mod:`reidlab.data.sample_fields`). With ``sse=True`` and no sizes the model raises: it never
invents a size.

Checkpoints: :func:`import_weights` converts the public code's state dicts (fine-tuned,
self-pre-trained with ``base.``/``module.`` prefixes, the released pre-trained file, or an
ImageNet timm ViT) and reports every loaded / reshaped / copied / missing / unexpected key;
missing backbone keys raise unless explicitly allowed.
"""
from __future__ import annotations

import math
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from reidlab.methods.backbones import Backbone
from reidlab.methods.base import ReIDMethod
from reidlab.methods.losses import batch_hard_triplet, cross_entropy_ls
from reidlab.methods.recipe import TRAINING_RECIPE
from reidlab.methods.registry import register_method
from reidlab.methods.specs import Claim, TableRow, TableSpec, register_table

__all__ = ["TRANSOSS_CONFIG", "VIT_PRESETS", "ImportReport", "TransOSS", "TransOSSViT", "convert_public_state_dict",
           "import_weights", "resize_pos_embed", "ship_size_features"]

#: ViT shapes by name. ``vit_base_patch16``: ViT-B/16 (paper); ``vit_tiny_cpu``: the same code at a
#: size the CPU trains in seconds (tests, demo).
VIT_PRESETS: dict[str, dict[str, Any]] = {
    "vit_base_patch16": {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0, "patch_size": 16},
    "vit_small_patch16": {"embed_dim": 384, "depth": 12, "num_heads": 6, "mlp_ratio": 4.0, "patch_size": 16},
    "vit_tiny_cpu": {"embed_dim": 64, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0, "patch_size": 8},
}
VIT_PRESETS["tiny"] = VIT_PRESETS["vit_tiny_cpu"]  # the registry's CPU test name for every method's smallest backbone

TRANSOSS_CONFIG: dict[str, Any] = {
    **TRAINING_RECIPE,
    # model (public configs/hoss_transoss.yml + model/backbones/vit_transoss.py)
    "backbone": "vit_base_patch16",
    "pretrained": False,        # False, a local .pth (ImageNet ViT / `reidlab pretrain-pairs` / public checkpoint),
                                # or "pairs:<preset>" (synthetic pairs -> contrastive pre-training, cached;
                                # resolved to its checkpoint by the engine's build_model)
    "stride_size": None,        # None = the patch size (public HOSS config: 16 = patch 16); 12 = TransReID's overlap
    "drop_path": 0.1,
    "drop_rate": 0.0,
    "attn_drop_rate": 0.0,
    "qkv_bias": True,
    "dual_tokenizer": True,
    "mie": True,
    "mie_coef": 3.0,
    "sse": True,
    "sse_norm": [93.0, 0.434, 427.0, 0.461, 0.031],  # public code's ((w/93-0.434)/0.031, (h/427-0.461)/0.031, h/w)
    "optical_size_scale": 0.75,  # optical 0.75 m vs SAR 1 m ground resolution
    "test_feature": "before",   # "before" / "after" the BNNeck (public TEST.NECK_FEAT: before)
    "id_weight": 1.0,
    "triplet_weight": 1.0,
    "triplet_soft": True,       # public NO_MARGIN: True -> soft-margin triplet
    "triplet_margin": 0.3,      # used only when triplet_soft is False
    "label_smoothing": 0.0,     # public IF_LABELSMOOTH: off
    # training set-up (paper / public config): SGD 5e-4, momentum 0.9, wd 1e-4, 200 epochs, warm-up 5
    # epochs from 0.01 x lr. The public schedule is cosine (lr_min = 0.002 x lr); reidlab's engine has
    # warm-up + step decay only, so no step is scheduled here (constant lr after warm-up) until a cosine
    # schedule lands in the engine. Bias lr factor 2 of the public code is not reproduced.
    "optimizer": "sgd",
    "lr": 5e-4,
    "weight_decay": 1e-4,
    "momentum": 0.9,
    "epochs": 200,
    "warmup_epochs": 5,
    "warmup_factor": 0.01,      # 5e-6 / 5e-4
    "milestones": [],
    "gamma": 0.1,
    "P": 8,
    "K": 4,
    "height": 256,
    "width": 128,
    "last_stride": 1,           # unused by a ViT; kept for the engine's MODEL_FIELDS
}

#: The tiny ViT of tests and the CPU demo (64x32 images, 8x8 patches -> a 8x4 grid).
SMOKE_OVERRIDES: dict[str, Any] = {"backbone": "vit_tiny_cpu", "drop_path": 0.0}

_MOD_INDEX = {"rgb": 0, "sar": 1}


def _trunc_normal(t: torch.Tensor, std: float = 0.02) -> None:
    nn.init.trunc_normal_(t, std=std, a=-2.0, b=2.0)


def ship_size_features(sizes: torch.Tensor, optical: torch.Tensor, norm: list[float] | tuple[float, ...],
                       optical_scale: float = 0.75) -> torch.Tensor:
    """SSE input (B, 3) from original sizes.

    ``sizes`` (B, 2) float: (width, height) in pixels of the original image; ``optical`` (B,) bool:
    optical samples, whose sizes are multiplied by ``optical_scale`` (ground resolution 0.75 m vs
    1 m for SAR). ``norm = (w_div, w_mean, h_div, h_mean, std)``: returns
    ``((w/w_div - w_mean)/std, (h/h_div - h_mean)/std, h/w)`` (public code's normalisation).
    """
    if sizes.ndim != 2 or sizes.shape[1] != 2:
        raise ValueError(f"sizes must be (B, 2) (width, height), got {tuple(sizes.shape)}")
    if (sizes <= 0).any():
        raise ValueError("ship-size embedding needs positive original sizes; got a width/height <= 0 "
                         "(a sample without its original size?)")
    s = sizes.float() * torch.where(optical, optical_scale, 1.0).to(sizes.device, torch.float32).unsqueeze(1)
    w, h = s[:, 0], s[:, 1]
    wd, wm, hd, hm, sd = (float(x) for x in norm)
    return torch.stack([(w / wd - wm) / sd, (h / hd - hm) / sd, h / w], dim=1)


def resize_pos_embed(pos: torch.Tensor, grid: tuple[int, int], old_grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Resize a (1, 1 + gh*gw, D) position embedding (CLS first) to ``grid`` = (gh, gw), bilinear.

    ``old_grid`` defaults to a square grid (ImageNet checkpoints: 14x14).
    """
    n = pos.shape[1] - 1
    if old_grid is None:
        g = int(round(math.sqrt(n)))
        if g * g != n:
            raise ValueError(f"position embedding with {n} grid tokens is not square; give old_grid")
        old_grid = (g, g)
    if old_grid[0] * old_grid[1] != n:
        raise ValueError(f"position embedding has {n} grid tokens, not {old_grid[0]}x{old_grid[1]}")
    cls, g = pos[:, :1], pos[0, 1:]
    g = g.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)
    g = F.interpolate(g.float(), size=tuple(grid), mode="bilinear", align_corners=False)
    g = g.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1).to(pos.dtype)
    return torch.cat([cls, g], dim=1)


class _PatchEmbed(nn.Module):
    """Conv tokenizer: (B, 3, H, W) -> (B, gh*gw, D); ``proj`` is the conv (public name)."""

    def __init__(self, img_size: tuple[int, int], patch: int, stride: int, dim: int) -> None:
        super().__init__()
        h, w = img_size
        if h < patch or w < patch:
            raise ValueError(f"image {h}x{w} smaller than the patch {patch}")
        self.img_size = (h, w)
        self.grid = ((h - patch) // stride + 1, (w - patch) // stride + 1)
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=stride)
        nn.init.normal_(self.proj.weight, 0.0, math.sqrt(2.0 / (patch * patch * dim)))
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, gh, gw) token map."""
        if x.shape[-2] < self.proj.kernel_size[0] or x.shape[-1] < self.proj.kernel_size[1]:
            raise ValueError(f"image {x.shape[-2]}x{x.shape[-1]} smaller than the patch {self.proj.kernel_size}")
        return self.proj(x)


class TransOSSViT(Backbone):
    """The TransOSS backbone: tokens -> CLS feature f (B, D) after the final LayerNorm.

    A reidlab :class:`Backbone` (``kind="vit"``) whose ``forward`` gives the CLS feature, not a map;
    ``cam_layer`` (identity) sees the (B, D, gh, gw) grid of the patch tokens entering the last block,
    the layer for Grad-CAM: ``grad_cam(model, images, m, target_layer=model.vit.cam_layer)``.
    Images of another size than the built one are tokenized on their own grid and the position
    embedding is resized to it (bilinear), as when loading a checkpoint.

    ``forward(x (B,3,H,W), mod_index (B,) long (0 optical, 1 SAR), size_feat (B,3) or None)``.
    Parameter names follow the public code (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
    ``mie_embed`` (2, 1, D), ``blocks.i.*``, ``norm``) except ``patch_embed_sar`` (public
    ``patch_embed_SAR``) and ``sse_embed`` (public ``wh_embed.linear_layer``).
    """

    def __init__(self, img_size: tuple[int, int], *, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float,
                 patch_size: int, stride_size: int, drop_path: float = 0.1, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, qkv_bias: bool = True, dual_tokenizer: bool = True, mie: bool = True,
                 mie_coef: float = 3.0, sse: bool = True) -> None:
        nn.Module.__init__(self)  # Backbone's __init__ wraps a timm body; this ViT is its own body
        from timm.models.vision_transformer import Block

        self.name, self.kind, self.last_stride, self.out_channels = "transoss_vit", "vit", 1, embed_dim
        self.load_report: dict[str, list[str]] = {}
        self.embed_dim = embed_dim
        self.dual_tokenizer = dual_tokenizer
        self.mie_coef = float(mie_coef)
        self.patch_embed = _PatchEmbed(img_size, patch_size, stride_size, embed_dim)
        self.patch_embed_sar = _PatchEmbed(img_size, patch_size, stride_size, embed_dim) if dual_tokenizer else None
        self.grid = self.patch_embed.grid
        n = self.grid[0] * self.grid[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, embed_dim))
        self.mie_embed = nn.Parameter(torch.zeros(2, 1, embed_dim)) if mie else None
        self.sse_embed = nn.Linear(3, embed_dim) if sse else None
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path, depth).tolist()  # stochastic depth grows with depth
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, proj_drop=drop_rate,
                  attn_drop=attn_drop_rate, drop_path=dpr[i], norm_layer=norm) for i in range(depth)])
        self.norm = norm(embed_dim)
        self.cam_layer = nn.Identity()
        self.apply(self._init)
        _trunc_normal(self.cls_token)
        _trunc_normal(self.pos_embed)
        if self.mie_embed is not None:
            _trunc_normal(self.mie_embed)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            _trunc_normal(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def tokenize(self, x: torch.Tensor, mod_index: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Patch tokens (B, N, D) and their grid (gh, gw), each sample through its modality's tokenizer."""
        sar = mod_index == 1
        if self.patch_embed_sar is None or not sar.any():
            m = self.patch_embed(x)
        elif sar.all():
            m = self.patch_embed_sar(x)
        else:
            m_opt, m_sar = self.patch_embed(x[~sar]), self.patch_embed_sar(x[sar])
            m = m_opt.new_empty((x.shape[0], *m_opt.shape[1:]))
            m[~sar] = m_opt
            m[sar] = m_sar
        return m.flatten(2).transpose(1, 2), (m.shape[2], m.shape[3])

    def forward(self, x: torch.Tensor, mod_index: torch.Tensor | None = None,
                size_feat: torch.Tensor | None = None) -> torch.Tensor:
        """CLS feature (B, D). ``mod_index`` (B,) long, 0 optical / 1 SAR (None: all optical);
        ``size_feat`` (B, 3) from :func:`ship_size_features` (needed when SSE is on)."""
        b = x.shape[0]
        if mod_index is None:
            mod_index = torch.zeros(b, dtype=torch.long, device=x.device)
        t, grid = self.tokenize(x, mod_index)
        pos = self.pos_embed if grid == self.grid else resize_pos_embed(self.pos_embed, grid, self.grid)
        t = torch.cat([self.cls_token.expand(b, -1, -1).to(t.dtype), t], dim=1) + pos
        if self.mie_embed is not None:
            t = t + self.mie_coef * self.mie_embed[mod_index]
        if self.sse_embed is not None:
            if size_feat is None:
                raise ValueError("TransOSS with sse=True needs the original image sizes (sizes=...); "
                                 "pass them or build the model with sse=False")
            t = torch.cat([t, self.sse_embed(size_feat.to(t.dtype)).unsqueeze(1)], dim=1)
        t = self.pos_drop(t)
        for blk in self.blocks[:-1]:
            t = blk(t)
        n = grid[0] * grid[1]  # the grid tokens as a map for Grad-CAM (identity: values unchanged)
        fmap = self.cam_layer(t[:, 1:1 + n].transpose(1, 2).reshape(b, -1, grid[0], grid[1]))
        t = torch.cat([t[:, :1], fmap.flatten(2).transpose(1, 2), t[:, 1 + n:]], dim=1)
        t = self.blocks[-1](t)
        return self.norm(t)[:, 0]


@register_method("transoss", TRANSOSS_CONFIG,
                 smoke={"dataset": "hoss", "modalities": ["rgb", "sar"],
                        "overrides": {"method_overrides": dict(SMOKE_OVERRIDES), "height": 64, "width": 32}})
class TransOSS(ReIDMethod):
    """TransOSS on ``modalities`` ⊆ (rgb, sar). See the module docstring for the outputs and losses."""

    accepts_missing = True
    feature_norm = "l2"
    sample_fields = ("size",)  # original (width, height) per image, for the ship-size embedding

    def __init__(self, num_classes: int, modalities: tuple[str, ...], config: dict[str, Any]) -> None:
        super().__init__()
        bad = [m for m in modalities if m not in _MOD_INDEX]
        if bad or not modalities:
            raise ValueError(f"transoss takes optical 'rgb' and/or 'sar' images, got {modalities}")
        if config["backbone"] not in VIT_PRESETS:
            raise ValueError(f"transoss backbone {config['backbone']!r} unknown; choose from {sorted(VIT_PRESETS)}")
        if config["test_feature"] not in ("before", "after"):
            raise ValueError(f"test_feature must be 'before' or 'after', got {config['test_feature']!r}")
        self.modalities = tuple(modalities)
        self.num_classes = num_classes
        self.config = config
        shape = VIT_PRESETS[config["backbone"]]
        self.vit = TransOSSViT(
            (int(config["height"]), int(config["width"])),
            stride_size=int(config["stride_size"] or VIT_PRESETS[config["backbone"]]["patch_size"]),
            drop_path=float(config["drop_path"]), drop_rate=float(config["drop_rate"]),
            attn_drop_rate=float(config["attn_drop_rate"]), qkv_bias=bool(config["qkv_bias"]),
            dual_tokenizer=bool(config["dual_tokenizer"]), mie=bool(config["mie"]),
            mie_coef=float(config["mie_coef"]), sse=bool(config["sse"]), **shape)
        d = self.vit.embed_dim
        self.bnneck = nn.BatchNorm1d(d)
        self.bnneck.bias.requires_grad_(False)  # BNNeck: no shift before the classifier
        self.classifier = nn.Linear(d, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        #: what initialisation did (filled by import_weights; written into the run record by the engine)
        self.init_report: dict[str, Any] = {}
        if config["pretrained"]:
            src = config["pretrained"]
            if src is True:
                raise ValueError("transoss: pretrained=True (download) is not supported offline; give a local .pth "
                                 "(ImageNet ViT, a `reidlab pretrain-pairs` checkpoint or the public TransOSS file)")
            if isinstance(src, str) and src.split(":")[0] in ("pairs", "synth"):
                raise ValueError(f"transoss: pretrained={src!r} names a pre-training to run, which the engine's "
                                 "build_model resolves to its checkpoint (reidlab.engine.build); outside the engine "
                                 "give the .pth path (reidlab.engine.contrastive.ensure_pair_checkpoint)")
            rep = import_weights(self, src, allow_missing_heads=True)
            self.init_report = rep.as_dict()

    # ----------------------------------------------------------------- helpers
    def _size_features(self, m: str, n: int, sizes: Mapping[str, torch.Tensor] | None) -> torch.Tensor | None:
        """SSE input (n, 3) of the ``n`` images of modality ``m`` (None when SSE is off)."""
        if self.vit.sse_embed is None:
            return None
        if sizes is None or m not in sizes:
            raise ValueError(f"transoss (sse=True) needs the original sizes of the {m!r} images: pass "
                             "fields={'size': {modality: (B_m, 2) (width, height)}} (the engine does, from "
                             "sample_fields), or set sse=False")
        s = torch.as_tensor(sizes[m])
        if s.shape[0] != n:
            raise ValueError(f"fields['size'][{m!r}] has {s.shape[0]} rows for {n} {m} images")
        dev = self.classifier.weight.device
        return ship_size_features(s.to(dev), torch.full((n,), m == "rgb", device=dev),
                                  self.config["sse_norm"], float(self.config["optical_size_scale"]))

    def encode(self, images: Mapping[str, torch.Tensor], sizes: Mapping[str, torch.Tensor] | None = None
               ) -> dict[str, torch.Tensor]:
        """{m: f (B_m, D)}: the CLS feature after the final LayerNorm of every modality in ``images``
        the model knows, one ViT pass over all. ``sizes``: {m: (B_m, 2)} original (width, height)."""
        mods = [m for m in self.modalities if m in images and images[m].shape[0] > 0]
        if not mods:
            raise KeyError(f"method 'transoss' needs modality {' or '.join(repr(m) for m in self.modalities)} but "
                           f"the batch has {sorted(images)}; build the model with the dataset's modalities")
        x = torch.cat([images[m] for m in mods])
        idx = torch.cat([torch.full((images[m].shape[0],), _MOD_INDEX[m], dtype=torch.long) for m in mods]).to(x.device)
        feats = [self._size_features(m, images[m].shape[0], sizes) for m in mods]
        size_feat = torch.cat(feats) if feats[0] is not None else None
        f = self.vit(x, idx, size_feat)
        return dict(zip(mods, torch.split(f, [images[m].shape[0] for m in mods])))

    # ---------------------------------------------------------------- contract
    def forward(self, images: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None,
                fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``feat`` {m: f (B_m, D)}, ``logits`` {m: (B_m, C)}, ``pos`` {m: (B_m,) batch positions}.

        ``images[m]`` holds only the samples having m; ``present[m]`` (B,) marks their positions
        (None: aligned, every B_m = B). ``fields["size"]``: {m: (B_m, 2)} original (width, height)."""
        feat = self.encode(images, (fields or {}).get("size"))
        out: dict[str, Any] = {"feat": feat, "logits": {}, "pos": {}}
        for m, f in feat.items():
            out["logits"][m] = self.classifier(self.bnneck(f))
            if present is None:
                out["pos"][m] = torch.arange(f.shape[0], device=f.device)
            else:
                mask = present[m].to(f.device).bool()
                if int(mask.sum()) != f.shape[0]:
                    raise ValueError(f"present[{m!r}] marks {int(mask.sum())} samples but images[{m!r}] has "
                                     f"{f.shape[0]}")
                out["pos"][m] = torch.nonzero(mask).squeeze(1)
        return out

    def loss(self, outputs: Mapping[str, Any], labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """CE (classifier after the BNNeck) + soft-margin batch-hard triplet on f, over both modalities."""
        cfg = self.config
        mods = list(outputs["feat"])
        y = torch.cat([labels.to(outputs["pos"][m].device)[outputs["pos"][m]] for m in mods])
        logits = torch.cat([outputs["logits"][m] for m in mods])
        f = torch.cat([outputs["feat"][m] for m in mods])
        l_id = cross_entropy_ls(logits, y, cfg["label_smoothing"])
        l_tri = batch_hard_triplet(f, y, cfg["triplet_margin"], cfg["triplet_soft"])
        total = cfg["id_weight"] * l_id + cfg["triplet_weight"] * l_tri
        return total, {"id": float(l_id.detach()), "triplet": float(l_tri.detach())}

    @torch.no_grad()
    def embed(self, images: Mapping[str, torch.Tensor], fields: Mapping[str, Any] | None = None
              ) -> dict[str, torch.Tensor]:
        """{m: (B_m, D)}: f before the BNNeck (``test_feature='before'``, public default) or after it."""
        feat = self.encode(images, (fields or {}).get("size"))
        if self.config["test_feature"] == "after":
            feat = {m: self.bnneck(f) for m, f in feat.items()}
        return feat

    def class_logits(self, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return dict(outputs["logits"])


# ====================================================================== checkpoints
_PUBLIC_RENAMES = (  # (public prefix, reidlab prefix), applied after stripping module./base.
    ("patch_embed_SAR.", "patch_embed_sar."),
    ("wh_embed.linear_layer.", "sse_embed."),
)
_IGNORED = {  # public keys with no counterpart, and why
    "logit_scale": "contrastive pre-training temperature (not part of the re-ID model)",
    "fc.weight": "the ViT's unused 1000-way ImageNet head", "fc.bias": "the ViT's unused 1000-way ImageNet head",
    "head.weight": "ImageNet classifier head", "head.bias": "ImageNet classifier head",
    "pre_logits.fc.weight": "ImageNet pre-logits layer", "pre_logits.fc.bias": "ImageNet pre-logits layer",
}


@dataclass
class ImportReport:
    """What :func:`import_weights` did with every key.

    ``loaded``: reidlab keys set from the file; ``reshaped``: key -> "old shape -> new shape (how)";
    ``copied``: reidlab keys filled from another (SAR tokenizer from the optical one);
    ``missing``: reidlab keys left at their initialisation; ``unexpected``: file keys not used
    (with the reason when known); ``renamed``: file key -> reidlab key where the names differ.
    """

    source: str
    n_file_keys: int
    loaded: list[str] = field(default_factory=list)
    reshaped: dict[str, str] = field(default_factory=dict)
    copied: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: dict[str, str] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "n_file_keys": self.n_file_keys, "loaded": len(self.loaded),
                "reshaped": dict(self.reshaped), "copied": dict(self.copied), "missing": list(self.missing),
                "unexpected": dict(self.unexpected), "renamed": len(self.renamed)}

    def summary(self) -> str:
        lines = [f"{self.source}: {self.n_file_keys} keys in file, {len(self.loaded)} loaded"]
        for k, v in self.reshaped.items():
            lines.append(f"  reshaped   {k}: {v}")
        for k, v in self.copied.items():
            lines.append(f"  copied     {k} <- {v}")
        for k in self.missing:
            lines.append(f"  missing    {k} (left at its initialisation)")
        for k, v in self.unexpected.items():
            lines.append(f"  unexpected {k}: {v}")
        return "\n".join(lines)


def _read_state_dict(path: str | Path | Mapping[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor]]:
    if isinstance(path, Mapping):
        return "<state dict>", dict(path)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {str(p)!r} does not exist")
    sd = torch.load(p, map_location="cpu", weights_only=False)
    for key in ("model", "state_dict"):  # public loader unwraps these
        if isinstance(sd, Mapping) and key in sd and isinstance(sd[key], Mapping):
            sd = sd[key]
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"checkpoint {str(p)!r} is not a state dict of tensors (keys: {list(sd)[:8]}...)")
    return str(p), dict(sd)


def convert_public_state_dict(sd: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str],
                                                                        dict[str, str]]:
    """Public TransOSS / timm ViT names -> reidlab names.

    reidlab's own names (``vit.*``, ``bnneck.*``: a ``reidlab pretrain-pairs`` checkpoint) pass through.
    Strips ``module.`` (DDP) and ``base.`` (the public ``build_transformer`` wrapper, present in
    fine-tuned and self-pre-trained files), renames ``patch_embed_SAR`` and ``wh_embed``;
    ``bottleneck.*`` -> ``bnneck.*``. Backbone keys get the ``vit.`` prefix of reidlab's model.
    Returns ``(converted, renamed {file key: new key}, ignored {file key: reason})``.
    """
    out: dict[str, torch.Tensor] = {}
    renamed: dict[str, str] = {}
    ignored: dict[str, str] = {}
    for k, v in sd.items():
        name = k[len("module."):] if k.startswith("module.") else k
        if name.startswith(("vit.", "bnneck.")):  # reidlab's own names (a reidlab checkpoint)
            out[name] = v
            if name != k:
                renamed[k] = name
            continue
        head = False
        if name.startswith("base."):
            name = name[len("base."):]
        elif name.startswith("bottleneck.") or name.startswith("classifier.") or name == "logit_scale":
            head = True
        if name in _IGNORED:
            ignored[k] = _IGNORED[name]
            continue
        if head:
            new = "bnneck." + name[len("bottleneck."):] if name.startswith("bottleneck.") else name
        else:
            new = name
            for old, rep in _PUBLIC_RENAMES:
                if new.startswith(old):
                    new = rep + new[len(old):]
            new = "vit." + new
        out[new] = v
        if new != k:
            renamed[k] = new
    return out, renamed, ignored


def import_weights(model: TransOSS, path: str | Path | Mapping[str, torch.Tensor], *,
                   allow_missing_heads: bool = True, allow_missing: tuple[str, ...] = (),
                   load_classifier: bool = False) -> ImportReport:
    """Load a public TransOSS / ImageNet ViT / reidlab checkpoint into ``model``, reporting every key.

    * position embedding: resized (bilinear) to the model's grid when the grids differ;
      a non-square source grid is read as the model's grid aspect when the count matches;
    * ``patch_embed.proj.weight`` stored flat (old linear patchification) is reshaped to the conv;
    * no SAR tokenizer in the file (ImageNet ViT, released pre-trained file): the optical tokenizer is
      copied into ``patch_embed_sar`` (as the public code does) and recorded in ``copied``;
    * no ``mie_embed`` / ``sse_embed`` in the file: left at initialisation and listed in ``missing``;
    * the classifier is not loaded unless ``load_classifier`` and its class count matches.

    Refuses silent partial loads: raises ``ValueError`` (with the full report) when a backbone key of
    the model other than ``mie_embed``/``sse_embed``/``cls_token`` and ``allow_missing`` is missing,
    when a file key is neither used nor known, or when a shape cannot be reconciled. Head keys
    (``bnneck``, ``classifier``) may be missing when ``allow_missing_heads`` (a backbone-only file).
    Returns the :class:`ImportReport`; ``model.init_report`` is set to its dict.
    """
    source, raw = _read_state_dict(path)
    conv, renamed, ignored = convert_public_state_dict(raw)
    rep = ImportReport(source=source, n_file_keys=len(raw), renamed=renamed, unexpected=dict(ignored))
    own = model.state_dict()
    new_sd: dict[str, torch.Tensor] = {}
    bad_shape: list[str] = []
    back = {v: k for k, v in renamed.items()}
    for k, v in conv.items():
        fk = back.get(k, k)
        if k.startswith("classifier.") and not load_classifier:
            rep.unexpected[fk] = "re-ID classifier of the checkpoint's training identities (not loaded)"
            continue
        if k not in own:
            rep.unexpected[fk] = "no such parameter in this model (switch off in the config? e.g. mie/sse/dual_tokenizer)"
            continue
        target = own[k]
        if k == "vit.pos_embed" and v.shape != target.shape:
            grid = model.vit.grid
            n_old = v.shape[1] - 1
            old_grid = None if int(round(math.sqrt(n_old))) ** 2 == n_old else (
                (grid[0] * n_old // (grid[0] * grid[1]), grid[1]) if n_old % grid[1] == 0 else None)
            if old_grid is not None and old_grid[0] * old_grid[1] != n_old:
                old_grid = None
            try:
                v2 = resize_pos_embed(v, grid, old_grid)
            except ValueError as exc:
                bad_shape.append(f"{fk}: {tuple(v.shape)} vs {tuple(target.shape)} ({exc})")
                continue
            if v2.shape != target.shape:
                bad_shape.append(f"{fk}: {tuple(v.shape)} vs {tuple(target.shape)} (embedding width differs)")
                continue
            rep.reshaped[k] = f"{tuple(v.shape)} -> {tuple(v2.shape)} (bilinear resize to the {grid[0]}x{grid[1]} grid)"
            v = v2
        elif k.endswith("patch_embed.proj.weight") and v.ndim == 2 and v.numel() == target.numel():
            rep.reshaped[k] = f"{tuple(v.shape)} -> {tuple(target.shape)} (linear patchification to conv)"
            v = v.reshape(target.shape)
        elif k == "vit.mie_embed" and v.shape != target.shape and v.shape[1:] == target.shape[1:] \
                and v.shape[0] >= target.shape[0]:
            rep.reshaped[k] = f"{tuple(v.shape)} -> {tuple(target.shape)} (first {target.shape[0]} modality rows)"
            v = v[: target.shape[0]]
        if v.shape != target.shape:
            bad_shape.append(f"{fk}: {tuple(v.shape)} vs model {tuple(target.shape)}")
            continue
        new_sd[k] = v.to(target.dtype)
    if ("vit.patch_embed_sar.proj.weight" in own and "vit.patch_embed_sar.proj.weight" not in new_sd
            and "vit.patch_embed.proj.weight" in new_sd):
        for p in ("weight", "bias"):
            if f"vit.patch_embed.proj.{p}" in new_sd:
                new_sd[f"vit.patch_embed_sar.proj.{p}"] = new_sd[f"vit.patch_embed.proj.{p}"].clone()
                rep.copied[f"vit.patch_embed_sar.proj.{p}"] = f"vit.patch_embed.proj.{p} (no SAR tokenizer in the file)"
    rep.loaded = sorted(k for k in new_sd if k not in rep.copied)
    rep.missing = sorted(k for k in own if k not in new_sd)
    tolerated = {"vit.mie_embed", "vit.sse_embed.weight", "vit.sse_embed.bias", "vit.cls_token", *allow_missing}
    heads = ("bnneck.", "classifier.")
    fatal_missing = [k for k in rep.missing if k not in tolerated
                     and not (k.startswith(heads) and (allow_missing_heads or k.startswith("classifier.")))]
    unknown = [k for k, why in rep.unexpected.items() if why.startswith("no such parameter")]
    if bad_shape or fatal_missing or unknown or not rep.loaded:
        raise ValueError(
            "refusing a partial load of " + source + ":\n"
            + "".join(f"  shape mismatch {s}\n" for s in bad_shape)
            + "".join(f"  missing {k}\n" for k in fatal_missing)
            + "".join(f"  unexpected {k}\n" for k in unknown)
            + ("  no key of the file matches the model\n" if not rep.loaded else "")
            + "Report so far:\n" + rep.summary())
    model.load_state_dict(new_sd, strict=False)
    model.init_report = rep.as_dict()
    return rep


# ====================================================================== tables
_PAPER = "transoss_iccv2025"
_COLS = ("hoss/all", "hoss/opt2sar", "hoss/sar2opt")
_PROTO_NAMES = {"hoss/all": "All->All", "hoss/opt2sar": "Optical->SAR", "hoss/sar2opt": "SAR->Optical"}
_VIT = "ViT baseline (TransReID stand-in)"

register_table(TableSpec(
    name="transoss_main", dataset="hoss", paper=(_PAPER, "docs/methods.md (not in the seed README)"),
    columns=_COLS,
    description="TransOSS vs a plain ViT on the three HOSS protocols, next to the paper's TransOSS and TransReID "
                "numbers (data_cards/hoss.md; docs/methods.md section 6). reidlab's plain-ViT row (one shared "
                "tokenizer, no MIE, no SSE; same loss and schedule) is not TransReID (no JPM, no SIE): it stands in "
                "for the paper's baseline row.",
    rows=(TableRow("TransOSS", "transoss", {}, paper_match={"method": "TransOSS"}),
          TableRow(_VIT, "transoss", {"method_overrides": {"dual_tokenizer": False, "mie": False, "sse": False}},
                   paper_match={"method": "TransReID"})),
    claims=tuple(
        Claim(id=f"transoss.beats_vit_{p.split('/')[1]}", paper=_PAPER, kind="greater", a="TransOSS", b=_VIT,
              protocol=p, text=f"TransOSS beats the ViT baseline on {_PROTO_NAMES[p]} mAP "
                               f"(paper vs TransReID: {v})")
        for p, v in (("hoss/all", "57.4 vs 48.1"), ("hoss/opt2sar", "48.9 vs 27.3"), ("hoss/sar2opt", "38.7 vs 20.9")))
    + tuple(Claim(id=f"transoss.above_chance_{p.split('/')[1]}", paper=_PAPER, kind="above_chance", a="TransOSS",
                  protocol=p, factor=2.0, text=f"TransOSS retrieves {_PROTO_NAMES[p]} at more than twice chance mAP")
            for p in _COLS),
))

_FULL, _PRE = "full", "full + pair pre-training"
register_table(TableSpec(
    name="transoss_ablation", dataset="hoss", paper=None, columns=_COLS,
    description="reidlab's own ablation of the TransOSS components (the paper's ablation numbers are unknown, "
                "docs/methods.md section 6): each row removes one component from the full model, or adds the "
                "contrastive optical-SAR pre-training (`pretrained: pairs:synthetic`: synthetic pairs, cached).",
    rows=(TableRow(_FULL, "transoss", {}),
          TableRow(_PRE, "transoss", {"method_overrides": {"pretrained": "pairs:synthetic"}}),
          TableRow("shared tokenizer", "transoss", {"method_overrides": {"dual_tokenizer": False}}),
          TableRow("no MIE", "transoss", {"method_overrides": {"mie": False}}),
          TableRow("no SSE", "transoss", {"method_overrides": {"sse": False}})),
    claims=(Claim(id="transoss.dual_tokenizer_helps", paper=_PAPER, kind="greater", a=_FULL, b="shared tokenizer",
                  protocol="hoss/opt2sar", text="the dual-head tokenizer raises Optical->SAR mAP"),
            Claim(id="transoss.mie_helps", paper=_PAPER, kind="greater", a=_FULL, b="no MIE", protocol="hoss/opt2sar",
                  text="the modality information embedding raises Optical->SAR mAP"),
            Claim(id="transoss.sse_helps", paper=_PAPER, kind="greater", a=_FULL, b="no SSE", protocol="hoss/all",
                  text="the ship-size embedding raises All->All mAP"),
            Claim(id="transoss.pretraining_helps_o2s", paper=_PAPER, kind="greater", a=_PRE, b=_FULL,
                  protocol="hoss/opt2sar", text="contrastive optical-SAR pre-training raises Optical->SAR mAP"),
            Claim(id="transoss.pretraining_helps_s2o", paper=_PAPER, kind="greater", a=_PRE, b=_FULL,
                  protocol="hoss/sar2opt", text="contrastive optical-SAR pre-training raises SAR->Optical mAP"),
            Claim(id="transoss.pretraining_narrows_gap_centroid", paper=_PAPER, kind="gap_lower", a=_PRE, b=_FULL,
                  protocol="hoss/all", metric="centroid_distance",
                  text="pre-training narrows the optical-SAR gap: lower centroid distance (reidlab's reading of the "
                       "paper's motivation for aligning the modalities)"),
            Claim(id="transoss.pretraining_narrows_gap_probe", paper=_PAPER, kind="gap_lower", a=_PRE, b=_FULL,
                  protocol="hoss/all", metric="probe_accuracy",
                  text="pre-training narrows the optical-SAR gap: a linear probe tells optical from SAR less well")),
))
