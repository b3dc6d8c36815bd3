"""Property tests: generated valid filter expressions parse; mutated ones fail with a position."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openpersonalize.filters import (
    FilterExpr,
    FilterSyntaxError,
    ItemCatalog,
    UserContext,
    compile_filter,
    parse_filter,
)

ITEM_FIELDS = ["GENRE", "YEAR", "PRICE", "BRAND", "Cat_1"]
USER_FIELDS = ["AGE", "TIER"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = {"INCLUDE", "EXCLUDE", "ItemID", "WHERE", "AND", "OR", "NOT", "IN", "IF", "Items", "Interactions"}
KEYWORDS |= {"CurrentUser"}


@st.composite
def cased(draw: st.DrawFn, word: str) -> str:
    """A keyword in a random mix of upper and lower case."""
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flips, strict=True))


strings = st.text(alphabet="abcXYZ019 -_&'", min_size=1, max_size=8).map(lambda s: f'"{s}"')
numbers = st.one_of(st.integers(-5000, 5000).map(str), st.floats(-1e4, 1e4, allow_nan=False).map(lambda f: f"{f:.3f}"))
params = st.sampled_from(["$GENRE", "$P1", "$max_price", "$X_2"])


@st.composite
def value_list(draw: st.DrawFn, allow_params: bool, event_types: bool = False) -> list[str]:
    if event_types:
        base = st.one_of(st.sampled_from(['"click"', '"watch"', '"*"']), strings)
    else:
        base = st.one_of(strings, numbers)
    choices = st.one_of(base, params) if allow_params else base
    values = draw(st.lists(choices, min_size=1, max_size=3))
    out = ["("]
    for i, v in enumerate(values):
        if i:
            out.append(",")
        out.append(v)
    out.append(")")
    return out


@st.composite
def item_predicate(draw: st.DrawFn) -> list[str]:
    field = ["Items", ".", draw(st.sampled_from(ITEM_FIELDS))]
    kind = draw(st.sampled_from(["in", "not_in", "cmp"]))
    if kind == "in":
        return [*field, "IN", *draw(value_list(True))]
    if kind == "not_in":
        return [*field, "NOT", "IN", *draw(value_list(False))]
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    return [*field, op, draw(st.one_of(numbers, params))]


@st.composite
def interaction_predicate(draw: st.DrawFn) -> list[str]:
    if draw(st.booleans()):
        return ["Interactions", ".", "EVENT_TYPE", "IN", *draw(value_list(True, event_types=True))]
    return ["Interactions", ".", "EVENT_TYPE", "NOT", "IN", *draw(value_list(False, event_types=True))]


@st.composite
def condition(draw: st.DrawFn, predicate: st.SearchStrategy[list[str]], depth: int = 0) -> list[str]:
    parts = draw(st.lists(predicate, min_size=1, max_size=3))
    tokens: list[str] = []
    for i, part in enumerate(parts):
        if i:
            tokens.append(draw(st.sampled_from(["AND", "OR"])))
        if depth == 0 and draw(st.integers(0, 4)) == 0:
            part = ["(", *draw(condition(predicate, depth + 1)), ")"]
        tokens.extend(part)
    return tokens


@st.composite
def if_clause(draw: st.DrawFn) -> list[str]:
    tokens = ["IF"]
    for i in range(draw(st.integers(1, 2))):
        if i:
            tokens.append("AND")
        name = draw(st.sampled_from(USER_FIELDS))
        if draw(st.booleans()):
            tokens += ["CurrentUser", ".", name, ">", draw(numbers)]
        else:
            tokens += ["CurrentUser", ".", name, "IN", *draw(value_list(True))]
    return tokens


@st.composite
def expression(draw: st.DrawFn, with_if: bool = True) -> list[str]:
    action = draw(st.sampled_from(["INCLUDE", "EXCLUDE"]))
    if draw(st.booleans()):
        where = draw(condition(item_predicate()))
    else:
        where = draw(condition(interaction_predicate()))
    tail = draw(if_clause()) if with_if and draw(st.integers(0, 3)) == 0 else []
    return [action, "ItemID", "WHERE", *where, *tail]


@st.composite
def filter_tokens(draw: st.DrawFn, with_if: bool = True) -> list[str]:
    exprs = draw(st.lists(expression(with_if), min_size=1, max_size=5))
    tokens: list[str] = []
    for i, e in enumerate(exprs):
        if i:
            tokens.append("|")
        tokens.extend(e)
    return tokens


@st.composite
def render(draw: st.DrawFn, tokens: list[str]) -> str:
    """Join tokens with random whitespace, keywords in random case, fields glued or spaced."""
    out: list[str] = []
    for tok in tokens:
        if tok in KEYWORDS:
            tok = draw(cased(tok))
        sep = "" if not out else draw(st.sampled_from([" ", "  ", "\n", " \t "]))
        if tok == "." or (out and out[-1] == "."):
            sep = draw(st.sampled_from(["", " "]))
        out.append(sep)
        out.append(tok)
    return "".join(out)


@SETTINGS
@given(st.data())
def test_generated_expressions_parse(data: st.DataObject) -> None:
    tokens = data.draw(filter_tokens())
    text = data.draw(render(tokens))
    expr = parse_filter(text)
    assert len(expr.expressions) == tokens.count("|") + 1
    plain = parse_filter(" ".join(tokens))
    assert expr == plain  # case and whitespace don't change the meaning


DROPPABLE_EXCEPT = {"NOT"}  # "x NOT IN (...)" without NOT is still valid


@SETTINGS
@given(st.data())
def test_dropping_a_token_is_a_syntax_error_with_position(data: st.DataObject) -> None:
    tokens = data.draw(filter_tokens())
    candidates = [
        i
        for i, t in enumerate(tokens)
        if t not in DROPPABLE_EXCEPT and not (i + 1 < len(tokens) and tokens[i + 1] == "NOT")
    ]  # (dropping the field before NOT leaves a field named "NOT", which is valid)
    i = data.draw(st.sampled_from(candidates))
    text = " ".join(tokens[:i] + tokens[i + 1 :])
    try:
        parse_filter(text)
    except FilterSyntaxError as err:
        assert len(" ".join(tokens[:i])) <= err.position <= len(text)  # at or after the gap
        assert err.line >= 1 and err.column >= 1
        assert "expected" in str(err) or "can" in str(err) or "unterminated" in str(err) or "must" in str(err)
    else:
        raise AssertionError(f"dropping {tokens[i]!r} still parsed: {text!r}")


GARBLEABLE = KEYWORDS | {"(", ")", ",", "|", "=", "!=", "<", "<=", ">", ">=", "ItemID"}


@SETTINGS
@given(st.data())
def test_garbling_a_token_is_a_syntax_error_with_position(data: st.DataObject) -> None:
    tokens = data.draw(filter_tokens())
    candidates = [i for i, t in enumerate(tokens) if t in GARBLEABLE or t.startswith('"')]
    i = data.draw(st.sampled_from(candidates))
    tok = tokens[i]
    if tok.startswith('"'):
        garbled = tok[:-1]  # unterminated string
    else:
        garbled = tok + data.draw(st.sampled_from(["X", "@", "1", "#"]))
    text = " ".join(tokens[:i] + [garbled] + tokens[i + 1 :])
    try:
        parse_filter(text)
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(text)
        assert err.position >= len(" ".join(tokens[:i]))  # never before the garbled token
    else:
        raise AssertionError(f"garbling {tok!r} -> {garbled!r} still parsed: {text!r}")


@SETTINGS
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse_filter(text)
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(text)


_ITEMS = pa.table(
    {
        "ITEM_ID": [f"i{i}" for i in range(12)],
        "GENRE": ["a|b", "b", "c", None, "a", "X", "Y|a", "b|c", "", "abc", "1", "0"],
        "YEAR": [1970, 1980, None, 1990, 2000, 1975, 1985, 1970, 1, -5, 0, 3],
        "PRICE": [1.5, 2.0, 3.0, None, 10.0, 0.0, -1.0, 7.0, 8.0, 9.0, 2.5, 4.0],
        "BRAND": ["x", "y", "x", "z", None, "x", "y", "z", "x", "y", "z", "x"],
    }
)
_CATALOG = ItemCatalog(_ITEMS, [f"i{i}" for i in range(14)])


@SETTINGS
@given(st.data())
def test_generated_filters_compile_and_obey_include_exclude_algebra(data: st.DataObject) -> None:
    """With every expression active: (INCLUDE A or INCLUDE B ...) - (EXCLUDE C or EXCLUDE D ...)."""
    tokens = data.draw(filter_tokens(with_if=False))
    expr = parse_filter(" ".join(tokens))
    params = {"GENRE": '"a","b"', "P1": "3", "max_price": "5", "X_2": '"x"'}
    user = UserContext(
        metadata={"AGE": 30, "TIER": "a"},
        item_indices=np.array([0, 1, 2, 13, 5]),
        event_types=np.array(["click", "WATCH", "view", "click", "watch"]),
    )
    try:
        mask = compile_filter(expr, _CATALOG).mask(user, params)
    except ValueError:
        return  # e.g. a string parameter used with a numeric comparison
    assert mask.shape == (14,) and mask.dtype == bool
    include: np.ndarray | None = None
    exclude = np.zeros(14, dtype=bool)
    for e in expr.expressions:
        alone = compile_filter(FilterExpr((e,), ""), _CATALOG).mask(user, params)
        if e.action == "INCLUDE":
            include = alone if include is None else include | alone
        else:
            exclude |= ~alone
    expected = (include if include is not None else np.ones(14, dtype=bool)) & ~exclude
    assert mask.tolist() == expected.tolist()
