"""Request validation against botocore's service models, compiled once per shape.

botocore ships the exact Personalize models (members, required fields, length, range, pattern,
enum); validating against them keeps ~70 operations honest without re-typing them. Walking a
shape's metadata for every request cost more than the rest of a cached GetRecommendations, so
each shape is compiled, on first use, into a function holding its bounds, enum and pattern: it
reports the same errors in the same order as the model walk it replaced (tests/validation_oracle.py,
compared on generated inputs of every operation), and leaves JSON nulls out as it goes.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from botocore.model import OperationModel, Shape

from ..errors import InvalidInputException
from .patterns import compile_pattern

_MAX_REPORTED = 5
# Shapes whose botocore pattern we widen on purpose: data locations may also be
# file:// URLs or absolute paths here; control.locations validates them instead.
RELAXED_PATTERNS = frozenset({"S3Location"})
# Strings at most this long have their pattern verdicts remembered (ARNs repeat on every request).
_MEMO_MAX_LENGTH = 256
_MEMO_ENTRIES = 1024

# A compiled check: (value, path, errors) -> the value with its structures' null members left out.
# It appends what ``value`` breaks to ``errors``; what it returns is only used when nothing was.
Validator = Callable[[Any, str, list[str]], Any]


def validate_input(operation: OperationModel, params: Any) -> dict[str, Any]:
    """The request's members, nulls left out; InvalidInputException listing every constraint it breaks.

    AWS reads a member sent as JSON null as a member not sent, so handlers never see one.
    """
    shape = operation.input_shape
    if shape is None:
        return params
    if not isinstance(params, dict):
        raise InvalidInputException("Request body must be a JSON object")
    errors: list[str] = []
    value = validator(shape)(params, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        shown = "; ".join(errors[:_MAX_REPORTED])
        raise InvalidInputException(f"{count} validation {noun} detected: {shown}")
    return value


@cache
def validator(shape: Shape) -> Validator:
    """The compiled check of ``shape`` (botocore keeps one Shape object per member, so this runs once each)."""
    kind = shape.type_name
    compile_shape = _COMPILERS.get(kind) or (_scalar if kind in _SCALARS else None)
    return _accept if compile_shape is None else compile_shape(shape)


def _accept(value: Any, _path: str, _errors: list[str]) -> Any:
    return value


# The Python type a shape's JSON value must have, and the words of the error when it has not.
_CONTAINERS: dict[str, tuple[type, str]] = {
    "structure": (dict, "an object"),
    "list": (list, "a list"),
    "map": (dict, "a map"),
}

_SCALARS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "string": (str, "a string"),
    "integer": (int, "an integer"),
    "long": (int, "an integer"),
    "float": ((int, float), "a number"),
    "double": ((int, float), "a number"),
    "boolean": (bool, "a boolean"),
    "timestamp": ((int, float, str), "a timestamp"),
}

# The same types as exact types, as a JSON parser yields them (so bool is no integer here).
_EXACT_TYPES: dict[str, frozenset[type]] = {
    kind: frozenset(types if isinstance(types, tuple) else (types,)) for kind, (types, _) in _SCALARS.items()
}
_NESTED = frozenset(_CONTAINERS)


def _where(path: str) -> str:
    return path or "input"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _wrong_container(kind: str) -> Callable[[str, list[str]], None]:
    words = _CONTAINERS[kind][1]

    def report(path: str, errors: list[str]) -> None:
        errors.append(f"Value at '{_where(path)}' failed to satisfy constraint: Member must be {words}")

    return report


def _sized(shape: Shape) -> Callable[[Any, str, list[str]], str | None]:
    """The type and length check of a list or map: the value's place in messages, None when it is no such container."""
    meta = shape.metadata
    container = _CONTAINERS[shape.type_name][0]
    in_bounds = _size_test(meta)
    wrong = _wrong_container(shape.type_name)

    def check(value: Any, path: str, errors: list[str]) -> str | None:
        if not isinstance(value, container):
            wrong(path, errors)
            return None
        where = _where(path)
        if not in_bounds(len(value)):
            _report_size(len(value), meta, where, "length", errors, value)
        return where

    return check


