"""Nesting depth of bracketed text, measured before anything parses it recursively.

Python's ``json`` module, ``repr``, lark's tree building and the schema and filter walkers all
recurse once per nesting level, so a short hostile document (``"[" * 5000``) would exhaust the
stack. Depth is measured here with one linear scan (double-quoted strings with backslash escapes
skipped, as in JSON and filter expressions) and refused past a bound no real input reaches.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

MAX_JSON_DEPTH = 32


class TooDeepError(json.JSONDecodeError):
    """A document nests deeper than allowed; a JSONDecodeError, so JSON error handling reports it."""


@cache
def _tokens(opens: str, closes: str, binary: bool) -> re.Pattern[Any]:
    # A string runs to its closing quote, or to the end when unterminated: every match succeeds
    # where it starts, so the scan stays linear whatever the input.
    brackets = re.escape(opens + closes)
    pattern = rf'"(?:[^"\\]+|\\.)*"?|[{brackets}]'
    return re.compile(pattern.encode() if binary else pattern, re.DOTALL)


@cache
def _needles(opens: str, binary: bool) -> tuple[str | bytes, ...]:
    return tuple(ch.encode() for ch in opens) if binary else tuple(opens)


def too_deep_at(text: str | bytes, opens: str, closes: str, limit: int) -> int | None:
    """The offset of the first bracket (outside strings) nested deeper than ``limit``; None if there is none."""
    binary = isinstance(text, bytes | bytearray)
    opened = 0
    for needle in _needles(opens, binary):
        opened += text.count(needle)
    if opened <= limit:
        return None  # even if every opening bracket nested, the bound holds
    depth = 0
    for match in _tokens(opens, closes, binary).finditer(text):
        start = match.start()
        ch = chr(text[start]) if binary else text[start]
        if ch in opens:
            depth += 1
            if depth > limit:
                return start
        elif ch in closes:
            depth -= 1
    return None


def check_json_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise TooDeepError when the arrays and objects of JSON ``text`` nest deeper than ``limit``."""
    position = too_deep_at(text, "[{", "]}", limit)
    if position is not None:
        doc = text if isinstance(text, str) else bytes(text).decode("latin-1")
        raise TooDeepError(f"arrays and objects nest deeper than {limit} levels", doc, position)


def loads(text: Any, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted text: the nesting depth is checked first (TooDeepError)."""
    if isinstance(text, str | bytes | bytearray):
        check_json_depth(text, limit)
    return json.loads(text)
