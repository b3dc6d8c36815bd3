"""What a metric attribution measures: its metrics' expressions, checked against the dataset group's
schemas, and how a run of interactions folds into per-source, per-hour totals.

Personalize's expressions: ``SAMPLECOUNT()`` counts the metric's event type; ``SUM(Interactions.COL)``
sums a numeric column of the interactions (EVENT_VALUE, or a numeric field sent in ``properties``),
``SUM(Items.COL)`` a numeric column of the interacted item. An event's source is its
``eventAttributionSource`` when it has one, else the campaign or recommender whose answer carried
its ``recommendationId``, else ``SOURCE_NAME_UNDEFINED``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..data.schema import NUMERIC_TYPES, DatasetSchema
from ..errors import InvalidInputException
from ..runtime.service import recommendation_key
from ..store.attribution import TotalKey
from . import schemas
from .base import Call
from .kinds import DATASET

UNDEFINED_SOURCE = "SOURCE_NAME_UNDEFINED"
HOUR_SECONDS = 3600
MAX_METRICS = 10
_EXPRESSION = re.compile(r"\s*(?:(SAMPLECOUNT)\(\s*\)|(SUM)\(\s*(\w+)\s*\.\s*(\w+)\s*\))\s*", re.IGNORECASE)
_DATASET_TYPES = {"interactions": "INTERACTIONS", "items": "ITEMS"}


@dataclass(frozen=True)
class Metric:
    """One checked metric: ``column`` is None for SAMPLECOUNT, else (dataset type, schema field name)."""

    name: str
    event_type: str
    expression: str
    column: tuple[str, str] | None

    @property
    def function(self) -> str:
        return "samplecount" if self.column is None else "sum"

    def as_member(self) -> dict[str, str]:
        """The MetricAttribute shape."""
        return {"eventType": self.event_type, "metricName": self.name, "expression": self.expression}


def _schema(call: Call, group_arn: str, dataset_type: str) -> DatasetSchema | None:
    found = call.store.children(group_arn, (DATASET.kind,))
    dataset = next((d for d in found if d.doc.get("datasetType") == dataset_type), None)
    schema = dataset and call.store.get(dataset.doc["schemaArn"])
    return schemas.load_schema(schema) if schema else None


def check_metrics(call: Call, group_arn: str, members: Sequence[Mapping[str, Any]], where: str) -> list[Metric]:
    """The request's MetricAttribute members as Metrics, or InvalidInputException naming the bad one."""
    metrics = []
    for n, member in enumerate(members, start=1):
        at = f"{where}.{n}"
        name, event_type, text = member["metricName"], member["eventType"], member["expression"]
        if not name.strip():
            raise InvalidInputException(f"{at}.metricName must not be empty.")
        if not event_type.strip():
            raise InvalidInputException(f"{at}.eventType must not be empty.")
        found = _EXPRESSION.fullmatch(text)
        if found is None:
            raise InvalidInputException(
                f"{at}.expression {text!r} is not SAMPLECOUNT() or SUM(Interactions.COLUMN) / SUM(Items.COLUMN)."
            )
        column = None
        if found.group(2):
            column = _column(call, group_arn, found.group(3), found.group(4), f"{at}.expression {text!r}")
        metrics.append(Metric(name, event_type, text, column))
    return metrics


def _column(call: Call, group_arn: str, dataset: str, name: str, where: str) -> tuple[str, str]:
    dataset_type = _DATASET_TYPES.get(dataset.lower())
    if dataset_type is None:
        raise InvalidInputException(f"{where}: SUM() takes Interactions.COLUMN or Items.COLUMN, not {dataset}.")
    schema = _schema(call, group_arn, dataset_type)
    label = dataset_type.capitalize()
    if schema is None:
        raise InvalidInputException(f"{where}: dataset group {group_arn} has no {label} dataset to sum a column of.")
    spec = schema.field(name)
    numeric = [f.name for f in schema.fields if f.type in NUMERIC_TYPES]
    if spec is None or spec.type not in NUMERIC_TYPES:
        what = "no column" if spec is None else f"a {spec.type} column, not a numeric one, as"
        raise InvalidInputException(
            f"{where}: the {label} schema has {what} {name} (numeric columns: {', '.join(numeric) or 'none'})."
        )
    return dataset_type, spec.name


def check_names(metrics: Iterable[Metric], where: str) -> None:
    """At most ``MAX_METRICS`` metrics, each name once."""
    names = [m.name for m in metrics]
    if len(names) > MAX_METRICS:
        raise InvalidInputException(f"{where}: a metric attribution has at most {MAX_METRICS} metrics.")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInputException(f"{where}: metric name {name} is given more than once.")
        seen.add(name)


def stored(metrics: Iterable[Metric]) -> list[dict[str, Any]]:
    """Metrics as kept on the resource document."""
    return [{**m.as_member(), "column": list(m.column) if m.column else None} for m in metrics]


def loaded(doc: Mapping[str, Any]) -> list[Metric]:
    """A resource document's metrics."""
    return [
        Metric(m["metricName"], m["eventType"], m["expression"], tuple(m["column"]) if m["column"] else None)
        for m in doc.get("metrics", [])
    ]


@dataclass(frozen=True)
class Interaction:
    """What attribution reads of one interaction, live or imported."""

    event_type: str
    item_id: str | None
    timestamp: float
    event_value: float | None
    properties: Mapping[str, Any]
    recommendation_id: str | None
    attribution_source: str | None


def sources_of(interactions: Sequence[Interaction], resolve: Callable[[Iterable[str]], dict[str, str]]) -> list[str]:
    """Each interaction's source, resolving recommendationIds through ``resolve`` (key -> source ARN)."""
    keys = {rid: recommendation_key(rid) for i in interactions if (rid := i.recommendation_id)}
    known = resolve(k for k in keys.values() if k)
    out = []
    for i in interactions:
        key = keys.get(i.recommendation_id) if i.recommendation_id else None
        out.append(i.attribution_source or (known.get(key) if key else None) or UNDEFINED_SOURCE)
    return out


def fold(
    metrics: Sequence[Metric],
    interactions: Sequence[Interaction],
    sources: Sequence[str],
    item_value: Callable[[str, str], float | None],
) -> dict[TotalKey, float]:
    """What the interactions add to each metric, per source and hour (``item_value(item, column)`` reads Items)."""
    by_type: dict[str, list[Metric]] = defaultdict(list)
    for metric in metrics:
        by_type[metric.event_type].append(metric)
    totals: dict[TotalKey, float] = defaultdict(float)
    for interaction, source in zip(interactions, sources, strict=True):
        hour = int(interaction.timestamp // HOUR_SECONDS * HOUR_SECONDS)
        for metric in by_type.get(interaction.event_type, ()):
            value = _value(metric, interaction, item_value)
            if value is not None:
                totals[(metric.name, metric.event_type, metric.function, source, hour)] += value
    return dict(totals)


def _value(metric: Metric, interaction: Interaction, item_value: Callable[[str, str], float | None]) -> float | None:
    if metric.column is None:
        return 1.0
    dataset_type, column = metric.column
    if dataset_type == "ITEMS":
        return item_value(interaction.item_id, column) if interaction.item_id else None
    if column.upper() == "EVENT_VALUE":
        return interaction.event_value
    value = interaction.properties.get(column)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
