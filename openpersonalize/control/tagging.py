"""Tags on any resource: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import Any

from ..errors import ResourceNotFoundException
from .base import Call
from .kinds import KINDS
from .tag_rules import check_count, checked_keys, checked_tags


def _require(call: Call, arn: str) -> None:
    """A resource of a kind the API names (never an internal one, such as a recommender's training)."""
    res = call.store.get(arn)
    if res is None or res.kind not in KINDS:
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")


def tag_resource(call: Call) -> dict[str, Any]:
    arn = call.params["resourceArn"]
    _require(call, arn)
    new = checked_tags(call.params["tags"])
    check_count(len(call.store.tags(arn) | new))
    call.store.set_tags(arn, new)
    return {}


def untag_resource(call: Call) -> dict[str, Any]:
    arn = call.params["resourceArn"]
    _require(call, arn)
    call.store.remove_tags(arn, checked_keys(call.params["tagKeys"]))
    return {}


def list_tags_for_resource(call: Call) -> dict[str, Any]:
    arn = call.params["resourceArn"]
    _require(call, arn)
    return {"tags": [{"tagKey": k, "tagValue": v} for k, v in sorted(call.store.tags(arn).items())]}


OPERATIONS = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
