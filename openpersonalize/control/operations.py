"""Every control-plane operation by its Personalize name."""

from __future__ import annotations

from ..jobs.runner import JobHandler
from ..runtime.service import RuntimeService
from . import (
    batch_jobs,
    campaigns,
    data_jobs,
    dataset_groups,
    datasets,
    event_trackers,
    filters,
    import_jobs,
    recipes,
    schemas,
    solutions,
    tagging,
)
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
    **batch_jobs.OPERATIONS,
    **data_jobs.OPERATIONS,
    **event_trackers.OPERATIONS,
}


def job_handlers(control: Control, runtime: RuntimeService) -> dict[str, JobHandler]:
    """Background job kinds this control plane queues (``runtime`` loads deployed models and scores batches)."""
    return {
        **batch_jobs.job_handlers(control, runtime),
        **data_jobs.job_handlers(control),
        **import_jobs.job_handlers(control),
        **solutions.job_handlers(control),
        **campaigns.job_handlers(control, runtime.load_model),
    }
