"""Batch segment itemAttributes are the filter language's: parsed by filters/ (grammar.lark's item_attributes)."""

import numpy as np
import pytest

from openpersonalize.filters import FilterSyntaxError
from openpersonalize.filters.attributes import UnknownFieldError, attribute_items, parse_item_attributes

META = {"GENRE": ["Comedy|Drama", "Action", None, " comedy "], "YEAR": [1995, 1995, 2000, 1990]}


def test_and_binds_tighter_than_or() -> None:
    got = attribute_items('items.YEAR = "1990" OR ITEMS.GENRE = "action" AND ITEMS.YEAR = "1995"', META, 4)
    assert got.tolist() == [False, True, False, True]


def test_escaped_quote_in_value() -> None:
    meta = {"TITLE": ['say "hi"', "hi"]}
    assert attribute_items(r'ITEMS.TITLE = "say \"hi\""', meta, 2).tolist() == [True, False]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ('(ITEMS.GENRE = "a")', "item attributes take no parentheses"),
        ('USERS.GENRE = "a"', 'expected ITEMS.<FIELD> = "<value>"'),
        ('ITEMS.GENRE IN ("a")', 'expected ITEMS.<FIELD> = "<value>"'),
        ('ITEMS.GENRE != "a"', 'expected ITEMS.<FIELD> = "<value>"'),
        ("ITEMS.YEAR = 1995", 'expected ITEMS.<FIELD> = "<value>"'),
        ('ITEMS.GENRE = "a" AND', "but found end of expression"),
        ('ITEMS.GENRE = "a" XOR ITEMS.YEAR = "1"', "but found 'XOR'"),
    ],
)
def test_malformed_expressions_are_refused(expression: str, reason: str) -> None:
    with pytest.raises(FilterSyntaxError) as err:
        parse_item_attributes(expression)
    assert reason in err.value.reason


def test_deep_nesting_is_refused_before_parsing() -> None:
    with pytest.raises(FilterSyntaxError, match="nest deeper"):
        parse_item_attributes("(" * 200 + 'ITEMS.GENRE = "a"' + ")" * 200)


def test_unknown_field_is_named() -> None:
    with pytest.raises(UnknownFieldError, match="no field RATING"):
        attribute_items('ITEMS.GENRE = "a" OR ITEMS.RATING = "5"', META, 4)
    assert not np.any(attribute_items('ITEMS.GENRE = "Horror"', META, 4))
