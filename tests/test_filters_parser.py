"""Parsing and validation of Personalize filter expressions."""

from __future__ import annotations

import pytest

from openpersonalize.filters import (
    MAX_EXPRESSION_LENGTH,
    BoolOp,
    Condition,
    FieldRef,
    FilterSyntaxError,
    NumberValue,
    Param,
    StringValue,
    Wildcard,
    parse_filter,
)
from openpersonalize.filters.values import FilterValueError, bind_parameters, parse_parameter_value

POC = [
    'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")',
    "INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980",
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
    'INCLUDE ItemID WHERE Interactions.event_type IN ("watch")',  # as the POC notebook spells it
]

DOC_EXAMPLES = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
    'EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoe") AND Items.DESCRIPTION NOT IN ("boot")',
    "INCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20",
    "EXCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20 IF CurrentUser.AGE > 18 AND CurrentUser.AGE < 30",
    'INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") IF CurrentUser.AGE > 18',
    'INCLUDE ItemID WHERE Items.GENRE IN ("drama") '
    '| EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    'INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")',
    "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) "
    '| EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    "INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)",
    "EXCLUDE ItemID WHERE Items.PRICE > CurrentItem.PRICE",
    'INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ("Gold")',
    'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")',
    "INCLUDE ItemID WHERE Items.PRICE <= $MAX_PRICE",
    'EXCLUDE itemId WHERE INTERACTIONS.EVENT_TYPE in ("Purchase")',
]


@pytest.mark.parametrize("text", POC + DOC_EXAMPLES)
def test_valid_expressions_parse(text: str) -> None:
    expr = parse_filter(text)
    assert expr.expressions
    assert expr.text == text


def test_ast_shape_of_decade_filter() -> None:
    expr = parse_filter("INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980")
    (e,) = expr.expressions
    assert (e.action, e.target, e.dataset) == ("INCLUDE", "ItemID", "Items")
    assert isinstance(e.where, BoolOp) and e.where.op == "AND"
    first, second = e.where.operands
    assert first == Condition(FieldRef("Items", "YEAR"), ">=", (NumberValue(1970.0),))
    assert second == Condition(FieldRef("Items", "YEAR"), "<", (NumberValue(1980.0),))
    assert first.position == 21


def test_keywords_and_datasets_are_case_insensitive() -> None:
    a = parse_filter('include itemid where items.GENRE not in ("a") or ITEMS.GENRE = "b" if currentuser.AGE >= 3')
    b = parse_filter('INCLUDE ItemID WHERE Items.GENRE NOT IN ("a") OR Items.GENRE = "b" IF CurrentUser.AGE >= 3')
    assert a == b


def test_event_type_field_is_normalised_and_wildcard_recognised() -> None:
    (e,) = parse_filter('EXCLUDE ItemID WHERE Interactions.Event_Type IN ("*", "Click")').expressions
    assert isinstance(e.where, Condition)
    assert e.where.field.name == "EVENT_TYPE"
    assert e.where.values == (Wildcard(), StringValue("Click"))


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    (e,) = parse_filter('INCLUDE ItemID WHERE Items.A IN ("1") OR Items.B IN ("2") AND Items.C IN ("3")').expressions
    assert isinstance(e.where, BoolOp) and e.where.op == "OR"
    assert isinstance(e.where.operands[1], BoolOp) and e.where.operands[1].op == "AND"
    (g,) = parse_filter('INCLUDE ItemID WHERE (Items.A IN ("1") OR Items.B IN ("2")) AND Items.C IN ("3")').expressions
    assert isinstance(g.where, BoolOp) and g.where.op == "AND"


def test_parameters_collected() -> None:
    expr = parse_filter(
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE, $genre2) AND Items.PRICE < $MAX "
        "IF CurrentUser.AGE > $AGE | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENTS)"
    )
    assert expr.parameters == {"GENRE", "genre2", "MAX", "AGE", "EVENTS"}
    assert expr.required_parameters == {"GENRE", "genre2", "MAX", "AGE"}
    cond = expr.expressions[0].conditions[0]
    assert cond.values == (Param("GENRE"), Param("genre2"))


def test_strings_with_escaped_quotes_and_spaces() -> None:
    (e,) = parse_filter(r'INCLUDE ItemID WHERE Items.TITLE IN ("Children\"s", "Sci-Fi & more")').expressions
    assert isinstance(e.where, Condition)
    assert [v.value for v in e.where.values] == ['Children"s', "Sci-Fi & more"]  # type: ignore[union-attr]


def test_multiline_expression_positions() -> None:
    text = 'INCLUDE ItemID\nWHERE Items.GENRE IN ("a")\n  AND Items.YEAR >> 3'
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.line == 3
    assert text[info.value.position] == ">"
    assert info.value.position == text.index(">>") + 1


