"""Hypothesis strategies built from botocore shapes: valid request inputs, and inputs one mutation off.

``valid(shape)`` draws values every constraint of the botocore model accepts (members, lengths,
ranges, enums, patterns). ``mutate`` takes such a value and breaks exactly one thing in it: a
required member dropped, a wrong JSON type, a number out of range, a string or list over or under
its length, an enum or pattern violated, a stray member. ``realistic`` values (ARNs of resources
that exist, real names, filter expressions) are mixed in by member name, so handlers past
validation run too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import hypothesis.strategies as st
from botocore.model import Shape

# Java's classes in botocore's patterns, as explicit Python ranges (Java's \d and \w are ASCII; Python's are not).
_JAVA_CLASSES = {
    r"\p{L}": "a-zA-Z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0410-\u044f",
    r"\p{Z}": " \u00a0",
    r"\p{N}": "0-9",
    r"\p{ASCII}": "\\x00-\\x7f",
    r"\d": "0-9",
    r"\w": "a-zA-Z0-9_",
}
_JAVA_CLASS = re.compile(r"\\p\{\w+\}|\\[dw]")
_TEXT = st.characters(codec="utf-8")
_MAX_DRAWN_LENGTH = 64
_MAX_DRAWN_ITEMS = 4
_MAX_DEPTH = 8
_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_RANGE = (-1e12, 1e12)
# JSON values of every type, for "wrong type" mutations.
_ANY_TYPE: dict[str, Any] = {
    "string": "x",
    "integer": 7,
    "float": 0.5,
    "boolean": True,
    "list": ["x"],
    "object": {"x": "y"},
}
_COMPATIBLE = {
    "string": {"string"},
    "integer": {"integer"},
    "long": {"integer"},
    "float": {"integer", "float"},
    "double": {"integer", "float"},
    "boolean": {"boolean"},
    "timestamp": {"integer", "float", "string"},
    "structure": {"object"},
    "map": {"object"},
    "list": {"list"},
}
# Strings that break most patterns: empty, spaces, control characters, path tricks, lookalikes.
_PATTERN_BREAKERS = ["", " ", "\x00", "a b", "\n", "../../etc/passwd", "arn:aws:personalize:::", "é", "\u202e", "%00"]

Draw = Callable[[st.SearchStrategy], Any]
Path = tuple[Any, ...]


def python_pattern(pattern: str) -> str:
    """A botocore (Java) pattern in Python's re syntax: ``\\p{L}``, ``\\d`` and friends become explicit ranges."""

    def replace(match: re.Match[str]) -> str:
        ranges = _JAVA_CLASSES[match.group(0)]
        before = pattern[: match.start()]
        inside = before.count("[") - before.count("\\[") > before.count("]") - before.count("\\]")
        return ranges if inside else f"[{ranges}]"

    return _JAVA_CLASS.sub(replace, pattern)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(python_pattern(pattern))


def matches(shape: Shape, value: str) -> bool:
    """Whether ``value`` satisfies the shape's pattern (true when it has none)."""
    pattern = shape.metadata.get("pattern")
    return pattern is None or _compiled(pattern).fullmatch(value) is not None


def _in_length(shape: Shape, size: int) -> bool:
    meta = shape.metadata
    return meta.get("min", 0) <= size <= meta.get("max", 1 << 30)


def _string(shape: Shape) -> st.SearchStrategy[str]:
    meta = shape.metadata
    if shape.enum:
        return st.sampled_from(shape.enum)
    low, high = meta.get("min", 0), meta.get("max", 1 << 30)
    if "pattern" in meta:
        regex = st.from_regex(_compiled(meta["pattern"]), fullmatch=True, alphabet=_TEXT)
        return regex.filter(lambda s: _in_length(shape, len(s)) and matches(shape, s))
    drawn = st.text(_TEXT, min_size=low, max_size=max(low, min(high, _MAX_DRAWN_LENGTH)))
    if high > 100_000:
        return drawn
    return drawn | st.builds(lambda c: c * high, st.sampled_from("a0é"))  # exactly at the limit


