"""JSON artifacts written strictly: every JSON file distml writes is standard JSON (RFC 8259).

Python's ``json`` writes NaN and infinities as the non-standard literals ``NaN`` and
``Infinity``, which other readers (JavaScript, jq, Java, Spark) reject. Here a non-finite float
is written as null, numpy scalars as plain numbers, anything else unknown as its text, and the
writer refuses to emit a literal that slipped through (``allow_nan=False``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def strict(obj: Any) -> Any:
    """``obj`` with non-finite floats as None and numpy scalars and arrays as Python values."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    if isinstance(obj, np.generic | np.ndarray):
        return strict(obj.tolist())
    return obj


def dumps(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Standard JSON text of ``obj`` (see the module docstring)."""
    return json.dumps(strict(obj), indent=indent, default=str, allow_nan=False, sort_keys=sort_keys)


def write_json(path: str, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as standard JSON to a local ``path``."""
    with open(path, "w") as f:
        f.write(dumps(obj, indent))
