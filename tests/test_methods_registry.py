"""The contract every registered method follows, and every registered table's consistency.

Cases come from the registries (``list_methods()``, ``smoke_setup(name)``, ``list_tables()``): a new
method file, with its ``register_method(..., smoke=...)`` and ``register_table(...)``, is tested
here without editing this file. Tiny backbone, CPU, 64x32 images.
"""
from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest
import torch

from reidlab.methods import ReIDMethod, create_method, default_config, list_methods
from reidlab.methods.backbones import Backbone
from reidlab.methods.registry import PLANNED, canonical_modalities, smoke_setup
from reidlab.methods.specs import CLAIM_KINDS, get_table, list_tables

TINY = {"backbone": "tiny", "pretrained": False}
ENGINE_KEYS = {"optimizer", "lr", "weight_decay", "epochs", "warmup_epochs", "warmup_factor", "milestones",
               "gamma", "P", "K", "height", "width", "backbone", "pretrained", "last_stride"}
METHODS = list_methods()
TABLES = list_tables()
NUM_CLASSES = 4


def _smoke_modalities(name: str) -> tuple[str, ...]:
    from reidlab.data.registry import get_layout

    s = smoke_setup(name)
    return canonical_modalities(s["modalities"] or get_layout(s["dataset"]).modalities)


def test_registry_lists_the_methods_and_tables():
    assert {"one_stream", "msn", "hamnet", "kamenou"} <= set(METHODS)
    assert {"hamnet_table2", "hamnet_table5", "kamenou_table1"} <= set(TABLES)


@pytest.mark.parametrize("name", METHODS)
def test_default_config_and_smoke_setup(name):
    from reidlab.data.registry import get_layout, list_datasets
    from reidlab.engine.config import TrainConfig

    cfg = default_config(name)
    assert ENGINE_KEYS <= set(cfg), sorted(ENGINE_KEYS - set(cfg))
    cfg["lr"] = -1.0  # a copy: editing it does not change the registry
    assert default_config(name)["lr"] != -1.0
    s = smoke_setup(name)
    assert s["dataset"] in list_datasets()
    mods = _smoke_modalities(name)
    assert set(mods) <= set(get_layout(s["dataset"]).modalities)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(s["overrides"]) <= fields, sorted(set(s["overrides"]) - fields)
    with pytest.raises(ValueError, match=r"unknown config keys \['no_such_key'\]"):
        create_method(name, NUM_CLASSES, mods, no_such_key=1, **TINY)


def _fields_for(model, images: dict) -> dict:
    """The batch fields the method declares (``sample_fields``), made by the dataset's own readers and
    collate from stand-in records (attrs ``{name: i % 8}``) and 32x64 images: ``{}`` when none."""
    from PIL import Image

    from reidlab.data.records import Record
    from reidlab.data.sample_fields import collate_fields, read_fields

    names = tuple(model.sample_fields)
    if not names:
        return {}
    b = next(iter(images.values())).shape[0]
    pil = {m: Image.new("RGB", (32, 64)) for m in images}
    items = [{"fields": read_fields(names, Record(pid=i // 2, camid=1, images={}, split="train",
                                                  attrs={n: i % 8 for n in names}), pil)} for i in range(b)]
    return collate_fields(items, {m: torch.ones(b, dtype=torch.bool) for m in images})


@pytest.mark.parametrize("name", METHODS)
def test_contract_shapes_keys_and_finite_gradients(name, make_batch):
    mods = _smoke_modalities(name)
    torch.manual_seed(0)
    model = create_method(name, NUM_CLASSES, mods, **TINY)
    assert isinstance(model, ReIDMethod) and model.name == name and model.modalities == mods
    assert model.config["backbone"] == "tiny"
    assert model.feature_norm in ("l2", "none") and isinstance(model.accepts_missing, bool)
    images, labels = make_batch(mods)
    images["sar" if "sar" not in mods else "tir"] = torch.zeros(8, 3, 64, 32)  # unused modalities are ignored
    # a method declaring sample_fields gets them as forward/embed(..., fields=...) (the engine's calls)
    fields = _fields_for(model, images)
    extra = {"fields": fields} if fields else {}
    model.train()
    outputs = model(images, **extra)
    total, parts = model.loss(outputs, labels)
    assert total.ndim == 0 and torch.isfinite(total)
    assert parts and all(isinstance(v, float) for v in parts.values())
    # class logits through the contract: per modality, (B, C)
    logits = model.class_logits(outputs)
    assert set(logits) <= set(mods)
    for m, lg in logits.items():
        assert lg.shape == (8, NUM_CLASSES), m
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    backbones = [b for b in model.modules() if isinstance(b, Backbone)]
    assert backbones and all(sum(p.grad.abs().sum() for p in b.parameters() if p.grad is not None) > 0
                             for b in backbones), "a backbone gets no gradient"
    model.eval()
    emb = model.embed(images, **extra)
    keys = model.embedding_keys()
    assert set(mods) <= set(keys) and set(emb) == set(keys), (sorted(emb), keys)
    for k, v in emb.items():
        assert v.ndim == 2 and v.shape[0] == 8 and torch.isfinite(v).all() and not v.requires_grad, k
    if model.has_cam_fusion:
        out = model.cam_fusion({m: images[m] for m in mods})
        assert set(out["cams"]) == set(mods) and out["alpha"].shape[-1] == len(mods)
    else:
        with pytest.raises(NotImplementedError, match="cam"):
            model.cam_fusion(images)


