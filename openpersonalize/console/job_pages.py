"""Jobs (dataset import and export, data deletion, batch inference and segment): status, progress,
input and output locations, duration, and the first lines of the output once written."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ..control.kinds import KINDS
from ..control.locations import data_sources, s3_client
from ..errors import ServiceError
from ..store.local_files import LocationError
from .web import FINISHED, Console, PageRequest, Rendered, finished_duration

JOB_KINDS = (
    "dataset-import-job",
    "dataset-export-job",
    "data-deletion-job",
    "batch-inference-job",
    "batch-segment-job",
)
PREVIEW_LINES = 10
PREVIEW_BYTES = 16 * 1024


def _path(section: Any, *keys: str) -> str | None:
    for key in keys:
        section = section.get(key) if isinstance(section, dict) else None
    return section if isinstance(section, str) else None


def locations(job: dict[str, Any]) -> tuple[str | None, str | None]:
    """(input, output) locations of any job kind."""
    source = _path(job, "dataSource", "dataLocation") or _path(job, "jobInput", "s3DataSource", "path")
    return source, _path(job, "jobOutput", "s3DataDestination", "path")


def preview(console: Console, location: str) -> list[str]:
    """The first lines of the first output file under ``location`` (confined like every job's I/O)."""
    control = console.service.control
    try:
        sources = data_sources(location, control.settings.roots, lambda: s3_client(control.settings.s3_endpoint_url))
        with sources[0].open() as handle:
            head = handle.read(PREVIEW_BYTES)
    except (LocationError, ServiceError, OSError):
        return []
    lines = head.decode("utf-8", "replace").splitlines()
    return lines[: PREVIEW_LINES if len(head) < PREVIEW_BYTES else min(PREVIEW_LINES, len(lines) - 1)]


def job_page(kind_name: str) -> Any:
    """The page handler for jobs of one kind (its route names the kind)."""
    kind = KINDS[kind_name]

    def handler(console: Console, page: PageRequest) -> Rendered:
        arn = page.path["arn"]
        job = console.service.describe(kind, arn)
        source, output = locations(job)
        finished = job.get("status") in FINISHED
        values = {
            "arn": arn,
            "job": job,
            "label": kind.label,
            "source": source,
            "output": output,
            "finished": finished,
            "elapsed": finished_duration(job),
            "rows": console.service.rows_imported(arn),
            "fraction": console.service.progress(arn),
            "lines": preview(console, output) if output and finished else [],
        }
        return Rendered("job.html", values)

    return handler


def routes(console: Console) -> list[Route]:
    return [Route(f"/console/{kind}/{{arn:path}}", console.page(job_page(kind))) for kind in JOB_KINDS]
