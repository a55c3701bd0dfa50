"""`reidlab data check` exits 0 on a good tree and 1 on a broken one."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fixtures import make_hoss, make_msvr310, make_sidebyside  # noqa: E402

from reidlab.cli import main  # noqa: E402
from reidlab.data.check import check_dataset  # noqa: E402


def test_check_good_tree_exits_zero(tmp_path, capsys):
    make_sidebyside(tmp_path)
    assert main(["data", "check", str(tmp_path), "--dataset", "rgbn300"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "train" in out and "rgb=6 nir=6" in out and "c1=2 c8=2" in out
    assert "card:" in out  # compared with the data card (or says why not)


def test_check_full_decode_on_hoss(tmp_path, capsys):
    make_hoss(tmp_path)
    assert main(["data", "check", str(tmp_path), "--dataset", "hoss", "--full"]) == 0
    assert "11 image file(s) decoded" in capsys.readouterr().out


def test_check_corrupt_image_exits_one(tmp_path, capsys):
    make_sidebyside(tmp_path)
    bad = tmp_path / "rgbir" / "query" / "0004_c0003_000.jpg"
    bad.write_bytes(b"garbage")
    assert main(["data", "check", str(tmp_path), "--dataset", "rgbn300"]) == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and "0004_c0003_000.jpg" in out and "FAILED" in out


def test_check_truncated_image_only_caught_with_full(tmp_path):
    make_msvr310(tmp_path)
    bad = sorted((tmp_path / "bounding_box_train" / "0001" / "th").iterdir())[0]
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    bad.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # header intact, scan data cut
    assert check_dataset("msvr310", tmp_path).ok  # the header still parses
    rep = check_dataset("msvr310", tmp_path, full=True)
    assert not rep.ok and any(bad.name in e for e in rep.errors)


def test_check_layout_error_exits_one(tmp_path, capsys):
    make_msvr310(tmp_path)
    for f in (tmp_path / "query3" / "0004" / "ni").iterdir():
        f.unlink()
    assert main(["data", "check", str(tmp_path), "--dataset", "msvr310"]) == 1
    assert "no ni partner" in capsys.readouterr().out


def test_check_compares_with_card(tmp_path):
    make_sidebyside(tmp_path)
    from reidlab.data.cards import expected_counts

    rep = check_dataset("rgbn300", tmp_path)
    assert rep.ok and rep.card_notes
    exp = expected_counts("rgbn300")  # the RGBN300 card gives split sizes: a failure here is a real error
    assert exp["train"]["ids"] == 150 and exp["train"]["records"] == 25200
    # the fixture tree has 3 train IDs / 6 records / 12 images: each difference is named with both counts
    train_note = next(n for n in rep.card_notes if n.startswith("train: differs"))
    assert "150 IDs" in train_note and "25200 records" in train_note and "3 / 6 / 12" in train_note
