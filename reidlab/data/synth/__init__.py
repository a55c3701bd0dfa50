"""Synthetic multi-spectral re-identification data written in the real datasets' native layouts.

``generate(layout, out_dir, preset="smoke", seed=0, **overrides) -> Path`` renders vehicles
(ships for ``hoss``) procedurally with numpy + Pillow and writes them exactly as the real
benchmark is laid out (see :mod:`reidlab.data.synth.generate` for folders and filenames and
``UCMVEID_LAYOUT.md`` for the layout reidlab defines for UCM-VeID).
``ensure_synthetic`` caches one generation per (layout, preset, seed, parameters).
``descriptor_retrieval_report`` measures how hard the data is with a fixed pixel descriptor.
"""
from reidlab.data.synth.cache import ensure_synthetic
from reidlab.data.synth.generate import generate
from reidlab.data.synth.presets import LAYOUTS, PRESETS, resolve_params

__all__ = ["LAYOUTS", "PRESETS", "generate", "ensure_synthetic", "resolve_params", "descriptor_retrieval_report"]


def __getattr__(name: str):
    if name == "descriptor_retrieval_report":  # lazy: keeps `import reidlab.data.synth` light
        from reidlab.data.synth.properties import descriptor_retrieval_report

        return descriptor_retrieval_report
    raise AttributeError(name)
