"""Nesting depth measured without recursion: strings are skipped, any input is scanned in linear time."""

from __future__ import annotations

import json

import pytest

from openpersonalize import nesting


@pytest.mark.parametrize("binary", [False, True])
def test_depth_counts_brackets_outside_strings(binary):
    def at(text: str, limit: int = 3) -> int | None:
        return nesting.too_deep_at(text.encode() if binary else text, "[{", "]}", limit)

    assert at("[[[]]]") is None and at("[[[[]]]]") == 3
    assert at('{"a": [{"b": "[[[[[["}]}') is None  # brackets inside a string do not nest
    assert at('["\\"[[[[", [[[1]]]]') == 13  # an escaped quote does not end the string
    assert at("[]" * 100) is None  # many brackets, none nested
    assert at('"' + "[" * 10) is None  # an unterminated string runs to the end


def test_loads_refuses_deep_documents_as_json_errors():
    assert nesting.loads("[" * 32 + "]" * 32) == json.loads("[" * 32 + "]" * 32)
    with pytest.raises(json.JSONDecodeError, match="nest deeper than 32 levels: line 1 column 33"):
        nesting.loads("[" * 5000)
    with pytest.raises(TypeError):
        nesting.loads(None)


def test_hostile_strings_scan_in_one_pass():
    """Every match succeeds where it starts: escaped quotes or unterminated strings cannot make it quadratic."""
    text = '"' + '\\"' * 200_000 + "[" * 40
    assert nesting.too_deep_at(text, "[{", "]}", 32) is None
    assert nesting.too_deep_at("(" * 40, "(", ")", 32) == 32
