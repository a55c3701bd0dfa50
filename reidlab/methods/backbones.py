"""Backbones: timm networks returning feature maps, with the ReID "last stride 1" option.

``create_backbone(name)`` builds one of the networks in :data:`BACKBONES` without its
classifier and returns a module mapping images (B, 3, H, W) to a feature map (B, C, h, w)
with ``.out_channels = C``.

* The five backbones of HAMNet (AAAI 2020, Tables 2-3): ``resnet50``, ``seresnet50``,
  ``densenet121``, ``inception_resnet_v2`` (the paper's "InceptionResNetV3"),
  ``mobilenetv2``; ``vit_b16`` (ViT-B/16) for the transformer methods; ``resnet18`` and
  ``resnet10t`` (alias ``tiny``) for the CPU demo.
* ``last_stride=1`` removes the last spatial down-sampling (Luo et al.'s strong ReID
  baseline; HAMNet's public code uses it): the map is then H/16 x W/16 instead of H/32 x W/32.
  For ResNets this sets layer4's first block stride to 1 in the conv *and* the shortcut;
  the other CNNs get the same change in their last down-sampling stage (see ``_Spec.last_stage``).
  ViT has no strided stage: its token map is always at stride 16, so only ``last_stride=1`` is valid.
* ``pretrained=True`` downloads ImageNet weights through timm; offline this raises
  :class:`PretrainedWeightsError` telling you to pass a local file. ``pretrained="w.pth"``
  loads a local state dict strictly (missing/unexpected keys are an error listing them;
  ``strict=False`` only warns); ``.safetensors`` files are read with ``safetensors``. Keys of
  the ImageNet classifier head are ignored explicitly.
* ``pretrained: synth`` (or ``synth:demo``, ``synth:smoke``) in a config: the offline stand-in
  for ImageNet, a backbone pre-trained as an RGB ID classifier on synthetic vehicles of other
  identities (:mod:`reidlab.engine.pretrain`), trained and cached on first use. The engine
  resolves it to that weights file (``resolve_pretrained``) before the model is built, so this
  module only ever loads a file.

Stream initialisation of multi-stream methods (MSN, HAMNet, Kamenou): every stream calls
``create_backbone`` with the same ``pretrained``. With a checkpoint (True, "synth" or a path)
all streams therefore start from the *same* weights, as in the papers (one ImageNet model per
stream). With ``pretrained=False`` each stream is an independent random init (the streams are
built one after another from the global RNG), so they start from *different* weights.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

__all__ = ["BACKBONES", "PAPER_INPUT_SIZE", "Backbone", "PretrainedWeightsError", "create_backbone",
           "list_backbones"]


@dataclass(frozen=True)
class _Spec:
    timm_name: str
    last_stage: str | None  # dotted path of the module holding the last spatial down-sampling
    kind: str = "cnn"       # "cnn" or "vit"


BACKBONES: dict[str, _Spec] = {
    "resnet50": _Spec("resnet50", "layer4.0"),
    "seresnet50": _Spec("seresnet50", "layer4.0"),
    "densenet121": _Spec("densenet121", "features.transition3"),
    "inception_resnet_v2": _Spec("inception_resnet_v2", "mixed_7a"),
    "mobilenetv2": _Spec("mobilenetv2_100", "blocks.5.0"),
    "vit_b16": _Spec("vit_base_patch16_224", None, kind="vit"),
    "resnet18": _Spec("resnet18", "layer4.0"),
    "resnet10t": _Spec("resnet10t", "layer4.0"),
}
_ALIASES = {"tiny": "resnet10t", "resnet": "resnet50", "mobilenet_v2": "mobilenetv2",
            "vit_base_patch16": "vit_b16", "inceptionresnetv2": "inception_resnet_v2"}

PAPER_INPUT_SIZE: dict[str, tuple[int, int]] = {
    # (height, width) used by HAMNet (paper text: 128x256 W x H, 224x224 SE-ResNet, 299x299 Inception).
    "resnet50": (256, 128), "densenet121": (256, 128), "mobilenetv2": (256, 128),
    "seresnet50": (224, 224), "inception_resnet_v2": (299, 299),
}


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights could not be obtained or do not fit the network."""