@pytest.mark.parametrize("name", METHODS)
def test_missing_modality_is_a_clear_error(name, make_batch):
    mods = _smoke_modalities(name)
    model = create_method(name, NUM_CLASSES, mods, **TINY)
    images, _ = make_batch(("sar",) if "sar" not in mods else ("tir",))
    with pytest.raises(KeyError, match=f"needs modality '{mods[0]}'"):
        model(images)


@pytest.mark.parametrize("name", METHODS)
def test_seeded_build_is_reproducible(name):
    mods = _smoke_modalities(name)
    torch.manual_seed(3)
    a = create_method(name, NUM_CLASSES, mods, **TINY)
    torch.manual_seed(3)
    b = create_method(name, NUM_CLASSES, mods, **TINY)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_unknown_methods_and_modalities():
    with pytest.raises(ValueError, match="unknown method 'hamnett'.*hamnet"):
        create_method("hamnett", 4, ("rgb", "nir"))
    with pytest.raises(ValueError, match="unknown modalities"):
        canonical_modalities(("rgb", "ir"))
    assert canonical_modalities(("nir", "rgb")) == ("rgb", "nir")


def test_planned_methods_raise_not_implemented(monkeypatch):
    name = "planned_method"  # every seed method is implemented today; the mechanism stays tested
    monkeypatch.setitem(PLANNED, name, "a seed paper's method not written yet")
    with pytest.raises(NotImplementedError, match=f"{name}.*not implemented"):
        create_method(name, 4, ("rgb", "nir"))
    with pytest.raises(NotImplementedError):
        default_config(name)


# ---- every registered table ----------------------------------------------------------------

@pytest.mark.parametrize("table", TABLES)
def test_table_rows_columns_and_claims_are_registered(table):
    from reidlab.data.registry import get_layout
    from reidlab.engine.config import TrainConfig
    from reidlab.eval.protocols import get_protocol
    from reidlab.methods.registry import merge_config

    spec = get_table(table)
    assert spec.name == table and spec.rows and spec.columns
    for col in spec.columns:
        assert get_protocol(col).dataset == spec.dataset, col
    layout_mods = set(get_layout(spec.dataset).modalities)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for row in spec.rows:
        assert row.method in METHODS, f"row {row.label!r}: method {row.method!r} is not registered"
        assert set(row.overrides) <= fields, (row.label, sorted(set(row.overrides) - fields))
        assert set(row.overrides.get("modalities") or ()) <= layout_mods, row.label
        merge_config(row.method, dict(row.overrides.get("method_overrides", {})))  # unknown keys raise
    labels = {r.label for r in spec.rows}
    for c in spec.claims:
        assert c.kind in CLAIM_KINDS and re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+", c.id), c.id
        assert c.text and {c.a, c.b} - {None} <= labels, c.id
        assert {c.protocol, c.protocol_b} - {None} <= set(spec.columns), c.id
        for lbl, p in ((c.a, c.protocol), (c.b, c.protocol_b or c.protocol)):  # each side is a cell the table fills
            if lbl is not None and p is not None:
                assert p in spec.row_protocols(spec.row(lbl)), (c.id, lbl, p)
        if spec.paper is not None:
            assert c.paper == spec.paper[0], c.id


def test_claim_ids_are_unique():
    ids = [c.id for t in TABLES for c in get_table(t).claims]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("table", [t for t in TABLES if get_table(t).paper is not None])
def test_paper_match_finds_one_card_row(table):
    """When the dataset's card holds the paper's table, every row with a ``paper_match`` finds
    exactly one paper number per protocol it fills (fake ours at 0)."""
    from reidlab.analysis.tables import compare_with_paper
    from reidlab.data.cards import paper_results

    spec = get_table(table)
    paper = paper_results(spec.dataset, table=spec.paper[1], paper=spec.paper[0])
    if paper.empty:
        pytest.skip(f"the {spec.dataset} card has no {spec.paper}")
    rows = [r for r in spec.rows if r.paper_match]
    assert rows, f"{table}: no row names its paper row (paper_match)"
    ours = pd.DataFrame([{"row": r.label, "protocol": p, **{m: 0.0 for m in ("mAP", "R1", "R5", "R10")}}
                         for r in rows for p in spec.row_protocols(r)])
    cmp = compare_with_paper(ours, spec, paper_df=paper)
    missing = cmp[(cmp.metric == "mAP") & cmp.paper.isna()][["row", "protocol"]].values.tolist()
    assert not missing, f"{table}: rows without a paper number in the card: {missing}"