def _number(shape: Shape) -> st.SearchStrategy[Any]:
    meta, kind = shape.metadata, shape.type_name
    if kind in _INT_RANGE:
        low, high = _INT_RANGE[kind]
        return st.integers(meta.get("min", low), meta.get("max", high))
    low, high = meta.get("min", _FLOAT_RANGE[0]), meta.get("max", _FLOAT_RANGE[1])
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def valid(
    shape: Shape, realistic: Mapping[str, Sequence[Any]], member: str = "", depth: int = 0, sparse: bool = False
) -> st.SearchStrategy:
    """Values of ``shape`` its botocore constraints accept, ``realistic[member]`` values mixed in.

    ``sparse`` values are the ones a real client sends: a member with realistic values always gets
    one of them, and optional members appear only when they have realistic values.
    """
    known = realistic.get(member)
    if known and sparse:
        return st.sampled_from(list(known))
    drawn = _valid(shape, realistic, depth, sparse)
    return st.sampled_from(list(known)) | drawn if known else drawn


def _valid(shape: Shape, realistic: Mapping[str, Sequence[Any]], depth: int, sparse: bool) -> st.SearchStrategy:
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        needed = shape.required_members
        wanted = (lambda n: n in realistic) if sparse else (lambda n: depth < _MAX_DEPTH)
        members = {n: m for n, m in shape.members.items() if n in needed or wanted(n)}
        drawn = {n: valid(m, realistic, n, depth + 1, sparse) for n, m in members.items()}
        required = {n: s for n, s in drawn.items() if n in needed}
        return st.fixed_dictionaries(required, optional={n: s for n, s in drawn.items() if n not in needed})
    low, high = meta.get("min", 0), meta.get("max", _MAX_DRAWN_ITEMS)
    if kind == "list":
        items = valid(shape.member, realistic, "", depth + 1, sparse)
        return st.lists(items, min_size=low, max_size=max(low, min(high, _MAX_DRAWN_ITEMS)))
    if kind == "map":
        keys, values = _valid(shape.key, realistic, depth + 1, sparse), valid(shape.value, realistic, "", depth + 1)
        return st.dictionaries(keys, values, min_size=low, max_size=max(low, min(high, _MAX_DRAWN_ITEMS)))
    if kind == "string":
        return _string(shape)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.integers(0, 2**32) | st.floats(0, 2**32, allow_nan=False)
    if kind in ("integer", "long", "float", "double"):
        return _number(shape)
    raise ValueError(f"no strategy for botocore shape type {kind!r} ({shape.name})")


def _sites(shape: Shape, value: Any, path: Path) -> list[tuple[Path, Shape, bool]]:
    """Every place one mutation can hit: (path, shape there, whether a value is present)."""
    sites: list[tuple[Path, Shape, bool]] = [(path, shape, True)]
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                sites += _sites(member, value[name], (*path, name))
            else:
                sites.append(((*path, name), member, False))
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            sites += _sites(shape.member, item, (*path, i))
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            sites.append(((*path, ("key", key)), shape.key, True))
            sites += _sites(shape.value, item, (*path, key))
    return sites


