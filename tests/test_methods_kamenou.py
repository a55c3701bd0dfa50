"""Kamenou et al. (ICPR 2022): eq. 12 wiring, Table I rows, cross-modal embedding."""
from __future__ import annotations

import pytest
import torch

from reidlab.eval.features import fused_key
from reidlab.methods import create_method
from reidlab.methods.kamenou import TABLE_I_ROWS
from reidlab.methods.losses import (cosine_alignment_loss, cross_entropy_ls, cross_modal_ranked_list_loss,
                                    ranked_list_loss)

TINY = {"backbone": "tiny", "pretrained": False, "embed_dim": 16}



def test_loss_is_eq12_of_its_terms(make_batch):
    torch.manual_seed(0)
    model = create_method("kamenou", 4, ("rgb", "tir"), **TINY)
    images, labels = make_batch(("rgb", "tir"))
    out = model(images)
    assert out["bn_feat"]["rgb"].shape == (8, 512) and out["embedding"]["tir"].shape == (8, 16) and out["logits"]["rgb"].shape == (8, 4)
    total, parts = model.loss(out, labels)
    v_r, t_r, v_e, t_e = out["bn_feat"]["rgb"], out["bn_feat"]["tir"], out["embedding"]["rgb"], out["embedding"]["tir"]
    cls = cross_entropy_ls(out["logits"]["rgb"], labels, 0.1) + cross_entropy_ls(out["logits"]["tir"], labels, 0.1)
    # default: the paper's RLL form (eq. 2-4, 11: unweighted L_P + L_N)
    rll = ranked_list_loss(v_e, labels, form="paper") + ranked_list_loss(t_e, labels, form="paper")
    cos = cosine_alignment_loss(v_r, t_r)
    cd = cross_modal_ranked_list_loss(v_e, t_e, labels, form="paper")
    assert parts == pytest.approx({"cls": cls.item(), "rll": rll.item(), "cos": cos.item(), "cd_rll": cd.item()},
                                  rel=1e-5)
    # L = (1 - 0.5)(L_cls + L_rll) + 0.5 L_cos + 3.0 L_cd-rll
    assert total.item() == pytest.approx(0.5 * (cls + rll).item() + 0.5 * cos.item() + 3.0 * cd.item(), rel=1e-5)
    # option: the RLL authors' weighted form (T_n = 10, (1 - lambda_r) L_P + lambda_r L_N)
    model.config["rll_form"] = "rll_code"
    _, parts_code = model.loss(out, labels)
    rll_code = ranked_list_loss(v_e, labels) + ranked_list_loss(t_e, labels)
    cd_code = cross_modal_ranked_list_loss(v_e, t_e, labels)
    assert parts_code["rll"] == pytest.approx(rll_code.item(), rel=1e-5)
    assert parts_code["cd_rll"] == pytest.approx(cd_code.item(), rel=1e-5)
    assert parts_code["rll"] != pytest.approx(parts["rll"], rel=1e-3)


def test_table_i_rows_switch_parts_and_embedding(make_batch):
    images, labels = make_batch(("rgb", "nir"))
    expected = {
        "Baseline": ({"cls", "rll"}, 512),
        "Baseline + FC_e": ({"cls", "rll"}, 16),
        "Baseline + L_cos": ({"cls", "rll", "cos"}, 512),
        "Baseline + FC_e + L_cos": ({"cls", "rll", "cos"}, 16),
        "Baseline + FC_e + L_cos + L_cd-rll": ({"cls", "rll", "cos", "cd_rll"}, 16),
    }
    assert set(TABLE_I_ROWS) == set(expected)
    for row, overrides in TABLE_I_ROWS.items():
        torch.manual_seed(0)
        model = create_method("kamenou", 4, ("rgb", "nir"), **{**TINY, **overrides})
        out = model(images)
        total, parts = model.loss(out, labels)
        keys, dim = expected[row]
        assert set(parts) == keys, row
        if row == "Baseline":  # no FC_e, no L_cos: L = L_cls + L_rll on V_r, T_r
            assert total.item() == pytest.approx(parts["cls"] + parts["rll"], rel=1e-5)
            assert torch.equal(out["embedding"]["rgb"], out["bn_feat"]["rgb"])
        model.eval()
        emb = model.embed(images)
        assert set(emb) == {"rgb", "nir", fused_key(("rgb", "nir"))}
        assert emb["rgb"].shape == (8, dim), row


def test_cross_modal_embedding_of_one_modality(make_batch):
    torch.manual_seed(0)
    model = create_method("kamenou", 4, ("rgb", "nir"), **TINY).eval()
    images, _ = make_batch(("rgb", "nir"))
    both = model.embed(images)
    only_nir = model.embed({"nir": images["nir"]})
    assert set(only_nir) == {"nir"}
    assert torch.allclose(only_nir["nir"], both["nir"], atol=1e-6)
    with pytest.raises(KeyError, match="needs modality"):
        model.embed({"tir": images["nir"]})
    with pytest.raises(ValueError, match="lambda_cos"):
        create_method("kamenou", 4, ("rgb", "nir"), lambda_cos=1.0, **TINY)


def test_default_config_is_the_papers():
    from reidlab.methods import default_config

    k = default_config("kamenou")
    assert (k["lambda_cos"], k["cd_rll_weight"], k["embed_dim"], k["rll_margin"]) == (0.5, 3.0, 512, 0.4)
    assert (k["P"], k["K"], k["label_smoothing"]) == (8, 4, 0.1)
    with pytest.raises(ValueError, match="exactly two"):
        create_method("kamenou", 4, ("rgb", "nir", "tir"), **TINY)
