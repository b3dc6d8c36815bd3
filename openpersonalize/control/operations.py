"""Every control-plane operation by its Personalize name."""

from __future__ import annotations

from ..jobs.runner import JobHandler
from . import campaigns, dataset_groups, datasets, filters, import_jobs, recipes, schemas, solutions, tagging
from .base import Control, Operation

OPERATIONS: dict[str, Operation] = {
    **dataset_groups.OPERATIONS,
    **schemas.OPERATIONS,
    **datasets.OPERATIONS,
    **import_jobs.OPERATIONS,
    **recipes.OPERATIONS,
    **tagging.OPERATIONS,
    **solutions.OPERATIONS,
    **campaigns.OPERATIONS,
    **filters.OPERATIONS,
}


def job_handlers(control: Control, load_model: campaigns.ModelLoader) -> dict[str, JobHandler]:
    """Background job kinds this control plane queues (``load_model`` deploys campaigns)."""
    return {
        **import_jobs.job_handlers(control),
        **solutions.job_handlers(control),
        **campaigns.job_handlers(control, load_model),
    }
