"""``hamnet`` — Heterogeneity-collaboration Aware Multi-stream Network (Li et al., AAAI 2020).

Per stream j (unshared backbone): feature map F^j (B, d, h, w) -> class activation map
M^j = W^j * F^j (1x1 conv d -> C, no bias; the stream's classifier weights) -> class scores
S^j = GAP(M^j) (B, C) -> softmax p^j.

* L_msid = sum_j CE(S^j, y)                                   (eq. 3-4)
* L_hsc, ``hsc_form="paper"`` (eq. 5): mean_b [1 - sum_i prod_j p_i^j];
  ``hsc_form="code"`` (public code): sum_b sum_{j<k} (1 - cos(S^j_b, S^k_b)) on the logits.
  The code compares RGB with NIR only; for m > 2 streams reidlab sums over all pairs j < k.
* L_caid (eq. 7-12): A = sigmoid(M); B_c = max_j A_c^j; eta_c^j = sum_hw A_c^j * B_c;
  alpha_c^j = eta_c^j / sum_j eta_c^j; M'_c = sum_j alpha_c^j M_c^j; S' = GAP(M'); CE(S', y).
  Gradients flow through alpha (the paper does not stop them).
* L_total = L_msid + hsc_weight * L_hsc + caid_weight * L_caid (eq. 13; hsc_weight = alpha = 0.001).
  ``triplet_weight`` > 0 adds the public code's batch-hard triplet (margin 0.3) on each stream's
  feature and on S' (off by default, as in the paper).

Embedding: each modality's GAP feature f^j (B, d) — the feature the 1x1 CAM conv sees, so that
W^j f^j = S^j — and ``fused_key(mods)``: by default (``embed_weighting="class_aware"``, the
public code's test embedding) sum_j w^j f^j with w^j = mean_c alpha_c^j, the class-aware weight
of stream j; ``"sum"``: sum_j f^j. The paper's test embedding, sum_j f^j, is what every
``fusion: sum`` protocol (``rgbn300/rgb-nir``, the default) computes from the per-modality rows;
the class-aware one is read by the ``fusion: method`` protocols (``rgbn300/rgb-nir-method``).

``TABLE_5_ROWS`` maps the rows of the paper's ablation (Table 5) to config overrides. This file
registers the paper's tables with their headline claims (:mod:`reidlab.methods.specs`):
``hamnet_table2`` (ResNet50 column of Table 2: one-stream RGB / NIR, MSN, HAMNet) and
``hamnet_table5`` (the L_hsc / L_caid ablation).
"""
from __future__ import annotations

import itertools
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from reidlab.eval.features import fused_key
from reidlab.methods.losses import batch_hard_triplet, cross_entropy_ls
from reidlab.methods.msn import MSN, MSN_CONFIG
from reidlab.methods.registry import register_method
from reidlab.methods.specs import Claim, TableRow, TableSpec, register_table

__all__ = ["HAMNET_CONFIG", "HAMNet", "TABLE_5_ROWS", "class_aware_fusion", "hsc_loss_code", "hsc_loss_paper"]


def hsc_loss_paper(scores: list[torch.Tensor]) -> torch.Tensor:
    """Heterogeneous score coherence, paper eq. (5): mean over the batch of 1 - sum_i prod_j softmax(S^j)_i.

    ``scores``: m tensors (B, C) of class scores (logits). Returns a scalar in [0, 1].
    """
    probs = torch.stack([F.softmax(s, dim=1) for s in scores])  # (m, B, C)
    return (1.0 - probs.prod(dim=0).sum(dim=1)).mean()


def hsc_loss_code(scores: list[torch.Tensor]) -> torch.Tensor:
    """Heterogeneous score coherence, public-code form: sum over the batch and over stream pairs j<k of
    1 - cos(S^j_b, S^k_b) on the logits. ``scores``: m tensors (B, C). Unweighted (the 0.001 is ``hsc_weight``).
    """
    return sum((1.0 - F.cosine_similarity(a, b, dim=1)).sum() for a, b in itertools.combinations(scores, 2))