def _structure(shape: Shape) -> Validator:
    required = tuple(shape.required_members)
    members = tuple(shape.members.items())
    names = frozenset(name for name, _ in members)
    # Compiled on first use: a recursive shape compiles only as deep as values go.
    checks: tuple[tuple[str, Validator], ...] | None = None
    wrong = _wrong_container("structure")

    def check(value: Any, path: str, errors: list[str]) -> Any:
        nonlocal checks
        if not isinstance(value, dict):
            wrong(path, errors)
            return value
        if checks is None:
            checks = tuple((name, validator(member)) for name, member in members)
        for name in required:
            if value.get(name) is None:
                errors.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        changed: dict[str, Any] | None = None
        for name, member_check in checks:
            item = value.get(name)
            if item is not None:
                out = member_check(item, f"{path}.{name}" if path else name, errors)
                if out is not item:
                    changed = changed or {}
                    changed[name] = out
        if changed is None and None not in value.values():
            return value
        changed = changed or {}
        return {
            name: changed.get(name, item) if name in names else item for name, item in value.items() if item is not None
        }

    return check


def _size_test(meta: dict) -> Callable[[float], bool]:
    low, high = meta.get("min"), meta.get("max")
    lowest = -math.inf if low is None else low
    highest = math.inf if high is None else high
    return lambda size: lowest <= size <= highest


def _list(shape: Shape) -> Validator:
    sized = _sized(shape)
    member = shape.member
    sweep = _scalars_test(member) if member.type_name in _SCALARS else None
    nested = member.type_name in _NESTED
    member_check = validator(member)

    def check(value: Any, path: str, errors: list[str]) -> Any:
        where = sized(value, path, errors)
        if where is None or (sweep is not None and sweep(value)):
            return value  # long lists of ids pass in a few C-level sweeps; a failing one is walked for messages
        out = [member_check(item, f"{where}.{i + 1}.member", errors) for i, item in enumerate(value)]
        return out if nested else value

    return check


def _map(shape: Shape) -> Validator:
    sized = _sized(shape)
    key_check = validator(shape.key)
    value_check = validator(shape.value)
    nested = shape.value.type_name in _NESTED

    def check(value: Any, path: str, errors: list[str]) -> Any:
        where = sized(value, path, errors)
        if where is None:
            return value
        out = {} if nested else None
        for key, item in value.items():
            key_check(key, f"{where}.key", errors)
            item = value_check(item, f"{where}.{key}", errors)
            if out is not None:
                out[key] = item
        return value if out is None else out

    return check


def _type_test(kind: str) -> Callable[[Any], bool]:
    """True when a value has the JSON type of a ``kind`` scalar (a bool is only a boolean)."""
    exact = _EXACT_TYPES[kind]
    types = _SCALARS[kind][0]
    boolean = kind == "boolean"

    def test(value: Any) -> bool:
        return type(value) in exact or (isinstance(value, bool) == boolean and isinstance(value, types))

    return test


def _wrong_type(kind: str) -> Callable[[Any, str, list[str]], None]:
    words = _SCALARS[kind][1]

    def report(value: Any, path: str, errors: list[str]) -> None:
        errors.append(
            f"Value '{_describe(value)}' at '{_where(path)}' failed to satisfy constraint: Member must be {words}"
        )

    return report


def _string(shape: Shape) -> Validator:
    meta = shape.metadata
    in_bounds = _size_test(meta)
    enum = frozenset(shape.enum) if shape.enum else None
    enum_words = f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(shape.enum or ())}]"
    matches = _pattern_test(shape)
    pattern_words = (
        f"failed to satisfy constraint: Member must satisfy regular expression pattern: {meta.get('pattern')}"
    )
    is_string = _type_test("string")
    wrong = _wrong_type("string")

    def check(value: Any, path: str, errors: list[str]) -> Any:
        if not is_string(value):
            wrong(value, path, errors)
            return value
        if not in_bounds(len(value)):
            _report_size(len(value), meta, _where(path), "length", errors, value)
            return value  # a pattern only runs on strings within the shape's length bounds
        if enum is not None and value not in enum:
            errors.append(f"Value '{_describe(value)}' at '{_where(path)}' {enum_words}")
        if matches is not None and not matches(value):
            errors.append(f"Value '{_describe(value)}' at '{_where(path)}' {pattern_words}")
        return value

    return check


