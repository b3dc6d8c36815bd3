"""Why a campaign recommends an item: the model's own terms of its score (``Model.explain``), by item id.

For a user (USER_PERSONALIZATION, PERSONALIZED_RANKING) the terms are those of ``score_user`` on the
history the runtime scores (training history plus live events); for an item (RELATED_ITEMS) those of
the one-item history, whose score orders items like ``score_item``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..data.training_data import UserHistory
from ..errors import InvalidInputException, ResourceNotFoundException
from ..recipes.registry import RELATED_ITEMS
from .service import RuntimeService, Target


@dataclass(frozen=True)
class Reason:
    """One term of an item's score: a history item's part (``item_id``) or a global term (``item_id`` None)."""

    term: str
    value: float
    item_id: str | None = None


@dataclass(frozen=True)
class HistoryEvent:
    """One event of the history a recommendation was scored on."""

    item_id: str
    timestamp: int
    event_type: str


@dataclass(frozen=True)
class Explained:
    """The history scored and, when the model explains itself, each item's reasons (None otherwise)."""

    history: list[HistoryEvent]
    reasons: dict[str, list[Reason]] | None


def campaign_target(runtime: RuntimeService, campaign_arn: str) -> Target:
    """The campaign's current solution version, resolved for scoring."""
    campaign = runtime.resources.campaign(campaign_arn)
    if campaign is None:
        raise ResourceNotFoundException(f"campaignArn {campaign_arn} does not exist.")
    return runtime.target(campaign.version_arn)


def explain(
    runtime: RuntimeService,
    campaign_arn: str,
    user_id: str | None,
    item_id: str | None,
    item_ids: Sequence[str],
    k: int = 3,
    recent: int = 20,
) -> Explained:
    """The ``recent`` newest events scored (newest first) and the ``k`` best history terms per item of ``item_ids``."""
    target = campaign_target(runtime, campaign_arn)
    model = target.deployed.model
    index = model.item_index
    if target.recipe_type == RELATED_ITEMS:
        current = index.get(item_id or "")
        if current is None:
            raise InvalidInputException(f"itemId {item_id} is not in the model's catalogue.")
        history = UserHistory([current])
    else:
        history = runtime.history(target, user_id)
    names = target.deployed.item_ids
    events = [
        HistoryEvent(names[int(i)], int(t), str(e))
        for i, t, e in zip(
            history.items[::-1][:recent],
            (history.timestamps if history.timestamps is not None else [0] * len(history))[::-1][:recent],
            (history.event_types or [""] * len(history))[::-1][:recent],
            strict=True,
        )
    ]
    if not model.explains:
        return Explained(events, None)
    reasons = {}
    for wanted in item_ids:
        j = index.get(wanted)
        if j is not None:
            reasons[wanted] = [
                Reason(c.term, c.value, None if c.item is None else names[c.item]) for c in model.explain(history, j, k)
            ]
    return Explained(events, reasons)


def item_metadata(target: Target, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
    """The ITEMS dataset's columns for these items (as the deployment holds them), by item id."""
    columns = target.deployed.item_columns
    index = target.deployed.model.item_index
    out = {}
    for item_id in item_ids:
        position = index.get(item_id)
        if position is not None:
            out[item_id] = {name: values[position] for name, values in columns.items()}
    return out
