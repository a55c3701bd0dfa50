"""benchmarks/bench_gpu.py runs on the CPU in its reduced mode: explicitly (--quick) or by itself without CUDA."""
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def test_bench_gpu_cpu_smoke_without_cuda(tmp_path, monkeypatch, capsys):
    """No flag, no CUDA (as `make bench` runs it on a CPU machine): the reduced mode, figures printed."""
    import bench_gpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "q.json"
    assert bench_gpu.main(["--out", str(out), "--synth-cache", str(tmp_path / "synth"),
                           "--steps", "1", "--warmup", "0"]) == 0
    printed = capsys.readouterr().out
    assert "reduced CPU smoke mode" in printed and "| fp32 | False |" in printed and "loader share" in printed
    res = json.loads(out.read_text())
    assert res["mode"] == "quick" and (res["P"], res["K"]) == (4, 2)
    assert [r["amp"] for r in res["train"]] == ["fp32", "fp32"]
    assert all(r["compute_img_s"] > 0 for r in res["train"])
    assert 0 < res["loader"]["load_share"]
    assert res["eval"][0]["device"] == "cpu" and 0 < res["eval"][0]["mAP"] <= 1
