"""Automatic training: each solution whose next training is due gets an AUTOMATIC solution version.

Every node checks the schedules (``train_due``, run by the server every ``CHECK_SECONDS``); for a
solution that is due, only the node whose compare-and-set moves its ``_nextAutoTraining`` on creates
the version, so one node trains however many check. As in Personalize, a solution trains automatically
only when interactions were imported or streamed since its last training (``solutions.data_mark``);
otherwise the slot passes. The version trains like any other (trainingMode AUTOTRAIN, trained in full;
skipped while another version of the solution trains), and campaigns with syncWithLatestSolutionVersion
move to it once it is ACTIVE (the ``trained`` hook, control/operations.py).
"""

from __future__ import annotations

import logging

from ..errors import ServiceError
from ..store.metadata import Resource
from . import training_schedule
from .base import CREATE_FAILED, CREATE_STOPPED, Call, Control
from .kinds import SOLUTION, SOLUTION_VERSION
from .solutions import AUTOMATIC, TRAINED_ON, data_mark, new_version

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0
AUTOTRAIN = "AUTOTRAIN"


def train_due(control: Control) -> list[str]:
    """Create the automatic versions due at ``control.clock()``; the ARNs of those this node created."""
    now = control.clock()
    created = []
    for solution in control.store.list(SOLUTION.kind):
        due = solution.doc.get(training_schedule.NEXT)
        if not solution.doc.get("performAutoTraining") or due is None or due > now:
            continue
        interval = training_schedule.interval_of(solution.doc.get("solutionConfig") or {})
        moved = training_schedule.after_due(due, now, interval)
        claimed = control.store.update(solution.arn, expect={training_schedule.NEXT: due}, **moved)
        if claimed is None:  # another node took this training, or the solution changed or went
            continue
        if not _new_data(control, claimed):
            log.info("automatic training of %s skipped: no new interactions since its last training", solution.arn)
            continue
        try:
            created.append(new_version(Call(control, "", {}), claimed, AUTOTRAIN, AUTOMATIC))
        except ServiceError as exc:  # nothing to train on, a version training, the solution deleted meanwhile
            log.warning("automatic training of %s skipped: %s", solution.arn, exc.message)
    if created:
        log.info("automatic training started %d solution versions", len(created))
    return created


def _new_data(control: Control, solution: Resource) -> bool:
    """Whether interactions came (imported or streamed) since the solution's last training: Personalize trains
    automatically only then. A failed or stopped version trained nothing; a solution never trained has new data."""
    for version in control.store.list(SOLUTION_VERSION.kind, parent=solution.arn):
        if version.status not in (CREATE_FAILED, CREATE_STOPPED):
            return version.doc.get(TRAINED_ON) != data_mark(control, solution.doc["datasetGroupArn"])
    return True
