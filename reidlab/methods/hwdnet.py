"""``hwdnet`` — Hybrid Weights Decoupling Network for UAV RGB <-> IR vehicle re-ID (UCM-VeID paper).

No public code exists; everything follows the paper (seed ``hwdnet_ucmveid.md``), and the choices
the paper leaves open are marked *inferred* below and in ``HWDNET_CONFIG``.

Network (ResNet stages numbered as the paper's "layer{1..5}": 1 = stem conv1+bn+relu+maxpool,
2..5 = layer1..layer4):

* **Hybrid-weights two-stream extractor.** ``split = "s<k>"``: stages 1..k exist once per modality
  and are *related* through the weight restrainer, stages k+1..5 are shared, then global average
  pooling and a BatchNorm1d (the "BN after shared layers"), giving z (B, d). Table IV: ``s0`` = all
  shared (one stream), ``s2`` = stem + layer1 related (the paper's best), ``s5`` = all related
  (only GAP + BN shared). The RGB stream is the timm backbone itself; the IR stream's related
  stages are a copy of the RGB ones made at construction (same start, as from one ImageNet model).
  Both modalities of a batch pass the shared stages together, so BN statistics are joint.
* **Weight restrainer** (eq. 2-5): per related stage i, learned scalars a_i, b_i (init 1, 0) and
  Ŵ_i^RGB = a_i · W_i^RGB + b_i; L_wr = Σ_i α_i ||Ŵ_i^RGB − W_i^IR||_2, the l2 norm over all
  weight tensors (conv / linear kernels, ndim > 1) of stage i flattened together; α_i = 1 for the
  related stages and 0 otherwise (eq. 5: the paper's α is exactly this indicator, so no stage is
  weighted over another). BN affine parameters are not "weights" here (inferred).
  ``restrainer_ab`` chooses how a_i, b_i are found. ``"closed_form"`` (default): each step, the
  least-squares a_i, b_i of W^IR on W^RGB over the stage's weight elements (a = cov / var,
  b = mean(W^IR) − a·mean(W^RGB)), i.e. the minimiser of L_wr over (a, b) that learning would seek;
  held fixed for the gradient (at the minimiser the gradient w.r.t. the weights is the same either
  way). ``"learned"``: a_i, b_i are parameters trained by the optimiser, as printed. Why the default
  differs from the printed form, measured: ∂L_wr/∂b_i = Σ r / ||r|| sums over all n_i elements
  of the stage (26 k / 74 k for resnet10t's stem / layer1), so b's curvature grows like n_i / ||r||,
  and under the paper's SGD (lr 0.01, momentum 0.9) L_wr alone on two nearly equal streams of 26 k
  weights peaks at over 50x its start (1.6 -> 445) within 40 steps, while closed form never rises
  (``tests/test_methods_hwdnet.py``); closed form has no such parameter to overshoot.
* **Orientation-invariant feature separation** (Fig. 6, Table V), ``decoupling``:
  ``split`` — υ = z[:, :r], μ = z[:, r:] with r = round(relevant_frac · d) (the paper does not give
  the split point: half, inferred); ``subtraction`` — υ = G(z), μ = z − υ (eq. 9-10);
  ``prediction`` — υ = G_r(z), μ = G_u(z) (eq. 11-12, output sizes r and d − r like ``split``);
  ``none`` — μ = z (no decoupling: the baseline). G, G_r, G_u are Linear-BN-ReLU-Linear MLPs with
  ``mlp_hidden`` units (inferred). An 8-way orientation classifier C(υ) gives L_R (eq. 13).
* **Orientation-invariant refining** (eq. 14-18, Table VI), ``centroid``: ``cross`` (paper) —
  μ̄_k = ½(mean_p μ^RGB_{k,p} + mean_q μ^IR_{k,q}) over the batch, L'_C = Σ s(μ, μ̄_k) over both
  modalities; ``single`` — each modality pulled to its own centroid (eq. 14-16); ``none``. The paper
  does not define s(·,·): Euclidean distance (``centroid_distance = "l2"``, inferred; ``"cosine"`` =
  1 − cos as an option). The centroid is a batch statistic (the paper's "global" centroid over
  all training samples of an ID is not computable per step without a memory: inferred); an ID
  with only one modality in the batch uses that modality's mean.
* **Losses** (eq. 19): L = wr_weight·L_wr + L_ID + L_tri + orient_weight·L_R + centroid_weight·L'_C
  (all weights 1 = the paper). L_ID = CE on both modalities' ID logits (eq. 6); L_tri = cross-modal
  batch-hard triplet with margin 0.5 (eq. 7: RGB anchors mined against IR samples and IR anchors
  against RGB; the hardest positive is the *farthest* and the hardest negative the *nearest* —
  the printed min/max are swapped relative to the text "hard-mined"). The paper writes eq. 6, 7,
  13, 14 and 18 as sums over samples; reidlab averages over the samples of each modality and sums
  over modalities (``loss_reduction = "mean"``; ``"sum"`` = the printed form), because with sums
  the loss, and the effective learning rate at the paper's lr = 0.01, grows with the batch size.
  L_ID, L_tri, L'_C act on μ (the invariant part); only μ is the test embedding.

Orientation labels (0..7, -1 unknown) come with the batch (``batch["fields"]["orientation"]``, the
``sample_fields`` it declares: ``Record.attrs["orientation"]``, NaN -> -1); they are
passed as ``loss(outputs, labels, orientation=...)``. A loss call without them (the generic
contract tests) skips L_R, says so in the parts (``orient_n = 0``) and logs a warning once; the
training step refuses a batch without orientation labels when L_R is on.

Unaligned batches (UCM-VeID): ``images[m]`` holds only the samples that have modality m and
``present[m]`` (B,) marks their batch positions; labels of modality m are ``labels[present[m]]``.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from reidlab.data.sample_fields import class_labels
from reidlab.methods.backbones import create_backbone
from reidlab.methods.base import ReIDMethod
from reidlab.methods.losses import pairwise_euclidean
from reidlab.methods.recipe import TRAINING_RECIPE
from reidlab.methods.registry import register_method
from reidlab.methods.specs import Claim, TableRow, TableSpec, register_table

__all__ = ["HWDNET_CONFIG", "HWDNet", "SPLITS", "DECOUPLINGS", "CENTROIDS", "centroid_loss",
           "cross_modal_hard_triplet", "restrainer_ab_closed_form", "weight_restrainer_loss"]

log = logging.getLogger(__name__)

SPLITS = ("s0", "s1", "s2", "s3", "s4", "s5")
DECOUPLINGS = ("split", "subtraction", "prediction", "none")
CENTROIDS = ("cross", "single", "none")
NUM_STAGES = 5

HWDNET_CONFIG: dict[str, Any] = {
    # paper, "Implementation Details": ImageNet ResNet-50, 12 IDs x (4 RGB + 4 IR) = 48 + 48 images
    # per step, 256x180 input, SGD momentum 0.9, lr 0.01, 100 epochs, triplet margin 0.5
    **TRAINING_RECIPE,         # backbone resnet50, pretrained, last_stride 1 (inferred: the
                               # two-stream cross-modal codebases use 1), weight_decay 5e-4 (inferred)
    "optimizer": "sgd",
    "lr": 0.01,
    "momentum": 0.9,
    "epochs": 100,
    "warmup_epochs": 0,        # inferred: the paper states only the initial lr, no schedule
    "warmup_factor": 1.0,
    "milestones": [],
    "P": 12,                   # identities per batch
    "K": 4,                    # images per identity *and modality* (modality-balanced sampler)
    "height": 180,             # "resized as 256x180", read as W x H: the paper writes its frame sizes
    "width": 256,              #  width first (4056x3040, 640x512), and the UAV crops are landscape (inferred)
    "split": "s2",             # Table IV best: stem + layer1 related, layer2-4 shared
    "weight_restrainer": True,
    "restrainer_ab": "closed_form",  # "learned" = a, b trained by the optimiser, as printed (ill-conditioned)
    "wr_weight": 1.0,
    "decoupling": "split",     # Table V best
    "relevant_frac": 0.5,      # inferred: share of z that is orientation-relevant (split point)
    "mlp_hidden": 512,         # inferred: hidden units of G / G_r / G_u
    "num_orientations": 8,
    "orient_weight": 1.0,
    "centroid": "cross",       # Table VI best
    "centroid_distance": "l2",
    "centroid_weight": 1.0,
    "id_weight": 1.0,
    "triplet_margin": 0.5,
    "triplet_weight": 1.0,
    "loss_reduction": "mean",  # "sum" = eq. 6/7/13/18 as printed
}


# ------------------------------------------------------------------------------------ losses

def weight_restrainer_loss(rgb_weights: list[list[torch.Tensor]], ir_weights: list[list[torch.Tensor]],
                           a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """L_wr = Σ_i α_i ||a_i·W_i^RGB + b_i − W_i^IR||_2 (eq. 2-5).

    ``rgb_weights[i]`` / ``ir_weights[i]``: the weight tensors of stage i of each stream (same shapes,
    same order); the norm is over all of them flattened together. ``a``, ``b``, ``alpha``: (S,).
    A tiny epsilon under the square root keeps the gradient finite when both streams are equal.
    """
    if not len(rgb_weights):
        return a.sum() * 0.0
    terms = []
    for i, (ws_r, ws_i) in enumerate(zip(rgb_weights, ir_weights)):
        sq = sum(((a[i] * wr + b[i]) - wi).pow(2).sum() for wr, wi in zip(ws_r, ws_i))
        terms.append(alpha[i] * torch.sqrt(sq + 1e-12))
    return torch.stack(terms).sum()


def restrainer_ab_closed_form(ws_rgb: list[torch.Tensor], ws_ir: list[torch.Tensor]) -> tuple[float, float]:
    """Least-squares a, b minimising ||a·W^RGB + b − W^IR||_2 over one stage's weight elements.

    ``ws_rgb`` / ``ws_ir``: the stage's weight tensors (same shapes, same order), flattened together.
    a = cov(x, y) / var(x), b = mean(y) − a·mean(x); a = 1 when var(x) = 0. Returns floats.
    """
    x = torch.cat([w.detach().reshape(-1) for w in ws_rgb]).double()
    y = torch.cat([w.detach().reshape(-1) for w in ws_ir]).double()
    xc, yc = x - x.mean(), y - y.mean()
    var = float((xc * xc).sum())
    a = float((xc * yc).sum()) / var if var > 0 else 1.0
    return a, float(y.mean() - a * x.mean())


def cross_modal_hard_triplet(fa: torch.Tensor, la: torch.Tensor, fb: torch.Tensor, lb: torch.Tensor,
                             margin: float, reduction: str = "mean") -> tuple[torch.Tensor, int]:
    """Eq. 7, one direction: anchors ``fa`` (Na, D) of one modality against samples ``fb`` (Nb, D) of
    the other. Per anchor: [margin + max_{same ID} d − min_{other ID} d]_+ on Euclidean distances.
    Anchors without a positive or a negative among ``fb`` are left out. Returns (loss, anchors used)."""
    if not len(fa) or not len(fb):
        return (fa.sum() + fb.sum()) * 0.0, 0
    d = pairwise_euclidean(fa, fb)
    same = la.view(-1, 1) == lb.view(1, -1)
    valid = same.any(1) & (~same).any(1)
    if not valid.any():
        return d.sum() * 0.0, 0
    d_ap = d.masked_fill(~same, float("-inf")).max(1).values[valid]
    d_an = d.masked_fill(same, float("inf")).min(1).values[valid]
    per = F.relu(margin + d_ap - d_an)
    return (per.mean() if reduction == "mean" else per.sum()), int(valid.sum())


def _distance(x: torch.Tensor, c: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "l2":
        return torch.sqrt((x - c).pow(2).sum(1) + 1e-12)
    if kind == "cosine":
        return 1.0 - F.cosine_similarity(x, c, dim=1)
    raise ValueError(f"hwdnet: centroid_distance must be 'l2' or 'cosine', got {kind!r}")


def centroid_loss(feats: Mapping[str, torch.Tensor], labels: Mapping[str, torch.Tensor], mode: str = "cross",
                  distance: str = "l2", reduction: str = "mean") -> torch.Tensor:
    """Statistical-centroid pretext task.

    ``mode="cross"`` (eq. 17-18): per ID k, μ̄_k = mean over modalities of the per-modality mean
    features of k in the batch (an ID present in one modality only: that modality's mean); every
    sample is pulled to μ̄_k of its ID. ``mode="single"`` (eq. 14-16): every sample is pulled to the
    mean of its ID *within its modality*. ``feats[m]`` (N_m, D), ``labels[m]`` (N_m,). Per modality
    the distances s(μ, μ̄) are averaged (or summed), then summed over modalities.
    """
    mods = [m for m in feats if len(feats[m])]
    if not mods:
        return sum(f.sum() for f in feats.values()) * 0.0
    per_mod_means: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for m in mods:
        ids, inv = torch.unique(labels[m], return_inverse=True)
        sums = torch.zeros(len(ids), feats[m].shape[1], dtype=feats[m].dtype, device=feats[m].device)
        sums = sums.index_add(0, inv, feats[m])
        cnt = torch.bincount(inv, minlength=len(ids)).to(feats[m].dtype).unsqueeze(1)
        per_mod_means[m] = (ids, sums / cnt)
    total = feats[mods[0]].sum() * 0.0
    for m in mods:
        if mode == "single":
            ids, means = per_mod_means[m]
            cen = means[torch.searchsorted(ids, labels[m])]
        elif mode == "cross":
            rows = []
            for y in labels[m].tolist():
                parts = [means[(ids == y).nonzero()[0, 0]] for ids, means in per_mod_means.values() if (ids == y).any()]
                rows.append(torch.stack(parts).mean(0))
            cen = torch.stack(rows)
        else:
            raise ValueError(f"hwdnet: centroid must be one of {CENTROIDS}, got {mode!r}")
        d = _distance(feats[m], cen, distance)
        total = total + (d.mean() if reduction == "mean" else d.sum())
    return total


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, d_out))


def _resnet_stages(body: nn.Module, backbone: str) -> list[nn.Module]:
    need = ("conv1", "bn1", "act1", "maxpool", "layer1", "layer2", "layer3", "layer4")
    missing = [n for n in need if not hasattr(body, n)]
    if missing:
        raise ValueError(f"hwdnet needs a ResNet-family backbone (stem + layer1..layer4: resnet50, resnet18, "
                         f"resnet10t/tiny, seresnet50); {backbone!r} lacks {missing}")
    stem = nn.Sequential(body.conv1, body.bn1, body.act1, body.maxpool)
    return [stem, body.layer1, body.layer2, body.layer3, body.layer4]


def _weights(stage: nn.Module) -> list[torch.Tensor]:
    return [p for _, p in stage.named_parameters() if p.ndim > 1]


# ------------------------------------------------------------------------------------ model

# smoke: the learning test's default set-up (6 epochs, resnet10t from scratch, 32x64) on synthetic
# UCM-VeID, scored on IR2RGB multi-shot (the protocol of Tables IV-VI).
@register_method("hwdnet", HWDNET_CONFIG, smoke={
    "dataset": "ucmveid", "modalities": ["rgb", "tir"], "protocol": "ucmveid/tir2rgb-multi", "overrides": {}})
class HWDNet(ReIDMethod):
    """HWDNet (see the module docstring). ``forward`` returns dicts keyed by modality: ``feat`` z (N_m, d),
    ``inv`` μ, ``rel`` υ (absent for ``decoupling="none"``), ``logits`` (N_m, C) ID logits of μ,
    ``orient_logits`` (N_m, 8); plus ``present`` (modality -> (B,) bool mask or None)."""

    accepts_missing = True
    feature_norm = "l2"  # inferred: the two-stream codebases score l2-normalised BN features
    sample_fields = ("orientation",)  # Record.attrs["orientation"] (0..7) for L_R, in batch["fields"]

    def __init__(self, num_classes: int, modalities: tuple[str, ...], config: dict[str, Any]) -> None:
        super().__init__()
        if len(modalities) != 2:
            raise ValueError(f"hwdnet takes exactly two modalities (RGB + infrared), got {modalities}")
        for key, allowed in (("split", SPLITS), ("decoupling", DECOUPLINGS), ("centroid", CENTROIDS),
                             ("loss_reduction", ("mean", "sum")), ("centroid_distance", ("l2", "cosine")),
                             ("restrainer_ab", ("closed_form", "learned"))):
            if config[key] not in allowed:
                raise ValueError(f"hwdnet: {key}={config[key]!r}; choose one of {allowed}")
        if not 0.0 < float(config["relevant_frac"]) < 1.0:
            raise ValueError(f"hwdnet: relevant_frac must be in (0, 1), got {config['relevant_frac']}")
        self.modalities = tuple(modalities)
        self.num_classes = num_classes
        self.config = config
        self.n_related = int(config["split"][1])
        self.backbone = create_backbone(config["backbone"], pretrained=config["pretrained"],
                                        last_stride=config["last_stride"])
        stages = _resnet_stages(self.backbone.body, config["backbone"])
        # plain list, not registered twice: the stages live in self.backbone
        self._rgb_stages = stages
        self.ir_related = nn.ModuleList(copy.deepcopy(s) for s in stages[:self.n_related])
        if config["restrainer_ab"] == "learned":
            self.wr_a = nn.Parameter(torch.ones(self.n_related))
            self.wr_b = nn.Parameter(torch.zeros(self.n_related))
        else:  # closed form: the last solved a, b, kept as buffers (checkpointed, logged)
            self.register_buffer("wr_a", torch.ones(self.n_related))
            self.register_buffer("wr_b", torch.zeros(self.n_related))
        self.register_buffer("wr_alpha", torch.full((self.n_related,), 1.0 if config["weight_restrainer"] else 0.0))
        d = self.backbone.out_channels
        self.bn = nn.BatchNorm1d(d)
        r = int(round(float(config["relevant_frac"]) * d))
        dec = config["decoupling"]
        self.rel_dim = 0 if dec == "none" else (d if dec == "subtraction" else r)
        self.inv_dim = d if dec in ("none", "subtraction") else d - r
        self.split_at = r
        self.g_rel = _mlp(d, config["mlp_hidden"], d if dec == "subtraction" else r) \
            if dec in ("subtraction", "prediction") else None
        self.g_inv = _mlp(d, config["mlp_hidden"], d - r) if dec == "prediction" else None
        self.id_classifier = nn.Linear(self.inv_dim, num_classes, bias=False)
        nn.init.normal_(self.id_classifier.weight, std=0.001)
        self.orient_classifier = nn.Linear(self.rel_dim, int(config["num_orientations"])) if self.rel_dim else None
        self._warned_no_orientation = False

    # -- parameters by role (what the stage-split test checks) ---------------------------------
    def related_parameters(self) -> dict[str, list[nn.Parameter]]:
        """``{modality: parameters of its related stages 1..k}`` (empty lists for ``s0``)."""
        a, b = self.modalities
        return {a: [p for s in self._rgb_stages[:self.n_related] for p in s.parameters()],
                b: list(self.ir_related.parameters())}

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters both modalities use: stages k+1..5 and the BN after them."""
        return [p for s in self._rgb_stages[self.n_related:] for p in s.parameters()] + list(self.bn.parameters())

    def param_groups(self) -> list[dict]:
        if self.config["restrainer_ab"] != "learned":
            return [{"params": [p for p in self.parameters() if p.requires_grad]}]
        wr = {id(self.wr_a), id(self.wr_b)}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in wr]
        return [{"params": rest}, {"params": [self.wr_a, self.wr_b], "weight_decay": 0.0}]

    # -- forward ---------------------------------------------------------------------------------
    def _stream(self, m: str, x: torch.Tensor) -> torch.Tensor:
        stages = self._rgb_stages[:self.n_related] if m == self.modalities[0] else self.ir_related
        for s in stages:
            x = s(x)
        return x

    def _head(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        for s in self._rgb_stages[self.n_related:]:
            x = s(x)
        z = self.bn(x.mean(dim=(2, 3)))
        dec = self.config["decoupling"]
        out = {"feat": z}
        if dec == "split":
            out["rel"], out["inv"] = z[:, :self.split_at], z[:, self.split_at:]
        elif dec == "subtraction":
            out["rel"] = self.g_rel(z)
            out["inv"] = z - out["rel"]
        elif dec == "prediction":
            out["rel"], out["inv"] = self.g_rel(z), self.g_inv(z)
        else:
            out["inv"] = z
        out["logits"] = self.id_classifier(out["inv"])
        if self.orient_classifier is not None:
            out["orient_logits"] = self.orient_classifier(out["rel"])
        return out

    def _inputs(self, images: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None
                ) -> list[str]:
        mods = [m for m in self.modalities if m in images and images[m].shape[0] > 0]
        if not any(m in images for m in self.modalities):
            raise KeyError(f"hwdnet needs modality {self.modalities[0]!r} or {self.modalities[1]!r}; "
                           f"the batch has {sorted(images)}")
        if present is not None:
            for m in mods:
                if m not in present or int(present[m].sum()) != images[m].shape[0]:
                    n = None if m not in present else int(present[m].sum())
                    raise ValueError(f"hwdnet: images[{m!r}] has {images[m].shape[0]} samples but present[{m!r}] "
                                     f"marks {n}; unaligned batches must hold only the samples that have the "
                                     "modality (no placeholder images)")
        return mods

    def forward(self, images: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None,
                fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``fields`` (the orientation) is not used by the forward: L_R takes it in :meth:`training_step`."""
        mods = self._inputs(images, present)
        maps = [self._stream(m, images[m]) for m in mods]
        sizes = [x.shape[0] for x in maps]
        head = self._head(torch.cat(maps, 0))  # shared stages + BN see both modalities together
        out: dict[str, Any] = {k: dict(zip(mods, v.split(sizes, 0))) for k, v in head.items()}
        out["present"] = {m: (None if present is None else present[m]) for m in mods}
        return out

    def class_logits(self, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{modality: (N_m, C)}`` ID logits of the orientation-invariant part."""
        return dict(outputs["logits"])

    # -- loss ------------------------------------------------------------------------------------
    def restrainer_loss(self) -> torch.Tensor:
        """L_wr over the related stages (0 for ``s0`` or ``weight_restrainer=False``)."""
        k = self.n_related
        rgb = [_weights(s) for s in self._rgb_stages[:k]]
        ir = [_weights(s) for s in self.ir_related]
        if k and self.config["restrainer_ab"] != "learned":
            with torch.no_grad():
                for i, (ws_r, ws_i) in enumerate(zip(rgb, ir)):
                    self.wr_a[i], self.wr_b[i] = restrainer_ab_closed_form(ws_r, ws_i)
        return weight_restrainer_loss(rgb, ir, self.wr_a, self.wr_b, self.wr_alpha)

    def loss(self, outputs: Mapping[str, Any], labels: torch.Tensor,
             orientation: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 19. ``labels`` (B,) ID labels of the batch; ``orientation`` (B,) 0..7 or -1 (unknown).
        Parts: ``id``, ``tri``, ``wr``, ``orient`` (with ``orient_n`` labelled samples), ``centroid``."""
        cfg = self.config
        red = cfg["loss_reduction"]
        mods = list(outputs["logits"])
        sel = lambda t, m: t if outputs["present"][m] is None else t[outputs["present"][m]]  # noqa: E731
        lab = {m: sel(labels, m) for m in mods}
        inv = outputs["inv"]
        parts: dict[str, float] = {}
        l_id = sum(F.cross_entropy(outputs["logits"][m], lab[m], reduction=red) for m in mods)
        total = cfg["id_weight"] * l_id
        parts["id"] = float(l_id.detach())
        l_tri = inv[mods[0]].sum() * 0.0
        n_anchor = 0
        if len(mods) == 2:
            a, b = mods
            for x, y in ((a, b), (b, a)):
                t, n = cross_modal_hard_triplet(inv[x], lab[x], inv[y], lab[y], cfg["triplet_margin"], red)
                l_tri, n_anchor = l_tri + t, n_anchor + n
        total = total + cfg["triplet_weight"] * l_tri
        parts["tri"], parts["tri_anchors"] = float(l_tri.detach()), float(n_anchor)
        if self.n_related and cfg["weight_restrainer"]:
            l_wr = self.restrainer_loss()
            total = total + cfg["wr_weight"] * l_wr
            parts["wr"] = float(l_wr.detach())
        if "orient_logits" in outputs:
            ol = outputs["orient_logits"]
            if orientation is None:
                if not self._warned_no_orientation:
                    log.warning("hwdnet: no orientation labels given to loss(); L_R is skipped for this call")
                    self._warned_no_orientation = True
                # keeps the classifier in the graph (DDP without find_unused_parameters)
                l_r, n_or = sum(ol[m].sum() for m in mods) * 0.0, 0
            else:
                ori = {m: sel(orientation, m) for m in mods}
                n_or = int(sum(int((ori[m] >= 0).sum()) for m in mods))
                l_r = sum((F.cross_entropy(ol[m], ori[m], ignore_index=-1, reduction=red)
                           if bool((ori[m] >= 0).any()) else ol[m].sum() * 0.0) for m in mods)
            total = total + cfg["orient_weight"] * l_r
            parts["orient"], parts["orient_n"] = float(l_r.detach()), float(n_or)
        if cfg["centroid"] != "none":
            l_c = centroid_loss(inv, lab, cfg["centroid"], cfg["centroid_distance"], red)
            total = total + cfg["centroid_weight"] * l_c
            parts["centroid"] = float(l_c.detach())
        return total, parts

    def training_step(self, batch: Mapping[str, Any], ctx: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """One update: forward (through ``ctx.forward``) -> eq. 19 with the batch's orientation labels ->
        ``ctx.backward_step``. ``batch``: ``images``, ``labels`` (B,), ``present`` and
        ``fields["orientation"]`` (B,) (``Record.attrs["orientation"]``: 0..7, NaN or a non-integer =
        unknown -> -1). With L_R on, a batch without any orientation label is refused (set
        ``orient_weight=0`` or ``decoupling="none"`` for data without orientation labels)."""
        raw = (batch.get("fields") or {}).get("orientation")
        ori = None if raw is None else class_labels(raw)
        needs = self.orient_classifier is not None and self.config["orient_weight"] > 0
        if needs and (ori is None or not bool((ori >= 0).any())):
            raise ValueError("hwdnet: the orientation loss L_R is on but this batch carries no orientation label "
                             "(batch['fields']['orientation'] missing or all unknown); give the dataset orientation labels "
                             "(UCM-VeID labels.csv / a manifest 'orientation' column) or set "
                             "method_overrides.orient_weight=0 / decoupling=none")
        with ctx.autocast():
            outputs = ctx.forward(batch["images"], batch.get("present"))
            total, parts = self.loss(outputs, batch["labels"], orientation=ori)
        ctx.backward_step(total, parts)
        return total, parts

    # -- inference -------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, images: Mapping[str, torch.Tensor], fields: Mapping[str, Any] | None = None
              ) -> dict[str, torch.Tensor]:
        """``{modality: μ (B_m, d_inv)}``: only the orientation-invariant part (paper, Sec. V-A);
        ``fields`` (orientation) is not used at test time."""
        mods = self._inputs(images, None)
        return {m: self._head(self._stream(m, images[m]))["inv"] for m in mods}

    @torch.no_grad()
    def decouple(self, images: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        """``{modality: {"feat": z, "inv": μ, "rel": υ}}`` in eval mode, for analysing the decoupling
        (orientation probes, t-SNE of the two parts); ``rel`` is absent for ``decoupling="none"``."""
        was = self.training
        self.eval()
        try:
            mods = self._inputs(images, None)
            out = {}
            for m in mods:
                h = self._head(self._stream(m, images[m]))
                out[m] = {k: h[k] for k in ("feat", "inv", "rel") if k in h}
            return out
        finally:
            self.train(was)


# ------------------------------------------------------------------------------------ tables
_PAPER = "hwdnet_ucmveid"
_I2R_S, _R2I_S, _I2R_M, _R2I_M = ("ucmveid/tir2rgb-single", "ucmveid/rgb2tir-single",
                                  "ucmveid/tir2rgb-multi", "ucmveid/rgb2tir-multi")
_MODS = ["rgb", "tir"]
BASELINE: dict[str, Any] = {"weight_restrainer": False, "decoupling": "none", "centroid": "none"}
TABLE_III_ROWS: dict[str, dict[str, Any]] = {
    "Baseline": dict(BASELINE),
    "Baseline + weight restrainer (L_wr)": {**BASELINE, "weight_restrainer": True},
    "Baseline + OIFS": {**BASELINE, "decoupling": "split"},
    "Baseline + OIFR": {**BASELINE, "centroid": "cross"},
    "Baseline + OIFS + OIFR": {**BASELINE, "decoupling": "split", "centroid": "cross"},
    "Baseline + L_wr + OIFS + OIFR (HWDNet)": {},
}
TABLE_IV_ROWS: dict[str, dict[str, Any]] = {
    "s0 (related none, shared all)": {"split": "s0"},
    "s1 (related layer{1}, shared layer{2-5})": {"split": "s1"},
    "s2 (related layer{1-2}, shared layer{3-5})": {"split": "s2"},
    "s3 (related layer{1-3}, shared layer{4-5})": {"split": "s3"},
    "s4 (related layer{1-4}, shared layer{5})": {"split": "s4"},
    "s5 (related all, shared GAP+BN)": {"split": "s5"},
}
TABLE_V_ROWS = {"Feature split": {"decoupling": "split"}, "Feature subtraction": {"decoupling": "subtraction"},
                "Feature prediction": {"decoupling": "prediction"}}
TABLE_VI_ROWS = {"single-modality": {"centroid": "single"}, "cross-modality": {"centroid": "cross"}}


def _rows(table: dict[str, dict[str, Any]], cols: tuple[str, ...]) -> tuple[TableRow, ...]:
    return tuple(TableRow(label, "hwdnet", {"modalities": _MODS, "method_overrides": dict(sw)}, cols,
                          {"ablation": label}) for label, sw in table.items())


def _greater(cid: str, a: str, b: str, proto: str, text: str, metric: str = "mAP") -> Claim:
    return Claim(id=f"hwdnet.{cid}", paper=_PAPER, kind="greater", a=a, b=b, protocol=proto, metric=metric, text=text)


_HW, _BL = "HWDNet", "Baseline"
TABLE_II = register_table(TableSpec(
    name="hwdnet_table2", dataset="ucmveid", paper=(_PAPER, "Table II"), columns=(_I2R_S, _R2I_S, _I2R_M, _R2I_M),
    description="HWDNet Table II: baseline vs HWDNet, IR2RGB / RGB2IR, single- / multi-shot (UCM-VeID)",
    rows=(TableRow(_BL, "hwdnet", {"modalities": _MODS, "method_overrides": dict(BASELINE)}, None,
                   {"method": "HWDNet", "ablation": "Baseline"}),
          TableRow(_HW, "hwdnet", {"modalities": _MODS, "method_overrides": {}}, None,
                   {"method": "HWDNet", "ablation": "HWDNet"})),
    claims=tuple(_greater(f"beats_baseline_{p.split('/')[1].replace('-', '_')}", _HW, _BL, p,
                          f"HWDNet has a higher mAP than the baseline on {p}")
                 for p in (_I2R_S, _R2I_S, _I2R_M, _R2I_M))
    + (_greater("beats_baseline_r1_tir2rgb_single", _HW, _BL, _I2R_S,
                "HWDNet has a higher rank-1 than the baseline, IR2RGB single-shot", "R1"),)))

_T3 = list(TABLE_III_ROWS)
TABLE_III = register_table(TableSpec(
    name="hwdnet_table3", dataset="ucmveid", paper=(_PAPER, "Table III"), columns=(_I2R_S, _I2R_M),
    description="HWDNet Table III: ablation of L_wr, OIFS (L_R) and OIFR (L'_C), IR2RGB",
    rows=_rows(TABLE_III_ROWS, (_I2R_S, _I2R_M)),
    claims=(_greater("wr_helps", _T3[1], _T3[0], _I2R_S, "the weight restrainer raises single-shot IR2RGB mAP"),
            _greater("oifs_helps", _T3[2], _T3[0], _I2R_S, "OIFS raises single-shot IR2RGB mAP"),
            _greater("oifr_helps", _T3[3], _T3[0], _I2R_S, "OIFR raises single-shot IR2RGB mAP"),
            _greater("oifs_oifr_beats_oifs", _T3[4], _T3[2], _I2R_S,
                     "OIFS + OIFR beats OIFS alone (single-shot IR2RGB mAP)"),
            _greater("full_beats_oifs_oifr", _T3[5], _T3[4], _I2R_S,
                     "adding L_wr to OIFS + OIFR raises single-shot IR2RGB mAP"),
            _greater("full_beats_baseline_multi", _T3[5], _T3[0], _I2R_M,
                     "the full model beats the baseline, multi-shot IR2RGB mAP"))))

_T4 = list(TABLE_IV_ROWS)
TABLE_IV = register_table(TableSpec(
    name="hwdnet_table4", dataset="ucmveid", paper=(_PAPER, "Table IV"), columns=(_I2R_M,),
    description="HWDNet Table IV: which stages are related (weight restrainer) vs shared, IR2RGB multi-shot",
    rows=_rows(TABLE_IV_ROWS, (_I2R_M,)),
    claims=(_greater("s2_beats_s0", _T4[2], _T4[0], _I2R_M, "s2 (stem + layer1 related) beats s0 (all shared)"),
            _greater("s2_beats_s5", _T4[2], _T4[5], _I2R_M, "s2 beats s5 (all related)"),
            _greater("s0_beats_s5", _T4[0], _T4[5], _I2R_M, "sharing everything (s0) beats relating everything (s5)"))))

TABLE_V = register_table(TableSpec(
    name="hwdnet_table5", dataset="ucmveid", paper=(_PAPER, "Table V"), columns=(_I2R_M,),
    description="HWDNet Table V: decoupling structure, IR2RGB multi-shot",
    rows=_rows(TABLE_V_ROWS, (_I2R_M,)),
    claims=(_greater("split_beats_subtraction", "Feature split", "Feature subtraction", _I2R_M,
                     "feature split beats feature subtraction"),
            _greater("split_beats_prediction", "Feature split", "Feature prediction", _I2R_M,
                     "feature split beats feature prediction"))))

TABLE_VI = register_table(TableSpec(
    name="hwdnet_table6", dataset="ucmveid", paper=(_PAPER, "Table VI"), columns=(_I2R_M,),
    description="HWDNet Table VI: statistical centroid from one modality or both, IR2RGB multi-shot",
    rows=_rows(TABLE_VI_ROWS, (_I2R_M,)),
    claims=(_greater("cross_centroid_beats_single", "cross-modality", "single-modality", _I2R_M,
                     "the cross-modality centroid beats the single-modality one"),)))
