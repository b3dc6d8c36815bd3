"""Dataset groups and datasets: what a group holds, a dataset's schema and figures, its import jobs."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..control.datasets import snapshot_path
from ..control.kinds import (
    BATCH_INFERENCE_JOB,
    BATCH_SEGMENT_JOB,
    CAMPAIGN,
    DATA_DELETION_JOB,
    DATASET,
    DATASET_EXPORT_JOB,
    DATASET_GROUP,
    DATASET_IMPORT_JOB,
    EVENT_TRACKER,
    FILTER,
    SCHEMA,
    SOLUTION,
    SOLUTION_VERSION,
)
from ..data.dataset_stats import summarise
from .service import region_of
from .web import PAGE_SIZE, Console, Pager, PageRequest, Rendered, arn_url, finished_duration

CHART_DAYS = 400  # the interactions-per-day chart shows at most this many (the newest) days


def groups_page(console: Console, page: PageRequest) -> Rendered:
    """One page of ListDatasetGroups (newest first); its nextToken makes the "Next" link."""
    listed = console.service.call("ListDatasetGroups", maxResults=PAGE_SIZE, nextToken=page.query.get("token") or None)
    values = {
        "groups": listed.get("datasetGroups", []),
        "next": listed.get("nextToken"),
        "first": "token" in page.query,
    }
    return Rendered("groups.html", values)


def group_page(console: Console, page: PageRequest) -> Rendered:
    """A dataset group and everything under it, one table per kind."""
    arn = page.path["arn"]
    svc = console.service
    group = svc.describe(DATASET_GROUP, arn)
    solutions = svc.listing(SOLUTION, arn)
    campaigns = [c for s in solutions for c in svc.listing(CAMPAIGN, s["solutionArn"])]
    versions = [v for s in solutions for v in svc.listing(SOLUTION_VERSION, s["solutionArn"])]
    jobs = [
        *(j for v in versions for kind in (BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB) for j in _jobs(svc, kind, v)),
        *(dict(j, kind="Data deletion job") for j in svc.listing(DATA_DELETION_JOB, arn)),
    ]
    datasets = svc.listing(DATASET, arn)
    for dataset in datasets:
        jobs += [dict(j, kind="Dataset export job") for j in svc.listing(DATASET_EXPORT_JOB, dataset["datasetArn"])]
    values = {
        "group": group,
        "datasets": datasets,
        "solutions": solutions,
        "campaigns": campaigns,
        "filters": svc.listing(FILTER, arn),
        "trackers": svc.listing(EVENT_TRACKER, arn),
        "jobs": jobs,
    }
    return Rendered("group.html", values)


def _jobs(svc: Any, kind: Any, version: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(j, kind=kind.label) for j in svc.listing(kind, version["solutionVersionArn"])]


def dataset_page(console: Console, page: PageRequest) -> Rendered:
    """A dataset's schema, its snapshot's figures (rows, distinct users and items, event types, a chart of
    interactions per day) and its import jobs."""
    arn = page.path["arn"]
    svc = console.service
    dataset = svc.describe(DATASET, arn)
    schema = svc.describe(SCHEMA, dataset["schemaArn"])
    fields = json.loads(schema.get("schema") or "{}").get("fields", [])
    res = svc.control.store.get(arn)
    summary = summarise(snapshot_path(svc.control, res)) if res is not None else None
    days = summary.per_day[-CHART_DAYS:] if summary else []
    chart = {"series": ["Interactions"], "data": [[d for d, _ in days], [n for _, n in days]], "time": True}
    imports = Pager.of(svc.listing(DATASET_IMPORT_JOB, arn), page.page_number())
    for job in imports.rows:
        job["rows"] = svc.rows_imported(job["datasetImportJobArn"])
        job["duration"] = finished_duration(job)
    values = {
        "dataset": dataset,
        "fields": [_field(f) for f in fields],
        "summary": summary,
        "chart": chart if days else None,
        "imports": imports,
        "default_job": f"console-import-{uuid.uuid4().hex[:8]}",
    }
    return Rendered("dataset.html", values)


def _field(spec: dict[str, Any]) -> dict[str, Any]:
    """A schema field as the page shows it: its types (without null) and whether it is optional."""
    kinds = spec.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return {
        "name": spec.get("name"),
        "type": " | ".join(str(k) for k in kinds if k != "null"),
        "optional": "null" in kinds,
        "categorical": bool(spec.get("categorical")),
        "textual": bool(spec.get("textual")),
    }


def start_import(console: Console, page: PageRequest) -> Response:
    """CreateDatasetImportJob from the dataset page's form; then the job's page, where its progress shows."""
    arn = page.path["arn"]
    form = page.form
    params: dict[str, Any] = {
        "jobName": form.get("jobName", "").strip(),
        "datasetArn": arn,
        "dataSource": {"dataLocation": form.get("dataLocation", "").strip()},
        "importMode": form.get("importMode") or None,
    }
    if form.get("roleArn", "").strip():
        params["roleArn"] = form["roleArn"].strip()
    job = console.service.call("CreateDatasetImportJob", region_of(arn), **params)["datasetImportJobArn"]
    return RedirectResponse(arn_url(job), 303)


def routes(console: Console) -> list[Route]:
    return [
        Route("/console/dataset-groups", console.page(groups_page)),
        Route("/console/dataset-group/{arn:path}", console.page(group_page)),
        Route("/console/dataset/{arn:path}/import", console.page(start_import), methods=["POST"]),
        Route("/console/dataset/{arn:path}", console.page(dataset_page)),
    ]
