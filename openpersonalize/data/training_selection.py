"""What a solution trains on: solutionConfig's selection fields applied to the dataset tables.

``eventType`` and ``eventValueThreshold`` keep the interactions of one type and at least that value;
``eventsConfig`` keeps the listed event types, each at or above its own threshold, weighted by its
weight (carried as the ``WEIGHT_COLUMN``, which ``TrainingData`` reads); ``trainingDataConfig`` drops
(or keeps only) the named columns; ``featureTransformationParameters``' history-length percentiles
leave out the users with the shortest and longest histories. One parser serves CreateSolution's
checks and the training job, so what is accepted is what trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Not a valid Avro field name, so it never collides with a schema's column.
WEIGHT_COLUMN = "@weight"
DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS")
# The columns training cannot do without, per dataset type.
REQUIRED_COLUMNS = {"INTERACTIONS": {"USER_ID", "ITEM_ID", "TIMESTAMP"}, "ITEMS": {"ITEM_ID"}, "USERS": {"USER_ID"}}
HISTORY_PERCENTILES = ("min_hist_length_percentile", "max_hist_length_percentile")


@dataclass(frozen=True)
class EventParameters:
    """One entry of eventsConfig.eventParametersList."""

    threshold: float | None
    weight: float


@dataclass(frozen=True)
class TrainingSelection:
    """The interactions, columns and users a solution version trains on."""

    event_type: str | None = None
    value_threshold: float | None = None
    events: dict[str, EventParameters] = field(default_factory=dict)
    excluded: dict[str, list[str]] = field(default_factory=dict)
    included: dict[str, list[str]] = field(default_factory=dict)
    history_percentiles: tuple[float, float] | None = None

    @classmethod
    def from_solution(
        cls, event_type: str | None, config: dict[str, Any], member: str = "solutionConfig"
    ) -> TrainingSelection:
        """Parse a solution's eventType and ``config`` (the request's ``member``, solutionConfig or UpdateSolution's
        solutionUpdateConfig); ValueError naming the member that is wrong."""
        threshold = config.get("eventValueThreshold")
        events: dict[str, EventParameters] = {}
        for n, entry in enumerate((config.get("eventsConfig") or {}).get("eventParametersList") or []):
            name = entry.get("eventType")
            where = f"{member}.eventsConfig.eventParametersList[{n}]"
            if not name:
                raise ValueError(f"{where}.eventType is required.")
            if name in events:
                raise ValueError(f"{where}.eventType {name!r} is listed twice.")
            events[name] = EventParameters(entry.get("eventValueThreshold"), float(entry.get("weight", 1.0)))
        data_config = config.get("trainingDataConfig") or {}
        return cls(
            event_type=event_type or None,
            value_threshold=None if threshold is None else _number(threshold, "solutionConfig.eventValueThreshold"),
            events=events,
            excluded=_columns(data_config.get("excludedDatasetColumns"), "excludedDatasetColumns", required=True),
            included=_columns(data_config.get("includedDatasetColumns"), "includedDatasetColumns", required=False),
            history_percentiles=_percentiles(config.get("featureTransformationParameters") or {}),
        )

    def columns(self, dataset_type: str, table: pa.Table | None) -> pa.Table | None:
        """``table`` without its excluded columns (or with only its included and required ones)."""
        if table is None:
            return None
        keep = [c for c in table.column_names if c not in set(self.excluded.get(dataset_type, ()))]
        if dataset_type in self.included:
            wanted = set(self.included[dataset_type]) | REQUIRED_COLUMNS[dataset_type] | {"EVENT_TYPE", "EVENT_VALUE"}
            keep = [c for c in keep if c in wanted]
        return table.select(keep) if len(keep) != table.num_columns else table

    def interactions(self, table: pa.Table) -> pa.Table:
        """The interactions that train, with a ``WEIGHT_COLUMN`` when eventsConfig weighs event types."""
        names = table.column_names
        if (self.event_type or self.events) and "EVENT_TYPE" not in names:
            raise ValueError("The solution selects event types but the Interactions dataset has no EVENT_TYPE.")
        if self.value_threshold is not None or any(p.threshold is not None for p in self.events.values()):
            if "EVENT_VALUE" not in names:
                raise ValueError(
                    "The solution sets an event value threshold but the Interactions dataset has no EVENT_VALUE."
                )
        if self.event_type:
            table = table.filter(pc.equal(table["EVENT_TYPE"], self.event_type))
        if self.value_threshold is not None:
            table = table.filter(pc.fill_null(pc.greater_equal(table["EVENT_VALUE"], self.value_threshold), False))
        if self.events:
            table = self._weighted(table)
        return self._history_lengths(table)

    def _weighted(self, table: pa.Table) -> pa.Table:
        types = pc.cast(table["EVENT_TYPE"], pa.string()).to_numpy(zero_copy_only=False)
        values = (
            pc.cast(table["EVENT_VALUE"], pa.float64()).to_numpy(zero_copy_only=False)
            if "EVENT_VALUE" in table.column_names
            else np.full(table.num_rows, np.nan)
        )
        keep = np.zeros(table.num_rows, bool)
        weights = np.zeros(table.num_rows, np.float32)
        for name, params in self.events.items():
            rows = types == name
            if params.threshold is not None:
                rows &= values >= params.threshold
            keep |= rows
            weights[rows] = params.weight
        table = table.append_column(WEIGHT_COLUMN, pa.array(weights))
        return table.filter(pa.array(keep))

    def _history_lengths(self, table: pa.Table) -> pa.Table:
        if self.history_percentiles is None or table.num_rows == 0:
            return table
        users = pc.cast(table["USER_ID"], pa.string())
        counts = pc.value_counts(users)
        lengths = counts.field("counts").to_numpy().astype(np.float64)
        lo, hi = np.quantile(lengths, self.history_percentiles)
        kept = counts.field("values").filter(pa.array((lengths >= lo) & (lengths <= hi)))
        return table.filter(pc.is_in(users, value_set=kept))


def _number(value: Any, member: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{member} must be a number, got {value!r}.") from None
    if not np.isfinite(number):
        raise ValueError(f"{member} must be a finite number, got {value!r}.")
    return number


def _columns(mapping: Any, member: str, required: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for dataset_type, columns in (mapping or {}).items():
        where = f"solutionConfig.trainingDataConfig.{member}"
        if dataset_type not in DATASET_TYPES:
            raise ValueError(f"{where}: {dataset_type!r} is not a dataset type ({', '.join(DATASET_TYPES)}).")
        needed = sorted(set(columns) & REQUIRED_COLUMNS[dataset_type]) if required else []
        if needed:
            raise ValueError(f"{where}: {dataset_type} column {needed[0]} is required for training.")
        out[dataset_type] = list(columns)
    return out


def _percentiles(parameters: dict[str, Any]) -> tuple[float, float] | None:
    if not any(name in parameters for name in HISTORY_PERCENTILES):
        return None
    lo, hi = (
        _number(parameters.get(name, default), f"solutionConfig.featureTransformationParameters.{name}")
        for name, default in zip(HISTORY_PERCENTILES, (0.0, 1.0), strict=True)
    )
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(
            "solutionConfig.featureTransformationParameters: need 0 <= min_hist_length_percentile <= "
            f"max_hist_length_percentile <= 1, got {lo} and {hi}."
        )
    return lo, hi
