"""User errors on the command line: one line naming the input and the fix, non-zero exit,
no traceback (unless ``--debug``). One case per command, run in-process (fast)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidlab.cli import main

REPO = Path(__file__).resolve().parents[1]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_user_error(rc: int, err: str, *must: str) -> None:
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    for m in must:
        assert m in lines[0], (m, lines[0])


def test_train_unknown_method(capsys) -> None:
    rc, _, err = _run(capsys, "train", "--config", str(REPO / "configs" / "smoke.yaml"), "method=nosuch")
    _assert_user_error(rc, err, "reidlab train: error", "'nosuch'", "msn")


def test_train_bad_config_value(capsys) -> None:
    rc, _, err = _run(capsys, "train", "--config", str(REPO / "configs" / "smoke.yaml"), "lr=abc")
    _assert_user_error(rc, err, "lr='abc'", "float", "lr=3.5e-4")


def test_train_missing_config_file(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "train", "--config", str(tmp_path / "nope.yaml"))
    _assert_user_error(rc, err, "nope.yaml", "does not exist")


def test_debug_shows_the_traceback(capsys) -> None:
    with pytest.raises(ValueError, match="nosuch"):
        main(["train", "--config", str(REPO / "configs" / "smoke.yaml"), "method=nosuch", "--debug"])


@pytest.mark.parametrize("kind", ["text", "pickled", "foreign"])
def test_eval_on_a_file_that_is_not_features(capsys, tmp_path: Path, kind: str) -> None:
    f = tmp_path / f"{kind}.npz"
    if kind == "text":
        f.write_text("not an archive\n")
    elif kind == "pickled":
        np.savez(f, meta=np.array([{"x": 1}], dtype=object))
    else:
        np.savez(f, a=np.zeros(3))
    rc, _, err = _run(capsys, "eval", str(f), "--protocol", "rgbn300/rgb2nir")
    _assert_user_error(rc, err, str(f), "features file")
    assert "allow_pickle" not in err


def test_extract_on_a_folder_that_is_not_a_run(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "extract", str(tmp_path), "--out", str(tmp_path / "f.npz"))
    _assert_user_error(rc, err, "reidlab extract: error", str(tmp_path), "reidlab train")


def test_data_synth_unknown_layout(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "data", "synth", "nosuch", "--out", str(tmp_path / "x"))
    _assert_user_error(rc, err, "reidlab data synth: error", "'nosuch'", "rgbn300")


def test_data_check_unknown_dataset(capsys, tmp_path: Path) -> None:
    rc, out, err = _run(capsys, "data", "check", str(tmp_path), "--dataset", "nosuch")
    assert rc != 0 and "Traceback" not in out + err
    assert "unknown dataset 'nosuch'" in out and "rgbn300" in out


def test_data_stats_missing_root(capsys, tmp_path: Path) -> None:
    rc, out, err = _run(capsys, "data", "stats", str(tmp_path / "none"), "--dataset", "rgbn300",
                        "--out", str(tmp_path / "s"))
    assert rc != 0 and "Traceback" not in out + err
    assert str(tmp_path / "none") in err and "does not exist" in err


def test_protocols_unknown_dataset(capsys) -> None:
    rc, _, err = _run(capsys, "protocols", "--dataset", "nosuch")
    _assert_user_error(rc, err, "'nosuch'", "rgbn300")


def test_notebooks_run_unknown_notebook(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "notebooks", "run", "--only", "99", "--out", str(tmp_path / "o"),
                      "--notebooks-dir", str(REPO / "notebooks"))
    _assert_user_error(rc, err, "reidlab notebooks run: error", "'99'")


def test_notebooks_run_missing_params_file(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "notebooks", "run", "--params", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "o"),
                      "--notebooks-dir", str(REPO / "notebooks"))
    _assert_user_error(rc, err, "p.yaml", "notebooks/params")


def test_pretrain_unknown_preset(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "pretrain", "--preset", "nosuch", "--out", str(tmp_path / "p"))
    _assert_user_error(rc, err, "reidlab pretrain: error", "'nosuch'", "smoke")


def test_pretrain_unknown_backbone(capsys, tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "pretrain", "--backbone", "nosuchnet", "--preset", "smoke", "--out", str(tmp_path / "p"),
                      "--synth-cache", str(tmp_path / "s"))
    _assert_user_error(rc, err, "reidlab pretrain: error", "'nosuchnet'", "resnet10t")
