"""Per-sample fields (``ReIDMethod.sample_fields``): declared by a method, read by the dataset, batched,
and handed to the method by the trainer and the feature extractor without any engine edit."""
from __future__ import annotations

import inspect
import math

import torch

from reidlab.data import load_dataset
from reidlab.data.image import load_image
from reidlab.data.records import Record
from reidlab.data.sample_fields import class_labels, collate_fields, read_fields, select_fields
from reidlab.engine import TrainConfig, train


def test_a_new_methods_fields_reach_training_and_extraction(synth_root, tmp_path):
    """tests/_engine_dummy.py:FieldMethod declares ("yaw", "size"); nothing in the engine names them."""
    from _engine_dummy import FieldMethod

    root = synth_root("rgbn300")
    FieldMethod.calls.clear()
    train(TrainConfig(method="_engine_dummy:FieldMethod", dataset="rgbn300", root=str(root), backbone="none",
                      height=32, width=64, P=4, K=2, epochs=1, lr=1e-3, warmup_epochs=0, warmup_factor=1.0,
                      milestones=[], seed=0, device="cpu", out_dir=str(tmp_path), run_name="f",
                      eval_protocols=["rgbn300/rgb-nir"], eval_batch_size=16), progress=False)
    data = load_dataset("rgbn300", root)
    train_yaw = {round(float(r.attrs["yaw"]), 4) for r in data.train}
    test_yaw = {round(float(r.attrs["yaw"]), 4) for s in ("query", "gallery") for r in data[s]}
    w, h = load_image(data.train[0].images["rgb"]).size  # the decoded image (RGBN300: a crop of a strip)
    fwd = [c for c in FieldMethod.calls if c[0] == "forward"]
    emb = [c for c in FieldMethod.calls if c[0] == "embed"]
    assert fwd and emb
    for kind, counts, f in fwd + emb:
        assert set(f) == {"yaw", "size"}
        b = counts["rgb"]
        assert f["yaw"].shape == (b,) and f["size"]["rgb"].shape == (b, 2) and f["size"]["nir"].shape == (b, 2)
        assert (f["size"]["rgb"] == torch.tensor([w, h], dtype=torch.float32)).all()
        seen = {round(float(v), 4) for v in f["yaw"]}
        assert seen <= (train_yaw if kind == "forward" else test_yaw), (kind, seen)
    # no engine module special-cases a field name
    from reidlab.data import torch_dataset
    from reidlab.engine import extract, trainer

    for mod in (trainer, extract, torch_dataset):
        src = inspect.getsource(mod)
        assert "orientation" not in src and '"size"' not in src and "yaw" not in src, mod.__name__


def test_readers_collate_and_select():
    from PIL import Image

    recs = [Record(pid=1, camid=1, images={}, split="train", attrs=a)
            for a in ({"o": 3}, {"o": 2.5}, {}, {"o": "front"})]
    pil = [{"rgb": Image.new("RGB", (10, 20))}, {"sar": Image.new("RGB", (7, 9))},
           {"rgb": Image.new("RGB", (11, 21)), "sar": Image.new("RGB", (5, 6))}, {"rgb": Image.new("RGB", (1, 2))}]
    items = [{"fields": read_fields(("o", "size"), r, p)} for r, p in zip(recs, pil)]
    present = {"rgb": torch.tensor([True, False, True, True]), "sar": torch.tensor([False, True, True, False])}
    f = collate_fields(items, present)
    assert f["o"][0] == 3 and f["o"][1] == 2.5 and math.isnan(f["o"][2]) and math.isnan(f["o"][3])
    assert class_labels(f["o"]).tolist() == [3, -1, -1, -1]
    # per modality: rows of the samples having it, in batch order (as images[m])
    assert f["size"]["rgb"].tolist() == [[10, 20], [11, 21], [1, 2]] and f["size"]["sar"].tolist() == [[7, 9], [5, 6]]
    sub = select_fields(f, [2], {"rgb": [1], "sar": [1]})  # batch position 2 = rgb row 1, sar row 1
    assert sub["size"]["rgb"].tolist() == [[11, 21]] and sub["size"]["sar"].tolist() == [[5, 6]]
    assert math.isnan(float(sub["o"][0]))


def test_hwdnet_declares_orientation_and_transoss_size():
    from reidlab.methods.registry import method_class

    assert method_class("hwdnet").sample_fields == ("orientation",)
    assert method_class("transoss").sample_fields == ("size",)
    assert method_class("hamnet").sample_fields == ()
