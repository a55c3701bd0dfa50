"""reidlab.data: dataset records, native-layout loaders, image decoding, joint transforms.

Import-light: importing this package does not import torch (``torch_dataset`` and
``transforms`` import it when used).

    from reidlab.data import load_dataset
    data = load_dataset("rgbn300", root)        # ReIDData: .train / .query / .gallery
"""
from reidlab.data.errors import (
    DataError,
    DataWarning,
    FilenameError,
    ImageError,
    LabelRangeError,
    LayoutError,
    UnpairedModalityError,
)
from reidlab.data.records import ImageRef, Record, ReIDData
from reidlab.data.registry import list_datasets, load_dataset, register_dataset

__all__ = [
    "DataError", "DataWarning", "FilenameError", "ImageError", "LabelRangeError", "LayoutError",
    "UnpairedModalityError", "ImageRef", "Record", "ReIDData", "list_datasets", "load_dataset",
    "register_dataset",
]