def _scalar(shape: Shape) -> Validator:
    kind, meta = shape.type_name, shape.metadata
    has_type = _type_test(kind)
    wrong = _wrong_type(kind)
    sized = kind in ("integer", "long", "float", "double") and ("min" in meta or "max" in meta)
    in_bounds = _size_test(meta)

    def check(value: Any, path: str, errors: list[str]) -> Any:
        if not has_type(value):
            wrong(value, path, errors)
        elif sized and not in_bounds(value):
            _report_size(value, meta, _where(path), "value", errors, value)
        return value

    return check


_COMPILERS: dict[str, Callable[[Shape], Validator]] = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
}


def _pattern_test(shape: Shape) -> Callable[[str], bool] | None:
    """Whether a string matches the shape's pattern (linear-time RE2); None when it has none or we relax it."""
    pattern = None if shape.name in RELAXED_PATTERNS else shape.metadata.get("pattern")
    return _matcher(pattern, shape.metadata.get("max")) if pattern else None


@cache
def _matcher(pattern: str, max_length: int | None) -> Callable[[str], bool]:
    """A pattern's test, one per distinct pattern and length bound (the models share a few dozen).

    Verdicts on short strings are remembered, in a bounded cache: the same ARN comes with every
    request, and RE2's Python binding costs microseconds a call.
    """
    compiled = compile_pattern(pattern, max_length)

    @lru_cache(maxsize=_MEMO_ENTRIES)
    def remembered(value: str) -> bool:
        return compiled.fullmatch(value) is not None

    def matches(value: str) -> bool:
        if len(value) <= _MEMO_MAX_LENGTH and type(value) is str:
            return remembered(value)
        return compiled.fullmatch(value) is not None

    return matches


@cache
def _scalars_test(shape: Shape) -> Callable[[list[Any]], bool]:
    """A predicate true when every value of a list passes every constraint ``validator(shape)`` applies.

    It may reject a list the validator accepts (a str subclass, say), never the reverse: a rejected
    list is checked member by member.
    """
    kind, meta = shape.type_name, shape.metadata
    types = _EXACT_TYPES[kind]
    low, high = meta.get("min"), meta.get("max")
    enum = frozenset(shape.enum) if kind == "string" and shape.enum else None
    matches = _pattern_test(shape) if kind == "string" else None
    sized = (low is not None or high is not None) and kind in ("string", "integer", "long", "float", "double")

    def ok(values: list[Any]) -> bool:
        if not values:
            return True
        if not set(map(type, values)) <= types:
            return False
        if sized:
            sizes = list(map(len, values)) if kind == "string" else values
            if (low is not None and min(sizes) < low) or (high is not None and max(sizes) > high):
                return False
        if enum is not None and not enum.issuperset(values):
            return False
        return matches is None or all(map(matches, values))

    return ok


def _bounded_repr() -> reprlib.Repr:
    """A repr of a few levels and items: the work is bounded however deep or wide the value is."""
    shown = reprlib.Repr()
    shown.maxlevel, shown.maxstring, shown.maxother = 3, 64, 64
    return shown


_REPR = _bounded_repr()


def _describe(value: Any) -> str:
    text = _REPR.repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 64 else text[:61] + "..."


def _report_size(size: float, meta: dict, where: str, what: str, errors: list[str], value: Any) -> None:
    """Report ``size`` outside the shape's bounds."""
    low, high = meta.get("min"), meta.get("max")
    shown = _describe(value)
    if low is not None and size < low:
        rel = "be greater than or equal to" if what == "value" else f"have {what} greater than or equal to"
        errors.append(f"Value '{shown}' at '{where}' failed to satisfy constraint: Member must {rel} {low}")
    if high is not None and size > high:
        rel = "be less than or equal to" if what == "value" else f"have {what} less than or equal to"
        errors.append(f"Value '{shown}' at '{where}' failed to satisfy constraint: Member must {rel} {high}")
