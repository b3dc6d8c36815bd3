"""The model walk the compiled validator replaced (openpersonalize/api/validation.py), kept as its oracle.

This is the per-request validator the server ran before validation was compiled per shape, word for
word, less what both share, imported from the validator (how a value and a size error are worded, how
a member path is joined, the expected type of each kind): test_validation checks the compiled one
reports the same errors (and leaves the same nulls out) on generated inputs of every operation of the
three Personalize models.
"""

from __future__ import annotations

from typing import Any

from botocore.model import OperationModel, Shape

from openpersonalize.api.patterns import compile_pattern
from openpersonalize.api.validation import _CONTAINERS, _SCALARS, RELAXED_PATTERNS, _describe, _join, _report_size
from openpersonalize.errors import InvalidInputException

_MAX_REPORTED = 5


def _pattern(shape: Shape) -> Any:
    """The shape's compiled pattern (linear-time RE2), or None when it has none or we relax it."""
    pattern = None if shape.name in RELAXED_PATTERNS else shape.metadata.get("pattern")
    return compile_pattern(pattern, shape.metadata.get("max")) if pattern else None


def validate_input(operation: OperationModel, params: Any) -> dict[str, Any]:
    """The request's members, nulls left out; InvalidInputException listing every constraint it breaks.

    AWS reads a member sent as JSON null as a member not sent, so handlers never see one.
    """
    errors: list[str] = []
    if operation.input_shape is None:
        return params
    if not isinstance(params, dict):
        raise InvalidInputException("Request body must be a JSON object")
    _check(operation.input_shape, params, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        shown = "; ".join(errors[:_MAX_REPORTED])
        raise InvalidInputException(f"{count} validation {noun} detected: {shown}")
    return _without_nulls(operation.input_shape, params)


_NESTED = ("structure", "list", "map")


def _without_nulls(shape: Shape, value: Any) -> Any:
    """``value`` with its structures' null members left out (a validated value: lists and maps hold no null)."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {
            name: _without_nulls(members[name], item) if name in members else item
            for name, item in value.items()
            if item is not None
        }
    if kind == "list" and shape.member.type_name in _NESTED:
        return [_without_nulls(shape.member, item) for item in value]
    if kind == "map" and shape.value.type_name in _NESTED:
        return {key: _without_nulls(shape.value, item) for key, item in value.items()}
    return value


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    where = path or "input"
    kind = shape.type_name
    meta = shape.metadata
    container = _CONTAINERS.get(kind)
    if container is not None and not isinstance(value, container[0]):
        errors.append(f"Value at '{where}' failed to satisfy constraint: Member must be {container[1]}")
        return
    if kind == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                errors.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name), errors)
        return
    if kind == "list":
        _check_size(len(value), meta, where, "length", errors, value)
        member = shape.member
        for i, item in enumerate(value):
            _check(member, item, f"{where}.{i + 1}.member", errors)
        return
    if kind == "map":
        _check_size(len(value), meta, where, "length", errors, value)
        for key, item in value.items():
            _check(shape.key, key, f"{where}.key", errors)
            _check(shape.value, item, f"{where}.{key}", errors)
        return
    expected = _SCALARS.get(kind)
    if expected is not None and (isinstance(value, bool) != (kind == "boolean") or not isinstance(value, expected[0])):
        errors.append(
            f"Value '{_describe(value)}' at '{where}' failed to satisfy constraint: Member must be {expected[1]}"
        )
        return
    if kind == "string":
        if not _check_size(len(value), meta, where, "length", errors, value):
            return  # a pattern only runs on strings within the shape's length bounds
        if shape.enum and value not in shape.enum:
            errors.append(
                f"Value '{_describe(value)}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        compiled = _pattern(shape)
        if compiled is not None and compiled.fullmatch(value) is None:
            errors.append(
                f"Value '{_describe(value)}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {meta['pattern']}"
            )
    elif kind in ("integer", "long", "float", "double"):
        _check_size(value, meta, where, "value", errors, value)


def _check_size(size: float, meta: dict, where: str, what: str, errors: list[str], value: Any) -> bool:
    """Report ``size`` outside the shape's bounds; True when it is within them."""
    low, high = meta.get("min"), meta.get("max")
    if (low is None or size >= low) and (high is None or size <= high):
        return True
    _report_size(size, meta, where, what, errors, value)
    return False