def list_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone` (aliases included)."""
    return sorted(BACKBONES) + sorted(_ALIASES)


def _resolve(name: str) -> tuple[str, _Spec]:
    key = _ALIASES.get(name, name)
    if key not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {list_backbones()}")
    return key, BACKBONES[key]


class Backbone(nn.Module):
    """A timm network without classifier. ``forward(x (B,3,H,W)) -> (B, out_channels, h, w)``.

    For ViT the map is the patch tokens laid out on the (H/16, W/16) grid;
    :meth:`forward_tokens` gives the full token sequence (B, 1+N, D) with the CLS token first
    and :meth:`cls_feature` the normed CLS token (B, D).
    """

    def __init__(self, name: str, body: nn.Module, kind: str, last_stride: int) -> None:
        super().__init__()
        self.name = name
        self.body = body
        self.kind = kind
        self.last_stride = last_stride
        self.out_channels: int = int(body.num_features)
        self.load_report: dict[str, list[str]] = {}

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind != "vit":
            raise NotImplementedError(f"backbone {self.name!r} is a CNN: it has no tokens, use forward()")
        return self.body.forward_features(x)

    def cls_feature(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_tokens(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "vit":
            tokens = self.forward_tokens(x)[:, self.body.num_prefix_tokens:]
            ph, pw = self.body.patch_embed.patch_size
            h, w = x.shape[-2] // ph, x.shape[-1] // pw
            return tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        return self.body.forward_features(x)


def _remove_downsampling(stage: nn.Module) -> int:
    """Make every stride-2 conv/pool inside ``stage`` stride 1, keeping 'same' output size.

    Valid (padding 0) k x k convs/max-pools get padding (k-1)//2, and 2x2 average pools
    (ResNet-D shortcuts, DenseNet transitions) become identities, so that all branches of a
    block still agree in size. Parameter shapes are unchanged, so pretrained weights still load.
    Returns the number of layers changed.
    """
    changed = 0
    for parent in list(stage.modules()):
        for child_name, m in list(parent.named_children()):
            if isinstance(m, nn.Conv2d) and m.stride != (1, 1):
                m.stride = (1, 1)
                if m.padding == (0, 0) and m.kernel_size != (1, 1):
                    m.padding = (m.kernel_size[0] // 2, m.kernel_size[1] // 2)
                changed += 1
            elif isinstance(m, nn.MaxPool2d) and m.stride not in (1, (1, 1)):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                m.stride = 1
                if m.padding in (0, (0, 0)):
                    m.padding = k // 2
                changed += 1
            elif isinstance(m, nn.AvgPool2d) and m.stride not in (1, (1, 1)):
                setattr(parent, child_name, nn.Identity())
                changed += 1
    return changed


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for k in ("state_dict", "model", "model_state"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PretrainedWeightsError(f"{path}: not a state dict (expected a dict of tensors, as saved by "
                                     "torch.save(model.state_dict(), path))")
    out = {}
    for k, v in obj.items():
        for prefix in ("module.", "body."):  # DDP checkpoints; state dicts of a reidlab Backbone
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def _fmt(keys: list[str], limit: int = 20) -> str:
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _load_local(body: nn.Module, path: Path, name: str, strict: bool) -> dict[str, list[str]]:
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file {path} does not exist (backbone {name!r})")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise PretrainedWeightsError(f"{path}: cannot read weights ({type(e).__name__}: {e}); expected a file "
                                     "written by torch.save(model.state_dict(), path) or "
                                     "safetensors.torch.save_file(state_dict, path)") from e
    sd = _unwrap_state_dict(obj, path)
    head = body.pretrained_cfg.get("classifier") or ""
    heads = [head] if isinstance(head, str) else list(head)
    ignored = sorted(k for k in sd if any(h and (k == h or k.startswith(h + ".")) for h in heads))
    for k in ignored:
        del sd[k]
    own = body.state_dict()
    missing = sorted(k for k in own if k not in sd)
    unexpected = sorted(k for k in sd if k not in own)
    mismatched = sorted(f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}"
                        for k in sd if k in own and sd[k].shape != own[k].shape)
    if missing or unexpected or mismatched:
        msg = (f"{path}: weights do not fit backbone {name!r} (timm {body.pretrained_cfg.get('architecture')}): "
               f"{len(missing)} missing keys [{_fmt(missing)}]; {len(unexpected)} unexpected keys "
               f"[{_fmt(unexpected)}]; {len(mismatched)} shape mismatches (file vs model) [{_fmt(mismatched)}]. "
               "Check that the file was saved from the same architecture, or pass strict=False to load the "
               "matching keys only.")
        if strict:
            raise PretrainedWeightsError(msg)
        warnings.warn(msg, stacklevel=3)
    bad = {k.split(" ")[0] for k in mismatched}
    body.load_state_dict({k: v for k, v in sd.items() if k in own and k not in bad}, strict=False)
    return {"missing": missing, "unexpected": unexpected, "mismatched": mismatched, "ignored_head": ignored}


def create_backbone(name: str, *, pretrained: bool | str | Path = False, last_stride: int = 1,
                    strict: bool = True, **kw: Any) -> Backbone:
    """Build backbone ``name`` (see :data:`BACKBONES`) returning (B, C, h, w) maps; C = ``.out_channels``.

    ``pretrained``: False (random init), True (timm's ImageNet download), or a path to a local state dict, ``.pth`` or ``.safetensors`` (loaded
    strictly unless ``strict=False``; classifier-head keys are ignored and listed in
    ``.load_report["ignored_head"]``). Every call with the same checkpoint gives the same
    weights, so the streams of a multi-stream method start identical; with False they differ. ``last_stride``: 1 (remove the last
    down-sampling: h = H/16) or 2 (the network as published: h = H/32).
    Extra ``kw`` go to ``timm.create_model`` (e.g. ``img_size=(256, 128)``, ``drop_path_rate``
    for ViT).
    """
    key, spec = _resolve(name)
    if isinstance(pretrained, str) and pretrained.split(":")[0] == "synth":
        # The engine trains these weights (it builds backbones itself), so it resolves the spec.
        raise ValueError(f"create_backbone({name!r}, pretrained={pretrained!r}): resolve the synthetic "
                         "stand-in to its weights file first: reidlab.engine.pretrain.resolve_pretrained"
                         f"({name!r}, {pretrained!r}) (build_model and `reidlab train` do this for configs)")
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
    if spec.kind == "vit":
        if last_stride != 1:
            raise ValueError(f"backbone {key!r} has no strided last stage (tokens are at stride 16); "
                             "use last_stride=1")
        kw.setdefault("dynamic_img_size", True)  # any input size; position embedding interpolated
        kw.setdefault("global_pool", "token")
    else:
        kw.setdefault("global_pool", "")
    download = pretrained is True
    try:
        body = timm.create_model(spec.timm_name, pretrained=download, num_classes=0, **kw)
    except Exception as e:  # noqa: BLE001 - network/hub errors come in many types
        if not download:
            raise
        raise PretrainedWeightsError(
            f"could not download ImageNet weights for backbone {key!r} (timm {spec.timm_name!r}): "
            f"{type(e).__name__}: {e}. If this machine is offline, pass a local file instead: "
            f"create_backbone({key!r}, pretrained='/path/to/weights.pth') (a state dict saved with "
            "torch.save(model.state_dict(), path)), or pretrained=False to train from scratch.") from e
    net = Backbone(key, body, spec.kind, last_stride)
    if pretrained not in (True, False, None):
        net.load_report = _load_local(body, Path(pretrained), key, strict)
    if last_stride == 1 and spec.last_stage is not None:
        stage = body.get_submodule(spec.last_stage)
        if _remove_downsampling(stage) == 0:  # the spec points at the wrong module: fail loudly
            raise RuntimeError(f"backbone {key!r}: no strided layer found in {spec.last_stage!r}")
    return net
