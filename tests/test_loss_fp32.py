"""Losses are computed in fp32 on the outputs of a bf16 autocast forward (CPU autocast)."""
import torch

from reidlab.engine.build import build_model
from reidlab.engine.config import TrainConfig, resolve_config
from reidlab.methods.base import outputs_to_fp32


def test_bf16_forward_fp32_loss_matches_fp32_loss():
    torch.manual_seed(0)
    cfg = resolve_config(TrainConfig(method="kamenou", dataset="rgbn300", modalities=["rgb", "nir"],
                                     backbone="resnet18", pretrained=False, height=64, width=32))
    model = build_model(cfg, 4, ("rgb", "nir")).eval()
    images = {m: torch.randn(8, 3, 64, 32) for m in ("rgb", "nir")}
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    with torch.no_grad():
        ref, _ = model.loss(model(images), labels)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(images)
        low32 = outputs_to_fp32(low)
        assert all(t.dtype == torch.float32 for t in low32.values() if isinstance(t, torch.Tensor)
                   and t.is_floating_point())
        total, _ = model.loss(low32, labels)
    assert total.dtype == torch.float32
    # bf16 has an 8-bit mantissa: the forward's rounding moves the loss by ~1e-2 relative at most
    assert abs(float(total) - float(ref)) <= 3e-2 * abs(float(ref)) + 1e-3, (float(total), float(ref))
