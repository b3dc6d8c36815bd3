"""Personalize's rules for the tags a request sets, checked the same way at create time and by TagResource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import InvalidInputException, TooManyTagsException

MAX_TAGS = 50
RESERVED_PREFIX = "aws:"


def checked_tags(tags: Iterable[Mapping[str, str]] | None, field: str = "tags") -> dict[str, str]:
    """The request's tags as key -> value; keys and values may not start with ``aws:`` (any case)."""
    out: dict[str, str] = {}
    for i, tag in enumerate(tags or (), start=1):
        for member in ("tagKey", "tagValue"):
            if tag[member].lower().startswith(RESERVED_PREFIX):
                raise InvalidInputException(
                    f"{field}.{i}.{member}: the prefix 'aws:' is reserved for AWS use and cannot be set."
                )
        out[tag["tagKey"]] = tag["tagValue"]
    check_count(len(out))
    return out


def checked_keys(keys: Iterable[str]) -> list[str]:
    """Tag keys to remove: ``aws:`` tags can be neither set nor removed."""
    keys = list(keys)
    for i, key in enumerate(keys, start=1):
        if key.lower().startswith(RESERVED_PREFIX):
            raise InvalidInputException(
                f"tagKeys.{i}: the prefix 'aws:' is reserved for AWS use and cannot be removed."
            )
    return keys


def check_count(count: int) -> None:
    """TooManyTagsException past Personalize's per-resource limit."""
    if count > MAX_TAGS:
        raise TooManyTagsException(f"tags: a resource can have at most {MAX_TAGS} tags.")
