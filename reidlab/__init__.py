"""reidlab — a workbench for cross-modal and multi-spectral re-identification."""

__version__ = "0.1.0"

MODALITIES: tuple[str, ...] = ("rgb", "nir", "tir", "sar")
"""Canonical modality names and their canonical order. Optical satellite images are ``rgb``."""
