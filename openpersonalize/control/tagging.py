"""Tags on any resource: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import Any

from ..errors import ResourceNotFoundException, TooManyTagsException
from .base import Call

MAX_TAGS = 50


def _require(call: Call, arn: str) -> None:
    if call.store.get(arn) is None:
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")


def tag_resource(call: Call) -> dict[str, Any]:
    arn = call.params["resourceArn"]
    _require(call, arn)
    new = {t["tagKey"]: t["tagValue"] for t in call.params["tags"]}
    if len(call.store.tags(arn) | new) > MAX_TAGS:
        raise TooManyTagsException(f"tags: a resource can have at most {MAX_TAGS} tags.")
    call.store.set_tags(arn, new)
    return {}


def untag_resource(call: Call) -> dict[str, Any]:
    arn = call.params["resourceArn"]
    _require(call, arn)
    call.store.remove_tags(arn, call.params["tagKeys"])
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
