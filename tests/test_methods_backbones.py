"""Backbones: the paper's five + ViT build offline, last-stride option, pretrained loading (never downloads)."""
from __future__ import annotations

import timm
import torch
import pytest

from reidlab.methods.backbones import PretrainedWeightsError, create_backbone, list_backbones


def _map(net, h, w):
    net.eval()
    with torch.no_grad():
        return net(torch.randn(1, 3, h, w)).shape


@pytest.fixture(scope="module")
def built():
    """Each heavy backbone built once (random init, last_stride=1) and shared by the tests below."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = create_backbone(name)
        return cache[name]

    return get


@pytest.mark.parametrize("name,channels", [("resnet50", 2048), ("seresnet50", 2048), ("densenet121", 1024),
                                           ("mobilenetv2", 1280), ("vit_b16", 768)])
def test_paper_backbones_build_with_stride16_maps(built, name, channels):
    net = built(name)  # last_stride=1 by default: stride 16 instead of the published 32 (ViT: patch 16)
    assert net.out_channels == channels
    assert tuple(_map(net, 64, 32)) == (1, channels, 4, 2)


def test_inception_resnet_v2_builds_with_last_stride_1():
    # valid (unpadded) convs: at 139x139 the published network ends on a 3x3 map; with the last
    # down-sampling removed (padded stride-1 mixed_7a) the map stays at mixed_6a's 7x7.
    s1 = _map(create_backbone("inception_resnet_v2", last_stride=1), 139, 139)
    assert s1 == (1, 1536, 7, 7)


@pytest.mark.parametrize("name", ["resnet18", "tiny", "mobilenetv2"])
def test_last_stride_doubles_map(name):
    s1 = _map(create_backbone(name, last_stride=1), 64, 32)
    s2 = _map(create_backbone(name, last_stride=2), 64, 32)
    assert s1[2:] == (4, 2) and s2[2:] == (2, 1)


def test_resnet_last_stride_changes_conv_and_shortcut(built):
    blk = built("resnet50").body.layer4[0]
    assert blk.conv2.stride == (1, 1) and blk.downsample[0].stride == (1, 1)
    blk = built("densenet121").body.features
    assert isinstance(blk.transition3.pool, torch.nn.Identity)
    assert isinstance(blk.transition2.pool, torch.nn.AvgPool2d)  # only the last down-sampling goes
    assert create_backbone("resnet18", last_stride=2).body.layer4[0].conv1.stride == (2, 2)


def test_vit_tokens_and_bad_arguments(built):
    net = built("vit_b16")
    x = torch.randn(2, 3, 64, 32)
    assert net.forward_tokens(x).shape == (2, 1 + 8, 768)
    assert net.cls_feature(x).shape == (2, 768)
    with pytest.raises(ValueError, match="no strided last stage"):
        create_backbone("vit_b16", last_stride=2)
    with pytest.raises(ValueError, match="unknown backbone 'resnet51'"):
        create_backbone("resnet51")
    with pytest.raises(ValueError, match="last_stride"):
        create_backbone("resnet18", last_stride=3)
    with pytest.raises(NotImplementedError, match="no tokens"):
        create_backbone("tiny").forward_tokens(x)
    assert "tiny" in list_backbones() and "resnet50" in list_backbones()


def test_pretrained_local_file_loads_strictly_and_ignores_head(tmp_path):
    torch.manual_seed(0)
    src = timm.create_model("resnet10t", pretrained=False)  # ImageNet-style model, with its fc head
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    net = create_backbone("tiny", pretrained=str(path), last_stride=1)
    assert net.load_report["ignored_head"] == ["fc.bias", "fc.weight"]
    assert net.load_report["missing"] == [] and net.load_report["unexpected"] == []
    for k, v in net.body.state_dict().items():
        assert torch.equal(v, src.state_dict()[k]), k
    # a wrapped checkpoint of the Backbone itself ("body." keys under "state_dict") loads too
    torch.save({"state_dict": net.state_dict()}, tmp_path / "wrapped.pth")
    net2 = create_backbone("tiny", pretrained=tmp_path / "wrapped.pth")
    assert torch.equal(net2.body.conv1[0].weight, src.conv1[0].weight)


def test_pretrained_mismatch_lists_keys(tmp_path):
    sd = timm.create_model("resnet10t", pretrained=False).state_dict()
    sd.pop("layer1.0.bn1.weight")
    sd["extra.thing"] = torch.zeros(3)
    sd["bn1.weight"] = torch.zeros(7)  # wrong shape
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(PretrainedWeightsError) as err:
        create_backbone("tiny", pretrained=path)
    msg = str(err.value)
    assert "bad.pth" in msg and "layer1.0.bn1.weight" in msg and "extra.thing" in msg and "bn1.weight (7,)" in msg
    assert "1 missing" in msg and "1 unexpected" in msg and "strict=False" in msg
    with pytest.warns(UserWarning, match="extra.thing"):
        net = create_backbone("tiny", pretrained=path, strict=False)
    assert torch.equal(net.body.layer2[0].conv1.weight, sd["layer2.0.conv1.weight"])


def test_pretrained_other_architecture_and_corrupt_file(tmp_path):
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(PretrainedWeightsError, match="missing keys"):
        create_backbone("tiny", pretrained=tmp_path / "r18.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="junk.pth: cannot read weights"):
        create_backbone("tiny", pretrained=tmp_path / "junk.pth")
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        create_backbone("tiny", pretrained=tmp_path / "missing.pth")


def test_pretrained_download_offline_gives_clear_message(monkeypatch):
    import timm.models._builder as builder

    def offline(*a, **k):
        raise OSError("[Errno 101] Network is unreachable (simulated)")

    for fn in ("load_state_dict_from_hf", "load_state_dict_from_url", "download_cached_file", "load_custom_from_hf"):
        monkeypatch.setattr(builder, fn, offline)
    download = True  # every download path of timm is patched above: nothing reaches the network
    with pytest.raises(PretrainedWeightsError) as err:
        create_backbone("tiny", pretrained=download)
    msg = str(err.value)
    assert "Network is unreachable" in msg and "pretrained='/path/to/weights.pth'" in msg