def class_aware_fusion(cams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-aware fusion of CAMs, paper eq. (7)-(11).

    ``cams``: (m, B, C, h, w) raw CAMs M^j. Returns ``(fused, alpha)``: the fused CAM
    M' (B, C, h, w) and the class-aware weights alpha (B, C, m), which sum to 1 over m.
    """
    a = torch.sigmoid(cams)                       # A^j, (m, B, C, h, w)
    b = a.max(dim=0).values                       # B_c, (B, C, h, w)
    eta = (a * b.unsqueeze(0)).sum(dim=(3, 4))    # eta_c^j, (m, B, C)
    alpha = eta / eta.sum(dim=0, keepdim=True)    # > 0: sigmoid outputs are positive
    fused = (alpha.unsqueeze(-1).unsqueeze(-1) * cams).sum(dim=0)
    return fused, alpha.permute(1, 2, 0)


HAMNET_CONFIG: dict[str, Any] = {
    **MSN_CONFIG,
    "use_hsc": True,
    "hsc_form": "paper",       # "paper" (eq. 5) or "code" (1 - cos on logits, summed over the batch)
    "hsc_weight": 0.001,       # alpha in eq. (6)
    "use_caid": True,
    "caid_weight": 1.0,        # eq. (13) adds L_caid unweighted
    # fused_key row: "class_aware" (public code; read by fusion="method" protocols) or "sum";
    # the paper's sum is what fusion="sum" protocols compute from the per-modality rows either way
    "embed_weighting": "class_aware",
}

TABLE_5_ROWS: dict[str, dict[str, Any]] = {
    "baseline (MSN)": {"use_hsc": False, "use_caid": False},
    "+ L_hsc": {"use_hsc": True, "use_caid": False},
    "+ L_caid": {"use_hsc": False, "use_caid": True},
    "+ L_hsc + L_caid": {"use_hsc": True, "use_caid": True},
}


@register_method("hamnet", HAMNET_CONFIG, smoke={"modalities": ["rgb", "nir"]})
class HAMNet(MSN):
    """HAMNet on m >= 2 aligned modalities. ``forward`` adds ``cams`` {mod: (B, C, h, w)} and ``scores``
    {mod: (B, C)} and, when ``use_caid``, ``fused_cam`` (B, C, h, w), ``alpha`` (B, C, m), ``fused_scores`` (B, C).
    MSN's per-stream cross-entropy uses the same scores (S^j equals the stream logits)."""

    has_cam_fusion = True

    def __init__(self, num_classes: int, modalities: tuple[str, ...], config: dict[str, Any]) -> None:
        if config["hsc_form"] not in ("paper", "code"):
            raise ValueError(f"hamnet: hsc_form must be 'paper' or 'code', got {config['hsc_form']!r}")
        if config["embed_weighting"] not in ("sum", "class_aware"):
            raise ValueError("hamnet: embed_weighting must be 'sum' or 'class_aware', "
                             f"got {config['embed_weighting']!r}")
        super().__init__(num_classes, modalities, config)

    def _cam(self, m: str, fmap: torch.Tensor) -> torch.Tensor:
        """M^j = 1x1 conv of F^j (B, d, h, w) with the stream classifier W^j (C, d): (B, C, h, w)."""
        return torch.einsum("bdhw,cd->bchw", fmap, self.streams[m].classifier.weight)

    def forward(self, images: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        out = super().forward(images)
        cams = {m: self._cam(m, out["fmap"][m]) for m in self.modalities}
        out["cams"] = cams
        out["scores"] = {m: c.mean(dim=(2, 3)) for m, c in cams.items()}  # S^j = GAP(M^j) (= logits)
        if self.config["use_caid"]:
            fused, alpha = class_aware_fusion(torch.stack([cams[m] for m in self.modalities]))
            out["fused_cam"], out["alpha"] = fused, alpha
            out["fused_scores"] = fused.mean(dim=(2, 3))
        return out

    def loss(self, outputs: Mapping[str, Any], labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Total = L_msid + hsc_weight L_hsc + caid_weight L_caid (+ triplet). Parts are the unweighted terms."""
        cfg = self.config
        total, parts = self._stream_losses(outputs, labels)
        scores = [outputs["scores"][m] for m in self.modalities]
        if cfg["use_hsc"]:
            l_hsc = hsc_loss_paper(scores) if cfg["hsc_form"] == "paper" else hsc_loss_code(scores)
            parts["hsc"] = float(l_hsc.detach())
            total = total + cfg["hsc_weight"] * l_hsc
        if cfg["use_caid"]:
            l_caid = cross_entropy_ls(outputs["fused_scores"], labels, cfg["label_smoothing"])
            parts["caid"] = float(l_caid.detach())
            total = total + cfg["caid_weight"] * l_caid
            if cfg["triplet_weight"] > 0:  # the public code also puts a triplet on S'
                l_tri_f = batch_hard_triplet(outputs["fused_scores"], labels, cfg["triplet_margin"],
                                             cfg["triplet_soft"])
                parts["triplet_fused"] = float(l_tri_f.detach())
                total = total + cfg["triplet_weight"] * l_tri_f
        return total, parts

    @torch.no_grad()
    def cam_fusion(self, images: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """For visualisation: ``cams`` {mod: (B, C, h, w)}, ``alpha`` (B, C, m) in ``self.modalities``
        order, ``fused`` M' (B, C, h, w), ``scores`` {mod: (B, C)}, ``fused_scores`` (B, C), ``feats``
        {mod: (B, d)}. Uses the module's current mode (call ``.eval()`` first for test-time maps)."""
        out = super().forward(images)
        cams = {m: self._cam(m, out["fmap"][m]) for m in self.modalities}
        fused, alpha = class_aware_fusion(torch.stack([cams[m] for m in self.modalities]))
        return {"cams": cams, "alpha": alpha, "fused": fused, "modalities": self.modalities,
                "scores": {m: c.mean(dim=(2, 3)) for m, c in cams.items()},
                "fused_scores": fused.mean(dim=(2, 3)), "feats": out["feat"]}

    @torch.no_grad()
    def embed(self, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{mod: f^mod (B, d)}`` plus the fused key: sum_j (mean_c alpha_c^j) f^j (default), or sum_j f^j."""
        if self.config["embed_weighting"] == "sum":
            return super().embed(images)
        info = self.cam_fusion(images)
        feats = info["feats"]
        w = info["alpha"].mean(dim=1)  # (B, m): the class-aware weight of each stream, averaged over classes
        out = dict(feats)
        out[fused_key(self.modalities)] = sum(w[:, j:j + 1] * feats[m] for j, m in enumerate(self.modalities))
        return out


# ---- the paper's tables and headline claims (data; evaluated by reidlab.analysis.claims) ----
_PAPER = "hamnet_aaai2020"
_RGB, _NIR, _RN = "rgbn300/rgb", "rgbn300/nir", "rgbn300/rgb-nir"
_RN50 = {"backbone": "ResNet50"}  # the data card's column that selects Table 2's ResNet50 rows

TABLE_2 = register_table(TableSpec(
    name="hamnet_table2", dataset="rgbn300", paper=(_PAPER, "Table 2"), columns=(_RGB, _NIR, _RN),
    description="HAMNet (AAAI 2020) Table 2, ResNet50 column: one-stream RGB / NIR, MSN and HAMNet on RGB-N",
    rows=(TableRow("RGB one-stream", "one_stream", {"modalities": ["rgb"]}, (_RGB,),
                   {"method": "one_stream", "protocol": _RGB, **_RN50}),
          TableRow("NIR one-stream", "one_stream", {"modalities": ["nir"]}, (_NIR,),
                   {"method": "one_stream", "protocol": _NIR, **_RN50}),
          TableRow("RGB-N MSN", "msn", {"modalities": ["rgb", "nir"]}, (_RN,),
                   {"method": "msn", "protocol": _RN, **_RN50}),
          TableRow("RGB-N HAMNet", "hamnet", {"modalities": ["rgb", "nir"]}, (_RN,),
                   {"method": "hamnet", "protocol": _RN, **_RN50})),
    claims=(
        # MSN and the one-stream rows are scored on different protocols (RGB-N fused vs one
        # modality) over the same query identities: the comparison the paper's Table 2 makes.
        Claim(id="hamnet.msn_beats_rgb", paper=_PAPER, kind="greater", a="RGB-N MSN", b="RGB one-stream",
              protocol=_RN, protocol_b=_RGB, text="multi-spectral MSN (RGB-N) beats the RGB one-stream network (mAP)"),
        Claim(id="hamnet.msn_beats_nir", paper=_PAPER, kind="greater", a="RGB-N MSN", b="NIR one-stream",
              protocol=_RN, protocol_b=_NIR, text="multi-spectral MSN (RGB-N) beats the NIR one-stream network (mAP)"),
        Claim(id="hamnet.rgb_beats_nir", paper=_PAPER, kind="greater", a="RGB one-stream", b="NIR one-stream",
              protocol=_RGB, protocol_b=_NIR, text="the RGB one-stream network beats the NIR one-stream network (mAP)"),
        Claim(id="hamnet.hamnet_beats_msn", paper=_PAPER, kind="greater", a="RGB-N HAMNet", b="RGB-N MSN",
              protocol=_RN, text="HAMNet beats its MSN baseline on RGB-N (mAP)"),
        Claim(id="hamnet.night_hurts_rgb_more", paper=_PAPER, kind="drop_greater", a="RGB one-stream",
              b="NIR one-stream", protocol=_RGB, protocol_b=_NIR, attr="daynight=night",
              text="night queries cost the RGB-only network more mAP than the NIR-only network"),
    )))

TABLE_5 = register_table(TableSpec(
    name="hamnet_table5", dataset="rgbn300", paper=(_PAPER, "Table 5"), columns=(_RN,),
    description="HAMNet Table 5 ablation on RGBN300 (ResNet50): L_hsc / L_caid switches",
    rows=tuple(TableRow(label, "hamnet", {"modalities": ["rgb", "nir"], "method_overrides": dict(sw)}, (_RN,),
                        {"ablation": label}) for label, sw in TABLE_5_ROWS.items()),
    claims=(
        Claim(id="hamnet.full_beats_baseline", paper=_PAPER, kind="greater", a="+ L_hsc + L_caid",
              b="baseline (MSN)", protocol=_RN, text="the full HAMNet (+ L_hsc + L_caid) beats the MSN baseline (mAP)"),
    )))