@pytest.mark.parametrize(
    ("text", "fragment", "at"),
    [
        ('INCLUDE ItemID Items.GENRE IN ("a")', "expected WHERE", "Items"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a"', "expected one of ',' or ')'", None),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a)', "unterminated string", '"'),
        ('INCLUDE ItemID WHERE Items.GENRE ("a")', "NOT IN, IN or a comparison operator", "("),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a" "b")', "','", '"b"'),
        ('FILTER ItemID WHERE Items.GENRE IN ("a")', "INCLUDE or EXCLUDE", "FILTER"),
        ('INCLUDE Items WHERE Items.GENRE IN ("a")', "ItemID", "Items"),
        ('INCLUDE ItemID WHERE Foo.GENRE IN ("a")', "expected a dataset", "Foo"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") @', "AND, OR, IF", "@"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") |', "found end of expression", None),
        ("INCLUDE ItemID WHERE Items.GENRE IN ()", "expected", ")"),
        (
            'INCLUDE ItemID WHERE Items.A IN ("a") AND Interactions.EVENT_TYPE IN ("b")',
            "dataset of the first",
            "Interactions",
        ),
        ("INCLUDE ItemID WHERE Items.A NOT IN ($X)", "NOT IN", "$X"),
        ('INCLUDE ItemID WHERE Items.A IN ("a") IF Items.B > 3', "IF conditions can only test CurrentUser", "Items"),
        ('INCLUDE ItemID WHERE CurrentUser.A IN ("a")', "CurrentUser can only be used in an IF", "CurrentUser"),
        ('INCLUDE ItemID WHERE Items.A IN ("*")', '"*" can only be used', '"*"'),
        ('INCLUDE ItemID WHERE Interactions.EVENT_VALUE IN ("a")', "only use EVENT_TYPE", "Interactions"),
        ("INCLUDE ItemID WHERE Interactions.EVENT_TYPE > 3", "IN or NOT IN", "Interactions"),
        ('INCLUDE ItemID WHERE Items.A > "x"', "compares numbers", '"x"'),
        ('INCLUDE ItemID WHERE Users.A IN ("x")', "Items or Interactions", "Users"),
        ('INCLUDE UserID WHERE Items.A IN ("x")', "Users or Interactions", "Items"),
        (
            'INCLUDE ItemID WHERE Items.A IN ("x") | INCLUDE UserID WHERE Users.A IN ("x")',
            "must filter ItemID",
            "INCLUDE",
        ),
        ("INCLUDE UserID WHERE Users.A IN (CurrentItem.A)", "CurrentItem can only be compared", "CurrentItem"),
        ('INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.A IN ("x") IF CurrentUser.B IN ("y")', "AND", "IF"),
        ('INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.A IN ("x") OR CurrentUser.B IN ("y")', "AND", "OR"),
        ("", "empty expression", None),
    ],
)
def test_errors_say_what_was_expected_and_where(text: str, fragment: str, at: str | None) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert fragment in str(err)
    assert 0 <= err.position <= len(text)
    assert err.line >= 1 and err.column >= 1
    if at is not None:
        assert text[err.position :].startswith(at), (text[err.position :], at)


def test_length_limit() -> None:
    base = 'INCLUDE ItemID WHERE Items.GENRE IN ("a"'
    ok = base + ', "b"' * ((MAX_EXPRESSION_LENGTH - len(base) - 1) // 5) + ")"
    assert len(ok) <= MAX_EXPRESSION_LENGTH
    parse_filter(ok)
    too_long = ok[:-1] + ', "c"' * 3 + ")"
    with pytest.raises(FilterSyntaxError, match="maximum is 2500"):
        parse_filter(too_long)


def test_at_most_five_expressions() -> None:
    one = 'EXCLUDE ItemID WHERE Items.GENRE IN ("a")'
    parse_filter(" | ".join([one] * 5))
    with pytest.raises(FilterSyntaxError, match="at most 5 expressions") as info:
        parse_filter(" | ".join([one] * 6))
    assert info.value.position == len(" | ".join([one] * 5)) + 3


def test_at_most_ten_distinct_fields() -> None:
    conds = " AND ".join(f'Items.F{i} IN ("x")' for i in range(10))
    parse_filter(f"INCLUDE ItemID WHERE {conds}")
    with pytest.raises(FilterSyntaxError, match="at most 10 distinct"):
        parse_filter(f'INCLUDE ItemID WHERE {conds} AND Items.F10 IN ("x")')


def test_filter_values_parsing() -> None:
    assert parse_parameter_value("G", '"comedy","drama"') == ("comedy", "drama")
    assert parse_parameter_value("G", ' "comedy" , "Sci-Fi, etc." ') == ("comedy", "Sci-Fi, etc.")
    assert parse_parameter_value("P", "10") == (10.0,)
    assert parse_parameter_value("P", "-2.5") == (-2.5,)
    assert parse_parameter_value("G", '"say \\"hi\\""') == ('say "hi"',)
    assert parse_parameter_value("G", "comedy") == ("comedy",)
    for bad in ["", '"a",', '"a" "b"', '"a', ",".join(['"x"'] * 11)]:
        with pytest.raises(FilterValueError):
            parse_parameter_value("G", bad)


def test_bind_parameters_requires_include_parameters_only() -> None:
    expr = parse_filter(
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EV)"
    )
    assert bind_parameters(expr, {"GENRE": '"a"'}) == {"GENRE": ("a",)}
    with pytest.raises(FilterValueError, match=r"\$GENRE"):
        bind_parameters(expr, {"EV": '"click"'})
    with pytest.raises(FilterValueError, match=r"\$GENRE"):
        bind_parameters(expr, {"genre": '"a"'})  # names are case-sensitive
