"""`reidlab eval FEATURES.npz --protocol NAME` and `reidlab protocols`."""
from __future__ import annotations

import pandas as pd

from reidlab.cli import main
from reidlab.eval import evaluate

from test_eval_protocols import make_features


def test_eval_prints_the_protocol_and_the_metrics(tmp_path, capsys):
    fs = make_features("rgbn300")
    path = fs.save(tmp_path / "feats.npz")
    out_csv = tmp_path / "pq.csv"
    assert main(["eval", str(path), "--protocol", "rgbn300/rgb-nir", "--per-query", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "rgbn300/rgb-nir" in out and "mAP" in out
    expected = evaluate(fs, "rgbn300/rgb-nir", n_boot=0).summary
    assert f"{100 * expected['mAP']:.2f}" in out
    pq = pd.read_csv(out_csv)
    assert len(pq) == expected["n_query"] and {"ap", "first_hit", "topk"} <= set(pq.columns)


def test_eval_all_cosine_and_rerank(tmp_path, capsys):
    path = make_features("hoss").save(tmp_path / "hoss.npz")
    assert main(["eval", str(path), "--protocol", "all", "--metric", "cosine"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ("hoss/all", "hoss/opt2sar", "hoss/sar2opt")) and "cosine" in out
    assert main(["eval", str(path), "--protocol", "hoss/all", "--rerank", "--k1", "5", "--k2", "2"]) == 0
    assert "k-reciprocal(k1=5, k2=2, lambda=0.3)" in capsys.readouterr().out


def test_eval_errors_are_clear(tmp_path, capsys):
    path = make_features("rgbn300").save(tmp_path / "f.npz")
    assert main(["eval", str(path), "--protocol", "hoss/all"]) == 2
    assert "--any-dataset" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.npz"), "--protocol", "rgbn300/rgb"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", str(path), "--protocol", "rgbn300/rgb", "--rerank", "--rerank-budget-gb", "0.000001"]) == 2
    assert "GiB" in capsys.readouterr().err


def test_protocols_listing(capsys):
    assert main(["protocols", "--dataset", "ucmveid"]) == 0
    out = capsys.readouterr().out
    assert "ucmveid/rgb2tir-single" in out and "10 seeded trials" in out and "hoss/all" not in out
    assert main(["protocols", "--dataset", "nope"]) == 2
