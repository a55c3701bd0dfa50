"""Joint transforms (same crop / flip / erase for all modalities) and ReIDImageDataset."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fixtures import make_hoss, make_sidebyside  # noqa: E402

from reidlab.data import ImageError, load_dataset  # noqa: E402
from reidlab.data.torch_dataset import ReIDImageDataset  # noqa: E402
from reidlab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transforms  # noqa: E402


def _noise_image(seed: int, size=(40, 20)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_eval_transform_is_resize_and_normalise():
    img = Image.new("RGB", (10, 7), (255, 0, 128))
    out = build_transforms(16, 8, train=False)({"rgb": img})
    t = out["rgb"]
    assert t.shape == (3, 16, 8) and t.dtype == torch.float32
    expect = (torch.tensor([1.0, 0.0, 128 / 255]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(t[:, 5, 3], expect, atol=1e-5)


def test_identical_inputs_give_identical_outputs_across_modalities():
    tf = build_transforms(32, 16, train=True, flip_p=0.5, erase_p=1.0)
    img = _noise_image(0)
    torch.manual_seed(3)
    for _ in range(20):
        out = tf({"rgb": img, "nir": img.copy(), "tir": img.copy()})
        assert torch.equal(out["rgb"], out["nir"]) and torch.equal(out["rgb"], out["tir"])


def test_erase_box_and_flip_shared_across_different_images():
    tf = build_transforms(32, 16, train=True, pad=0, flip_p=1.0, erase_p=1.0)
    a, b = _noise_image(1), _noise_image(2)
    torch.manual_seed(0)
    out = tf({"rgb": a, "nir": b})
    za, zb = out["rgb"] == 0, out["nir"] == 0
    assert za.all(0).sum() > 0 and torch.equal(za.all(0), zb.all(0))  # same erased rectangle
    ref = build_transforms(32, 16, train=False)({"rgb": a})["rgb"]
    keep = ~za.all(0)
    assert torch.allclose(out["rgb"][:, keep], ref.flip(-1)[:, keep])  # flipped, unerased pixels intact


def test_seeds_reproduce_and_differ():
    tf = build_transforms(32, 16, train=True, erase_p=0.0, flip_p=0.0)
    img = _noise_image(4)

    def run(seed):
        torch.manual_seed(seed)
        return [tf({"rgb": img})["rgb"] for _ in range(5)]

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))  # different crops


def test_random_crop_is_a_shift_of_the_padded_image():
    tf = build_transforms(32, 16, train=True, pad=4, flip_p=0.0, erase_p=0.0)
    img = _noise_image(5)
    base = build_transforms(32, 16, train=False)({"rgb": img})["rgb"]
    torch.manual_seed(0)
    p = tf.sample_params()
    out = tf.apply(base, p)
    dy, dx = p.crop_top - 4, p.crop_left - 4
    # inside the overlap the crop equals the original shifted by (dy, dx)
    ys, xs = slice(max(0, -dy), 32 - max(0, dy)), slice(max(0, -dx), 16 - max(0, dx))
    ys0, xs0 = slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx)
    assert torch.equal(out[:, ys, xs], base[:, ys0, xs0])


def test_bad_transform_arguments():
    with pytest.raises(ValueError):
        build_transforms(0, 16, train=True)
    with pytest.raises(ValueError):
        build_transforms(16, 16, train=True, flip_p=2.0)


def test_dataset_items_aligned(tmp_path):
    data = load_dataset("rgbn300", make_sidebyside(tmp_path))
    ds = ReIDImageDataset(data.train, ("rgb", "nir"), build_transforms(16, 8, train=True), relabel=True)
    assert len(ds) == 6 and ds.num_classes == 3
    item = ds[3]
    assert set(item["images"]) == {"rgb", "nir"} and item["images"]["nir"].shape == (3, 16, 8)
    assert item["present"] == {"rgb": True, "nir": True}
    assert (item["pid"], item["label"], item["camid"], item["index"]) == (2, 1, 2, 3)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["images"]["rgb"].shape == (4, 3, 16, 8) and batch["label"].tolist() == [0, 0, 1, 1]
    assert batch["present"]["nir"].dtype == torch.bool


def test_dataset_unaligned_item_has_no_placeholder(tmp_path):
    from reidlab.data.torch_dataset import collate_batch

    data = load_dataset("hoss", make_hoss(tmp_path))
    ds = ReIDImageDataset(data.gallery, ("rgb", "sar"), build_transforms(16, 8, train=False))
    sar_item = ds[0]  # 0003_s02c2_SAR.tif
    assert sar_item["present"] == {"rgb": False, "sar": True}
    assert set(sar_item["images"]) == {"sar"} and sar_item["images"]["sar"].shape == (3, 16, 8)
    batch = collate_batch([ds[i] for i in range(len(ds))])
    for m in ("rgb", "sar"):  # images[m] stacks only the samples having m, present[m] marks them
        assert batch["images"][m].shape[0] == int(batch["present"][m].sum()) > 0
    assert not bool((batch["present"]["rgb"] & batch["present"]["sar"]).any())
    assert sar_item["label"] == sar_item["pid"] == 3  # relabel=False keeps pids
    only_rgb = ReIDImageDataset(data.gallery, ("rgb",), build_transforms(16, 8, train=False))
    assert len(only_rgb) == 1 and only_rgb.dropped_no_modality == 1


def test_dataset_corrupt_image_raises_or_is_skipped(tmp_path):
    data = load_dataset("rgbn300", make_sidebyside(tmp_path))
    bad = data.train[2].images["rgb"].path
    raw = Path(bad).read_bytes()
    Path(bad).write_bytes(raw[: len(raw) // 3])  # header intact, pixels truncated
    tf = build_transforms(16, 8, train=False)
    ds = ReIDImageDataset(data.train, ("rgb", "nir"), tf)
    with pytest.raises(ImageError, match=Path(bad).name):
        ds[2]
    ds = ReIDImageDataset(data.train, ("rgb", "nir"), tf, relabel=True, skip_corrupt=True)
    assert len(ds) == 5 and ds.skipped == 1 and ds.skipped_paths == [bad]
    assert ds.num_classes == 3


def test_dataset_rejects_unknown_modality(tmp_path):
    with pytest.raises(ValueError, match="subset"):
        ReIDImageDataset([], ("rgb", "depth"), build_transforms(16, 8, train=False))


def test_hamnet_and_kamenou_augment_with_crop_and_flip_but_no_erasing():
    """Both papers state random crop + flip only: the method config turns random erasing off,
    a config may turn it back on, and the engine's resolved transform reaches build_transforms."""
    from reidlab.data.transforms import build_transforms
    from reidlab.engine.config import TrainConfig, resolve_config

    for method in ("hamnet", "kamenou", "msn"):
        cfg = resolve_config(TrainConfig(method=method))
        assert cfg.transform == {"erase_p": 0.0}, method
        tf = build_transforms(cfg.height, cfg.width, train=True, **cfg.transform)
        assert tf.erase_p == 0.0 and tf.flip_p == 0.5 and tf.pad > 0  # crop + flip, no erasing
    cfg = resolve_config(TrainConfig(method="kamenou", transform={"erase_p": 0.5, "pad": 4}))
    assert cfg.transform == {"erase_p": 0.5, "pad": 4}
    assert build_transforms(32, 64, train=True, **cfg.transform).erase_p == 0.5
    # a method without transform settings keeps build_transforms' own defaults
    assert resolve_config(TrainConfig(method="_engine_dummy:TinyMethod", backbone="none")).transform == {}
