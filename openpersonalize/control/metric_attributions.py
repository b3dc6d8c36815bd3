"""Metric attributions: Create, Update and ListMetricAttributionMetrics (Describe/List/Delete: kinds.py).

One per dataset group, as in Personalize. A new one is CREATE PENDING until its first publication
job makes it ACTIVE; it counts only events that arrive after it was created. What it measures is
``attribution_metrics.py``; when and where it reports, ``attribution_reports.py``.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputException, ResourceAlreadyExistsException, ResourceInUseException
from ..jobs.runner import JobHandler
from ..store.metadata import Resource
from .attribution_metrics import check_metrics, check_names, loaded, stored
from .attribution_reports import OUTPUT_PATH, publish
from .base import ACTIVE, Call, Control, insert_resource, paginate_items
from .kinds import DATASET_GROUP, METRIC_ATTRIBUTION
from .locations import check_location


def _output_config(call: Call, config: dict[str, Any]) -> dict[str, Any]:
    """``metricsOutputConfig`` with its output path checked (a local one must be an allowed directory)."""
    path = (config.get("s3DataDestination") or {}).get("path")
    if path is not None:
        check_location(path, call.control.settings.roots, OUTPUT_PATH)
    return config


def create_metric_attribution(call: Call) -> dict[str, Any]:
    p = call.params
    group = DATASET_GROUP.get(call, p["datasetGroupArn"])
    metrics = check_metrics(call, group.arn, p["metrics"], "metrics")
    if not metrics:
        raise InvalidInputException("metrics must hold at least one metric.")
    check_names(metrics, "metrics")
    arn = METRIC_ATTRIBUTION.arn(call, p["name"])
    doc = {
        "name": p["name"],
        "metricAttributionArn": arn,
        "datasetGroupArn": group.arn,
        "metricsOutputConfig": _output_config(call, p["metricsOutputConfig"]),
        "metrics": stored(metrics),
    }

    def one_per_group(siblings: list[Resource]) -> None:
        if siblings:
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has metric attribution {siblings[0].arn}; "
                "a dataset group has at most one."
            )

    res = Resource(arn, METRIC_ATTRIBUTION.kind, p["name"], group.arn, METRIC_ATTRIBUTION.status.initial, doc)
    mark = call.control.events.max_event_id(group.arn)
    insert_resource(call, res, METRIC_ATTRIBUTION.label, job_kind=METRIC_ATTRIBUTION.kind, guard=one_per_group)
    call.control.attribution.start(arn, mark)
    return {"metricAttributionArn": arn}


def update_metric_attribution(call: Call) -> dict[str, Any]:
    p = call.params
    arn = p.get("metricAttributionArn")
    if not arn:
        raise InvalidInputException("metricAttributionArn is required.")
    res = METRIC_ATTRIBUTION.get(call, arn)
    if res.status != ACTIVE:
        raise ResourceInUseException(f"Metric attribution {arn} is not ACTIVE (status: {res.status}).")
    current = loaded(res.doc)
    names = {m.name for m in current}
    removed = list(p.get("removeMetrics") or [])
    for n, name in enumerate(removed, start=1):
        if name not in names:
            raise InvalidInputException(f"removeMetrics.{n}: metric attribution {arn} has no metric {name}.")
    kept = [m for m in current if m.name not in removed]
    added = check_metrics(call, res.doc["datasetGroupArn"], p.get("addMetrics") or [], "addMetrics")
    for n, metric in enumerate(added, start=1):
        if metric.name in {m.name for m in kept}:
            raise ResourceAlreadyExistsException(f"addMetrics.{n}: metric {metric.name} already exists in {arn}.")
    check_names(kept + added, "addMetrics")
    changes: dict[str, Any] = {"metrics": stored(kept + added)}
    if p.get("metricsOutputConfig") is not None:
        changes["metricsOutputConfig"] = _output_config(call, p["metricsOutputConfig"])
    if call.store.update(arn, only_if=(ACTIVE,), expect={"metrics": res.doc["metrics"]}, **changes) is None:
        raise ResourceInUseException(f"Metric attribution {arn} was changed or deleted meanwhile; try again.")
    call.control.attribution.forget_metrics(arn, removed)
    return {"metricAttributionArn": arn}


def list_metric_attribution_metrics(call: Call) -> dict[str, Any]:
    arn = call.params.get("metricAttributionArn")
    if not arn:
        raise InvalidInputException("metricAttributionArn is required.")
    metrics = [m.as_member() for m in loaded(METRIC_ATTRIBUTION.get(call, arn).doc)]
    page, token = paginate_items(call, metrics, "metric-attribution-metric")
    return {"metrics": page, "nextToken": token}


def job_handlers(control: Control) -> dict[str, JobHandler]:
    return {
        METRIC_ATTRIBUTION.kind: JobHandler(
            lambda arn: publish(control, arn),
            lambda arn, why: _failed(control, arn, why),
        )
    }


def _failed(control: Control, arn: str, reason: str) -> None:
    """A publication that cannot run: a new attribution fails; an ACTIVE one shows why and stays ACTIVE."""
    res = control.store.get(arn)
    if res is not None and METRIC_ATTRIBUTION.unfinished(res):
        METRIC_ATTRIBUTION.fail(control, arn, reason)
    elif res is not None:
        control.store.update(arn, failureReason=reason)


OPERATIONS = {
    "CreateMetricAttribution": create_metric_attribution,
    "UpdateMetricAttribution": update_metric_attribution,
    "ListMetricAttributionMetrics": list_metric_attribution_metrics,
}
