"""A solution's optimizationObjective, learnt once at training time as one value per item.

The item attribute's percentile among the catalogue's items, times how far the objective's
sensitivity lets it move a ranking (a fraction of the score spread); the runtime adds it to a
request's scores (``runtime/leaning.py``). Any recipe's model carries it the same way, as its
``OBJECTIVE_LEAN`` array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

OBJECTIVE_LEAN = "objective_lean"
SENSITIVITY = {"OFF": 0.0, "LOW": 0.1, "MEDIUM": 0.25, "HIGH": 0.5}


def percentiles(values: np.ndarray) -> np.ndarray:
    """Each value's percentile rank in [0, 1] (ties share the lower rank); NaN ranks 0."""
    values = np.asarray(values, np.float64)
    known = ~np.isnan(values)
    out = np.zeros(len(values), np.float32)
    if known.sum() > 1:
        ranks = np.searchsorted(np.sort(values[known]), values[known], side="left")
        out[known] = ranks / (known.sum() - 1)
    return out


def objective_lean(objective: dict[str, Any], items: pa.Table | None, item_ids: np.ndarray) -> np.ndarray:
    """One lean per model item (in ``item_ids`` order) for an optimizationObjective; ValueError when its
    itemAttribute is not a numeric column of the Items dataset."""
    attribute = objective.get("itemAttribute")
    weight = SENSITIVITY[objective.get("objectiveSensitivity") or "MEDIUM"]
    if items is None or attribute not in items.column_names:
        raise ValueError(f"optimizationObjective.itemAttribute {attribute!r} is not a column of the Items dataset.")
    column = items[attribute]
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise ValueError(f"optimizationObjective.itemAttribute {attribute!r} is not a numeric column.")
    ids = pc.cast(items["ITEM_ID"], pa.string()).to_pylist()
    by_id = dict(zip(ids, pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).tolist(), strict=True))
    values = np.array([by_id.get(str(i), np.nan) for i in item_ids.tolist()], np.float64)
    return (weight * percentiles(values)).astype(np.float32)
