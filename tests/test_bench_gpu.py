"""benchmarks/bench_gpu.py --quick runs on the CPU and writes its JSON."""
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def test_bench_gpu_quick(tmp_path):
    import bench_gpu
    out = tmp_path / "q.json"
    assert bench_gpu.main(["--quick", "--out", str(out), "--synth-cache", str(tmp_path / "synth"),
                           "--steps", "1", "--warmup", "0"]) == 0
    res = json.loads(out.read_text())
    assert [r["amp"] for r in res["train"]] == ["fp32", "fp32"]
    assert all(r["compute_img_s"] > 0 for r in res["train"])
    assert 0 < res["loader"]["load_share"]
    assert res["eval"][0]["device"] == "cpu" and 0 < res["eval"][0]["mAP"] <= 1
