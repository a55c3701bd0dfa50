"""Plain-JSON conversion, the one helper for run records (engine) and key results (notebooks).

Kept free of torch and of other reidlab modules so that any layer (and the light notebook
runner) can import it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

__all__ = ["to_jsonable"]


def to_jsonable(value: Any, *, ndigits: int | None = None, max_rows: int | None = None) -> Any:
    """``value`` as plain JSON types (strict JSON: non-finite floats become None).

    Parameters
    ----------
    value : Any
        Numbers, str, bool, None, Path (-> str), mappings (keys -> str), lists/tuples, numpy
        scalars and arrays (-> Python numbers / lists), pandas Series (-> dict) and DataFrames
        (-> ``{"columns": [...], "data": [[...], ...]}``), nested in any way.
    ndigits : int, optional
        Round floats to this many decimals (None: keep them exact).
    max_rows : int, optional
        Keep only the first ``max_rows`` rows of a DataFrame.

    Returns
    -------
    Any
        A value ``json.dumps`` writes without a custom encoder.

    Raises
    ------
    TypeError
        Naming the type, for anything else (an object is never stored as its repr).
    """
    try:  # numpy / pandas are imported lazily so that importing this module stays cheap
        import numpy as np
        import pandas as pd
    except ImportError:  # pragma: no cover - both are reidlab dependencies
        np = pd = None  # type: ignore[assignment]

    def conv(v: Any) -> Any:
        return to_jsonable(v, ndigits=ndigits, max_rows=max_rows)

    if pd is not None and isinstance(value, pd.DataFrame):
        df = (value if max_rows is None else value.head(max_rows)).reset_index()
        if "index" in df.columns and isinstance(value.index, pd.RangeIndex):
            df = df.drop(columns="index")
        return {"columns": [str(c) for c in df.columns],
                "data": [[conv(v) for v in row] for row in df.itertuples(index=False)]}
    if pd is not None and isinstance(value, pd.Series):
        return {str(k): conv(v) for k, v in value.items()}
    if np is not None and isinstance(value, np.ndarray):
        return [conv(v) for v in value.tolist()]
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(value) if ndigits is None else round(value, ndigits)
    if isinstance(value, Mapping):
        return {str(k): conv(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [conv(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot convert a {type(value).__name__} to JSON; pass a number, string, bool, None, "
                    "list, dict, numpy array or a pandas DataFrame")
