"""Every control-plane operation by its Personalize name, and the one place cross-resource hooks are wired.

Describe/List/Delete come from the table of kinds (kinds.py); Create/Update and the other
operations from each kind's module. What one kind's lifecycle does to another (a trained
version moves synced campaigns, a deleted dataset or solution removes its files, a deleted
tracker is forgotten) is wired here, so no resource module imports another to call it.
"""

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
    filter_resources,
    import_jobs,
    metric_attributions,
    recipe_catalogue,
    recommenders,
    schemas,
    solution_updates,
    solutions,
    tagging,
)
from .attribution_reports import report_import
from .base import Control, Operation
from .kinds import DATASET, EVENT_TRACKER, SOLUTION, AfterDelete, generic_operations

AFTER_DELETE: dict[str, AfterDelete] = {
    DATASET.kind: datasets.forget_data,
    SOLUTION.kind: solutions.remove_models,
    EVENT_TRACKER.kind: event_trackers.forget_tracker,
}

OPERATIONS: dict[str, Operation] = {
    **generic_operations(AFTER_DELETE),
    **dataset_groups.OPERATIONS,
    **schemas.OPERATIONS,
    **datasets.OPERATIONS,
    **import_jobs.OPERATIONS,
    **recipe_catalogue.OPERATIONS,
    **tagging.OPERATIONS,
    **solutions.OPERATIONS,
    **solution_updates.OPERATIONS,
    **campaigns.OPERATIONS,
    **filter_resources.OPERATIONS,
    **batch_jobs.OPERATIONS,
    **data_jobs.OPERATIONS,
    **event_trackers.OPERATIONS,
    **metric_attributions.OPERATIONS,
    **recommenders.OPERATIONS,
}


def job_handlers(control: Control, runtime: RuntimeService) -> dict[str, JobHandler]:
    """Background job kinds this control plane queues (``runtime`` loads deployed models and scores batches)."""
    return {
        **batch_jobs.job_handlers(control, runtime),
        **data_jobs.job_handlers(control),
        **import_jobs.job_handlers(control, report_import),
        **metric_attributions.job_handlers(control),
        **solutions.job_handlers(control, campaigns.sync_to_version),
        **solution_updates.job_handlers(control),
        **campaigns.job_handlers(control, runtime.load_model),
        **recommenders.job_handlers(control, runtime.load_model),
    }
