"""Every control-plane operation by its Personalize name."""

from __future__ import annotations

from ..jobs.runner import JobHandler
from . import dataset_groups, datasets, import_jobs, recipes, schemas, solutions, tagging
from .base import Control, Operation

OPERATIONS: dict[str, Operation] = {
    **dataset_groups.OPERATIONS,
    **schemas.OPERATIONS,
    **datasets.OPERATIONS,
    **import_jobs.OPERATIONS,
    **recipes.OPERATIONS,
    **tagging.OPERATIONS,
    **solutions.OPERATIONS,
}


def job_handlers(control: Control) -> dict[str, JobHandler]:
    """Background job kinds this control plane queues."""
    return {**import_jobs.job_handlers(control), **solutions.job_handlers(control)}
