"""The fixed-descriptor gap check of ``tests/test_synth.py::test_modality_gap_and_night`` as figures, per
generator setting: on its small rgbnt100 set (``GAP_CHECK_OVERRIDES``) it prints rgb->rgb mAP and, for
rgb->nir, rgb->tir and nir->rgb, mAP / chance (the test's limit: < 1.5) and mAP / rgb->rgb mAP (limit:
< 0.65). Each argument is one setting, ``KNOB=VALUE[;KNOB=VALUE]``; none = as shipped::

    python benchmarks/bench_descriptor_gap.py "" "nir_paint_predictability=0.75" "nir_paint_predictability=0.8"
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reidlab.data.synth import generate  # noqa: E402
from reidlab.data.synth.properties import GAP_CHECK_OVERRIDES, descriptor_retrieval_report  # noqa: E402
from reidlab.engine.config import parse_overrides  # noqa: E402


def main(argv: list[str]) -> None:
    print(f"{'setting':36s} {'rgb->rgb':>8s}  " + "  ".join(f"{c:>20s}" for c in ("rgb->nir", "rgb->tir", "nir->rgb"))
          + "   (x chance / of rgb->rgb)")
    for arg in argv or [""]:
        knobs = parse_overrides([x for x in arg.split(";") if x.strip()])
        with tempfile.TemporaryDirectory() as tmp:
            root = generate("rgbnt100", Path(tmp) / "d", **{**GAP_CHECK_OVERRIDES, **knobs})
            pairs = descriptor_retrieval_report(root, "rgbnt100")["pairs"]
        same = pairs["rgb->rgb"]["mAP"]
        chance = pairs["rgb->rgb"]["chance_mAP"]
        cells = [f"{pairs[c]['mAP'] / chance:9.2f}x / {pairs[c]['mAP'] / same:5.2f}" for c in ("rgb->nir", "rgb->tir", "nir->rgb")]
        print(f"{arg or 'as shipped':36s} {same:8.3f}  " + "  ".join(f"{c:>20s}" for c in cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
