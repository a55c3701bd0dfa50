"""The dataset names, in one place: the six native layouts and the generic CSV manifest."""
from __future__ import annotations

#: datasets with a native folder layout, a data card and evaluation protocols
DATASETS: tuple[str, ...] = ("rgbn300", "rgbnt100", "msvr310", "wmveid863", "ucmveid", "hoss")
#: every built-in layout name accepted by ``load_dataset`` (the datasets plus the CSV manifest)
LAYOUTS: tuple[str, ...] = DATASETS + ("manifest",)
