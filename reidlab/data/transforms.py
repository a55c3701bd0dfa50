"""Image transforms applied jointly to the modalities of one capture.

:func:`build_transforms` returns a callable ``{modality: PIL image} -> {modality: Tensor}``
(each tensor ``(3, height, width)`` float32, normalised by ``mean``/``std``). For training it
applies, with ONE draw of random parameters per call shared by every modality (aligned
captures stay aligned):

1. resize to ``(height, width)`` (bilinear);
2. horizontal flip with probability ``flip_p``;
3. zero-pad ``pad`` pixels (black, i.e. 0 before normalisation) and crop a random
   ``(height, width)`` window (the reid-strong-baseline recipe);
4. random erasing with probability ``erase_p``: one rectangle of 2-40 % of the area, aspect
   ratio 0.3-3.3 (log-uniform), filled with 0 after normalisation (= the mean colour).

Random numbers come from torch's global generator, so ``torch.manual_seed`` (or the engine's
worker seeding) makes every crop, flip and erase box reproducible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    import torch
    from PIL import Image as PILImage

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugmentParams:
    """One draw of augmentation parameters, applied to every modality of a capture.

    ``crop_top/left`` index the padded image; ``erase`` is ``(top, left, h, w)`` or None.
    """

    flip: bool
    crop_top: int
    crop_left: int
    erase: tuple[int, int, int, int] | None


class JointTransform:
    """Callable built by :func:`build_transforms`; see the module docstring."""

    def __init__(self, height: int, width: int, train: bool, *, pad: int = 10, flip_p: float = 0.5,
                 erase_p: float = 0.5, mean: tuple[float, ...] = IMAGENET_MEAN,
                 std: tuple[float, ...] = IMAGENET_STD,
                 erase_scale: tuple[float, float] = (0.02, 0.4),
                 erase_ratio: tuple[float, float] = (0.3, 3.3)) -> None:
        import torch

        if height <= 0 or width <= 0 or pad < 0:
            raise ValueError(f"need height, width > 0 and pad >= 0, got {height}, {width}, {pad}")
        if not (0.0 <= flip_p <= 1.0 and 0.0 <= erase_p <= 1.0):
            raise ValueError(f"flip_p and erase_p must lie in [0, 1], got {flip_p}, {erase_p}")
        self.height, self.width, self.train, self.pad = int(height), int(width), bool(train), int(pad)
        self.flip_p, self.erase_p = float(flip_p), float(erase_p)
        self.erase_scale, self.erase_ratio = erase_scale, erase_ratio
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __repr__(self) -> str:
        return (f"JointTransform({self.height}x{self.width}, train={self.train}, pad={self.pad}, "
                f"flip_p={self.flip_p}, erase_p={self.erase_p})")

    def to_tensor(self, img: "PILImage.Image") -> "torch.Tensor":
        """Resize + scale to [0, 1] + normalise: RGB PIL -> (3, height, width) float32."""
        import torch
        from PIL import Image

        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != (self.width, self.height):
            img = img.resize((self.width, self.height), Image.BILINEAR)
        t = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
        return (t - self.mean) / self.std

    def sample_params(self) -> AugmentParams:
        """Draw flip, crop offset and erase box from torch's global generator."""
        import torch

        flip = bool(torch.rand(1).item() < self.flip_p)
        top = int(torch.randint(0, 2 * self.pad + 1, (1,)).item())
        left = int(torch.randint(0, 2 * self.pad + 1, (1,)).item())
        erase = None
        if torch.rand(1).item() < self.erase_p:
            H, W = self.height, self.width
            log_r = (math.log(self.erase_ratio[0]), math.log(self.erase_ratio[1]))
            for _ in range(10):  # torchvision-style rejection sampling
                area = H * W * torch.empty(1).uniform_(*self.erase_scale).item()
                ratio = math.exp(torch.empty(1).uniform_(*log_r).item())
                h, w = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
                if 0 < h < H and 0 < w < W:
                    i = int(torch.randint(0, H - h + 1, (1,)).item())
                    j = int(torch.randint(0, W - w + 1, (1,)).item())
                    erase = (i, j, h, w)
                    break
        return AugmentParams(flip, top, left, erase)

    def apply(self, t: "torch.Tensor", p: AugmentParams) -> "torch.Tensor":
        """Apply ``p`` to one normalised (3, H, W) tensor."""
        import torch

        if p.flip:
            t = t.flip(-1)
        if self.pad:
            black = (-self.mean / self.std).expand(3, self.height + 2 * self.pad, self.width + 2 * self.pad)
            padded = black.clone()
            padded[:, self.pad:self.pad + self.height, self.pad:self.pad + self.width] = t
            t = padded[:, p.crop_top:p.crop_top + self.height, p.crop_left:p.crop_left + self.width]
        t = t.contiguous() if isinstance(t, torch.Tensor) else t
        if p.erase is not None:
            i, j, h, w = p.erase
            t = t.clone()
            t[:, i:i + h, j:j + w] = 0.0
        return t

    def __call__(self, images: Mapping[str, "PILImage.Image"]) -> dict[str, "torch.Tensor"]:
        out = {m: self.to_tensor(img) for m, img in images.items()}
        if not self.train or not out:
            return out
        p = self.sample_params()
        return {m: self.apply(t, p) for m, t in out.items()}


def build_transforms(height: int, width: int, train: bool, *, pad: int = 10, flip_p: float = 0.5,
                     erase_p: float = 0.5, mean: tuple[float, ...] = IMAGENET_MEAN,
                     std: tuple[float, ...] = IMAGENET_STD) -> JointTransform:
    """Transform ``{mod: PIL} -> {mod: Tensor(3, height, width)}``; same random params for all mods.

    ``train=False``: resize + normalise only. ``height``/``width`` in pixels (e.g. 128x256
    for vehicles, 64x32 in the smoke preset).
    """
    return JointTransform(height, width, train, pad=pad, flip_p=flip_p, erase_p=erase_p, mean=mean, std=std)
