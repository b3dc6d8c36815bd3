"""What the console reads and does, through the same operations boto3 reaches.

Every control-plane call is validated against botocore's model and shaped like its response,
exactly as ``api/app.py`` does for a signed request, so a page shows what a Describe* or List*
answers. Runtime calls go to the process's ``RuntimeService``.
"""

from __future__ import annotations

from typing import Any

from ..api.shapes import service_model, shape_output
from ..api.validation import validate_input
from ..control.base import Call, Control
from ..control.kinds import KINDS, ResourceKind
from ..control.operations import OPERATIONS
from ..runtime.service import RuntimeService

DEFAULT_REGION = "us-east-1"
MAX_LISTED = 10_000  # resources of one kind a page lists at most (pages show them 50 at a time)


def region_of(arn: str | None) -> str:
    """The region an ARN names (the console creates resources where their parent lives)."""
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 4 and parts[3] else DEFAULT_REGION


def resource_type(arn: str | None) -> str:
    """The kind an ARN names: its resource type, except that a solution version's ARN is its solution's
    with one more part (``solution/NAME/ID``), as in Personalize."""
    parts = (arn or "").split(":", 5)
    if len(parts) != 6:
        return "unknown"
    kind, _, rest = parts[5].partition("/")
    return "solution-version" if kind == "solution" and "/" in rest else kind


class ConsoleService:
    """Control-plane operations by name, and the runtime, for the console's pages."""

    def __init__(self, control: Control, runtime: RuntimeService) -> None:
        self.control = control
        self.runtime = runtime
        self.model = service_model("personalize")

    def call(self, operation: str, region: str | None = None, **params: Any) -> dict[str, Any]:
        """Run one control-plane operation as a signed request would (ServiceError on bad input)."""
        op = self.model.operation_model(operation)
        params = validate_input(op, {k: v for k, v in params.items() if v is not None})
        result = OPERATIONS[operation](Call(self.control, region or DEFAULT_REGION, params))
        return shape_output(op.output_shape, result) or {}

    def list_all(self, operation: str, member: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a List* operation (following nextToken), newest first, at most ``MAX_LISTED``."""
        items: list[dict[str, Any]] = []
        token = None
        while len(items) < MAX_LISTED:
            page = self.call(operation, maxResults=100, nextToken=token, **params)
            items += page.get(member, [])
            token = page.get("nextToken")
            if not token:
                break
        return items

    def listing(self, kind: ResourceKind, parent: str | None = None) -> list[dict[str, Any]]:
        """Every resource of ``kind`` (under ``parent`` when given) as its List* operation summarises it."""
        params = {kind.parent_key: parent} if parent and kind.parent_key else {}
        return self.list_all(f"List{kind.name}s", kind.list_key, **params)

    def describe(self, kind: ResourceKind, arn: str) -> dict[str, Any]:
        """The Describe* answer's resource (ResourceNotFoundException when it does not exist)."""
        return self.call(f"Describe{kind.name}", region_of(arn), **{kind.arn_key: arn})[kind.describe_key]

    def kind_of(self, arn: str) -> ResourceKind | None:
        """The kind an ARN names (its resource type), or None for a kind the console does not know."""
        return KINDS.get(resource_type(arn))

    def progress(self, arn: str) -> float | None:
        """A running job's progress in [0, 1] as its job records it (not part of any Describe answer)."""
        value = self.recorded(arn).get("_progress")
        return float(value) if isinstance(value, int | float) else None

    def rows_imported(self, arn: str) -> int | None:
        """The rows an import job wrote into its dataset, as it records them (not part of any Describe answer)."""
        value = self.recorded(arn).get("_rowsImported")
        return int(value) if isinstance(value, int) else None

    def recorded(self, arn: str) -> dict[str, Any]:
        """What the stored document of a resource holds (its jobs' private notes included)."""
        res = self.control.store.get(arn)
        return res.doc if res is not None else {}