def _broken(draw: Draw, shape: Shape, value: Any, required: bool) -> tuple[str, Any]:
    """One way to break a value of ``shape``: (what was done, new value; ``_DROP`` removes it)."""
    kind, meta = shape.type_name, shape.metadata
    choices: list[tuple[str, Any]] = [
        (f"wrong type {t}", v) for t, v in _ANY_TYPE.items() if t not in _COMPATIBLE[kind]
    ]
    choices.append(("null", None))
    if required:
        choices.append(("dropped required member", _DROP))
    if kind == "string":
        if "max" in meta:
            choices.append(("over max length", "a" * (meta["max"] + 1)))
        if meta.get("min", 0) > 0:
            choices.append(("under min length", "a" * (meta["min"] - 1)))
        if shape.enum:
            choices.append(("not in enum", draw(st.sampled_from(["", "NOT_AN_ENUM", shape.enum[0].lower() + " "]))))
        if "pattern" in meta:
            breakers = [b for b in _PATTERN_BREAKERS if not matches(shape, b)]
            breakers += [b for b in (f"{value} ", f"{value}\x00", f" {value}") if not matches(shape, b)]
            choices += [("violates pattern", b) for b in breakers]
    elif kind in ("integer", "long", "float", "double"):
        if "min" in meta:
            choices.append(("under min", meta["min"] - 1))
        if "max" in meta:
            choices.append(("over max", meta["max"] + 1))
        choices += [("huge number", 10**30), ("negative", -1), ("fraction", 1.5), ("float overflow", 1e308)]
    elif kind == "timestamp":
        choices += [("bad timestamp", "not-a-date"), ("huge timestamp", 1e300), ("negative timestamp", -(10**15))]
    elif kind == "list":
        if "max" in meta and meta["max"] <= 100_000:
            item = value[0] if isinstance(value, list) and value else "x"
            choices.append(("over max items", [item] * (meta["max"] + 1)))
        if meta.get("min", 0) > 0:
            choices.append(("under min items", []))
        choices.append(("wrong member type", [["nested"], {"x": 1}, None]))
    elif kind == "map":
        if "max" in meta and meta["max"] <= 10_000:
            choices.append(("over max entries", {f"k{i}": "v" for i in range(meta["max"] + 1)}))
        choices.append(("wrong value type", {"k": ["v"], "n": None}))
    elif kind == "structure":
        extra = dict(value) if isinstance(value, dict) else {}
        choices.append(("unknown member", {**extra, "notAMember": {"x": [1, 2]}}))
    return draw(st.sampled_from(choices))


class _Drop:
    """Marker: remove the member instead of replacing its value."""


_DROP = _Drop()


def mutate(draw: Draw, shape: Shape, value: Any) -> tuple[Any, str]:
    """``value`` (valid for ``shape``) with exactly one thing broken, and a description of what."""
    sites = _sites(shape, value, ())
    path, target, present = draw(st.sampled_from(sites))
    if path and isinstance(path[-1], tuple):  # a map key
        what, new = _broken(draw, target, path[-1][1], False)
        if not isinstance(new, str):
            new = "" if new is _DROP or new is None else str(new)
        return _rename_key(value, path, new), f"map key at {_show(path)}: {what}"
    parent = _shape_at(shape, path[:-1]) if path else None
    required = parent is not None and parent.type_name == "structure" and path[-1] in parent.required_members
    current = _get(value, path) if present else None
    what, new = _broken(draw, target, current, required and present)
    return _set(value, path, new), f"{_show(path) or 'input'}: {what}"


def _shape_at(shape: Shape, path: Path) -> Shape:
    for step in path:
        if shape.type_name == "structure":
            shape = shape.members[step]
        elif shape.type_name == "list":
            shape = shape.member
        else:
            shape = shape.value
    return shape


def _get(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(value: Any, path: Path, new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path`` (``_DROP`` deletes the member)."""
    if not path:
        return {} if new is _DROP else new
    head, rest = path[0], path[1:]
    copy = list(value) if isinstance(value, list) else dict(value)
    if rest:
        copy[head] = _set(value[head], rest, new)
    elif new is _DROP:
        del copy[head]
    else:
        copy[head] = new
    return copy


def _rename_key(value: Any, path: Path, new_key: str) -> Any:
    old_key = path[-1][1]
    mapping = _get(value, path[:-1])
    renamed = {(new_key if k == old_key else k): v for k, v in mapping.items()}
    return _set(value, path[:-1], renamed)


def _show(path: Path) -> str:
    return ".".join(str(p[1] if isinstance(p, tuple) else p) for p in path)
