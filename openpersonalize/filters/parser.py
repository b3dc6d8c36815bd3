"""Parse and validate Amazon Personalize filter expressions.

``parse_filter(text)`` returns a :class:`FilterExpr` or raises :class:`FilterSyntaxError`
(a ``ValueError`` carrying the character offset, line and column of the problem and a
message saying what was expected). Both grammar errors and Personalize's documented
structural rules (which datasets may be combined, where ``CurrentUser`` / ``CurrentItem`` /
``"*"`` / ``$PARAM`` may appear, the 2,500-character and five-expression limits) raise it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from openpersonalize.filters.model import (
    BoolOp,
    Condition,
    Dataset,
    Expression,
    FieldRef,
    FilterExpr,
    Node,
    NumberValue,
    Param,
    StringValue,
    Target,
    Value,
    Wildcard,
    iter_conditions,
)
from openpersonalize.nesting import too_deep_at

MAX_EXPRESSION_LENGTH = 2500
# Parentheses nest at most this deep: the tree is built and walked recursively, once per level.
MAX_PAREN_DEPTH = 32
"""CreateFilter ``filterExpression`` maximum length."""
MAX_EXPRESSIONS = 5
"""Most expressions that may be chained with ``|``."""
MAX_DISTINCT_FIELDS = 10
"""Most distinct dataset fields in one filter (all chained expressions together)."""
MAX_PARAM_NAME_LENGTH = 50
"""``filterValues`` keys are at most 50 characters of ``[A-Za-z0-9_]``."""

EVENT_TYPE = "EVENT_TYPE"

_DATASETS: dict[str, Dataset] = {
    "items": "Items",
    "users": "Users",
    "interactions": "Interactions",
    "action_interactions": "Interactions",  # an ActionID filter's interactions: the user's action interactions
    "actions": "Actions",
    "currentuser": "CurrentUser",
    "currentitem": "CurrentItem",
}
_TARGETS: dict[str, Target] = {"itemid": "ItemID", "userid": "UserID", "actionid": "ActionID"}
_WHERE_DATASETS: dict[str, tuple[str, ...]] = {
    "ItemID": ("Items", "Interactions"),
    "UserID": ("Users", "Interactions"),
    "ActionID": ("Actions", "Interactions"),
}

_TERMINAL_NAMES = {
    "INCLUDE": "INCLUDE",
    "EXCLUDE": "EXCLUDE",
    "ITEMID": "ItemID",
    "USERID": "UserID",
    "ACTIONID": "ActionID",
    "WHERE": "WHERE",
    "AND": "AND",
    "OR": "OR",
    "NOT": "NOT IN",
    "IN": "IN",
    "IF": "IF",
    "NAME": "a dataset or field name",
    "NUMBER": "a number",
    "STRING": 'a "quoted string"',
    "PARAM": "a $PARAMETER",
    "COMPOP": "a comparison operator (=, !=, <, <=, >, >=)",
    "PIPE": "'|'",
    "DOT": "'.'",
    "COMMA": "','",
    "LPAR": "'('",
    "RPAR": "')'",
    "$END": "end of expression",
}
_ORDER = list(_TERMINAL_NAMES)


class FilterSyntaxError(ValueError):
    """An invalid filter expression; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, text: str, position: int) -> None:
        position = max(0, min(position, len(text)))
        self.reason = message
        self.text = text
        self.position = position
        self.line = text.count("\n", 0, position) + 1
        self.column = position - (text.rfind("\n", 0, position) + 1) + 1
        super().__init__(f"Invalid filter expression: {message} at line {self.line}, column {self.column}")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("openpersonalize.filters").joinpath("grammar.lark").read_text("utf-8")
    return Lark(
        grammar, parser="lalr", lexer="contextual", maybe_placeholders=False, start=["start", "item_attributes"]
    )


def _describe_expected(expected: set[str]) -> str:
    names: list[str] = []
    for term in sorted(expected, key=lambda t: _ORDER.index(t) if t in _ORDER else len(_ORDER)):
        name = _TERMINAL_NAMES.get(term, term)
        if name not in names:
            names.append(name)
    if not names:
        return "nothing"
    if len(names) == 1:
        return names[0]
    return "one of " + ", ".join(names[:-1]) + " or " + names[-1]


def _describe_found(text: str, position: int) -> str:
    if position >= len(text):
        return "end of expression"
    match = re.match(r"\"[^\"]*\"?|[A-Za-z0-9_$]+|\S", text[position:])
    return repr(match.group(0) if match else text[position])


def _syntax_error(text: str, err: UnexpectedInput) -> FilterSyntaxError:
    if isinstance(err, UnexpectedEOF):
        pos = len(text.rstrip())
        return FilterSyntaxError(
            f"expected {_describe_expected(set(err.expected))} but found end of expression", text, pos
        )
    if isinstance(err, UnexpectedToken):
        pos = err.token.start_pos if err.token.type != "$END" else len(text.rstrip())
        pos = pos if pos is not None else len(text)
        expected = set(err.accepts or err.expected)
        return FilterSyntaxError(
            f"expected {_describe_expected(expected)} but found {_describe_found(text, pos)}", text, pos
        )
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        if text[pos] == '"':
            return FilterSyntaxError("unterminated string literal", text, pos)
        allowed = set(err.allowed or ())
        return FilterSyntaxError(
            f"expected {_describe_expected(allowed)} but found {_describe_found(text, pos)}", text, pos
        )
    return FilterSyntaxError(str(err), text, getattr(err, "pos_in_stream", 0) or 0)


def _parse(text: str, start: str) -> Tree:
    """The lark tree of ``text`` from the grammar rule ``start``, nesting bounded."""
    too_deep = too_deep_at(text, "(", ")", MAX_PAREN_DEPTH)
    if too_deep is not None:
        raise FilterSyntaxError(f"parentheses nest deeper than {MAX_PAREN_DEPTH} levels", text, too_deep)
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as err:
        raise _syntax_error(text, err) from None


def parse_filter(expression: str) -> FilterExpr:
    """Parse and validate ``expression``; raise :class:`FilterSyntaxError` when invalid."""
    if not isinstance(expression, str):
        raise TypeError("filter expression must be a string")
    if not expression.strip():
        raise FilterSyntaxError("expected INCLUDE or EXCLUDE but found an empty expression", expression, 0)
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise FilterSyntaxError(
            f"the expression is {len(expression)} characters long; the maximum is {MAX_EXPRESSION_LENGTH}",
            expression,
            MAX_EXPRESSION_LENGTH,
        )
    return _Builder(expression).build(_parse(expression, "start"))


def parse_condition(text: str) -> tuple[Node, bool]:
    """Parse a bare condition (the ``item_attributes`` rule): its node, and whether it has parentheses.

    Only the grammar and field syntax are checked; the caller applies its own rules.
    """
    tree = _parse(text, "item_attributes")
    grouped = any(True for _ in tree.find_data("group"))
    return _Builder(text).node(tree.children[0]), grouped


class _Builder:
    """Turns the lark tree into the AST and applies Personalize's structural rules."""

    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, message: str, position: int | None) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.text, position or 0)

    def build(self, tree: Tree) -> FilterExpr:
        expressions: list[Expression] = []
        for child in tree.children:
            if isinstance(child, Tree):
                if len(expressions) == MAX_EXPRESSIONS:
                    raise self.fail(
                        f"at most {MAX_EXPRESSIONS} expressions can be combined with '|'",
                        _first_pos(child),
                    )
                expressions.append(self.expression(child))
        first = expressions[0]
        for expr in expressions[1:]:
            if expr.target != first.target:
                raise self.fail(
                    f"every combined expression must filter {first.target}, not {expr.target}", expr.position
                )
        result = FilterExpr(tuple(expressions), self.text)
        # field names match the schema's case-insensitively, so Items.GENRE and Items.genre are one field
        distinct = {(ref.dataset, ref.name.upper()) for ref in result.fields}
        if len(distinct) > MAX_DISTINCT_FIELDS:
            raise self.fail(
                f"a filter can use at most {MAX_DISTINCT_FIELDS} distinct dataset fields "
                f"(this one uses {len(distinct)})",
                0,
            )
        return result

    def expression(self, tree: Tree) -> Expression:
        action_tok = _tok(tree.children[0])
        target_tok = _tok(tree.children[1])
        action = "INCLUDE" if action_tok.type == "INCLUDE" else "EXCLUDE"
        target = _TARGETS[target_tok.value.lower()]
        where = self.node(tree.children[3])
        if_conditions: tuple[Condition, ...] = ()
        if len(tree.children) > 4:
            if target == "UserID":
                raise self.fail(
                    "IF CurrentUser conditions apply to ItemID and ActionID filters only: a user segment has no "
                    "current user",
                    _first_pos(tree.children[4]),
                )
            if_conditions = tuple(self.predicate(p) for p in tree.children[4].children if isinstance(p, Tree))
        conditions = list(iter_conditions(where))
        dataset = conditions[0].field.dataset
        allowed = _WHERE_DATASETS[target]
        for cond in conditions:
            ds = cond.field.dataset
            if ds in ("CurrentUser", "CurrentItem"):
                where_hint = "in an IF clause" if ds == "CurrentUser" else "as a value, e.g. IN (CurrentItem.X)"
                raise self.fail(f"{ds} can only be used {where_hint}", cond.field.position)
            if ds not in allowed:
                raise self.fail(
                    f"{target} filters can use {' or '.join(allowed)} fields in WHERE, not {ds}",
                    cond.field.position,
                )
            if ds != dataset:
                raise self.fail(
                    f"conditions joined by AND/OR must all use the dataset of the first condition "
                    f"({dataset}); combine expressions with '|' to filter on {ds} as well",
                    cond.field.position,
                )
            self.check_where_condition(cond, target)
        for cond in if_conditions:
            self.check_if_condition(cond)
        return Expression(action, target, where, dataset, if_conditions, action_tok.start_pos or 0)

    def node(self, tree: Tree) -> Node:
        if tree.data in ("or_cond", "and_cond"):
            operands = [self.node(c) for c in tree.children if isinstance(c, Tree)]
            if len(operands) == 1:
                return operands[0]
            op = "OR" if tree.data == "or_cond" else "AND"
            flat: list[Node] = []
            for operand in operands:
                if isinstance(operand, BoolOp) and operand.op == op:
                    flat.extend(operand.operands)
                else:
                    flat.append(operand)
            return BoolOp(op, tuple(flat))
        if tree.data == "group":
            return self.node(tree.children[1])
        return self.predicate(tree)

    def predicate(self, tree: Tree) -> Condition:
        field = self.field(tree.children[0])
        if tree.data == "cmp_pred":
            op_tok = _tok(tree.children[1])
            values: tuple[Value, ...] = (self.value(next(c for c in tree.children[2:] if _is_value(c))),)
            op = op_tok.value
        else:
            op = "IN" if tree.data == "in_pred" else "NOT IN"
            value_list = tree.children[-1]
            values = tuple(self.value(c) for c in value_list.children if _is_value(c))
        return Condition(field, op, values, field.position)  # type: ignore[arg-type]

    def field(self, tree: Tree) -> FieldRef:
        ds_tok, _, name_tok = (_tok(c) for c in tree.children)
        dataset = _DATASETS.get(ds_tok.value.lower())
        if dataset is None:
            raise self.fail(
                "expected a dataset (Items, Users, Interactions, Actions, Action_Interactions, CurrentUser or "
                "CurrentItem) "
                f"but found {ds_tok.value!r}",
                ds_tok.start_pos,
            )
        name = name_tok.value
        if dataset == "Interactions" and name.upper() == EVENT_TYPE:
            name = EVENT_TYPE
        return FieldRef(dataset, name, ds_tok.start_pos or 0)

    def value(self, node: Tree | Token) -> Value:
        if isinstance(node, Tree):
            return self.field(node)
        pos = node.start_pos or 0
        if node.type == "STRING":
            raw = node.value[1:-1]
            text = re.sub(r"\\(.)", r"\1", raw)
            if text == "*":
                return Wildcard(pos)
            return StringValue(text, pos)
        if node.type == "NUMBER":
            return NumberValue(float(node.value), pos)
        if node.type == "PARAM":
            name = node.value[1:]
            if len(name) > MAX_PARAM_NAME_LENGTH:
                raise self.fail(f"parameter names are at most {MAX_PARAM_NAME_LENGTH} characters", pos)
            return Param(name, pos)
        raise self.fail(f"unexpected {node.value!r}", pos)  # pragma: no cover - grammar prevents it

    def check_where_condition(self, cond: Condition, target: str) -> None:
        ds = cond.field.dataset
        if ds == "Interactions":
            if cond.field.name != EVENT_TYPE:
                raise self.fail(
                    f"Interactions filters can only use EVENT_TYPE, not {cond.field.name}", cond.field.position
                )
            if cond.op not in ("IN", "NOT IN"):
                raise self.fail("Interactions.EVENT_TYPE can only be used with IN or NOT IN", cond.position)
        for v in cond.values:
            if isinstance(v, Wildcard) and ds != "Interactions":
                raise self.fail('"*" can only be used with Interactions.EVENT_TYPE', v.position)
            if isinstance(v, Param) and cond.op == "NOT IN":
                raise self.fail(
                    "placeholder parameters can't be used with NOT IN; use IN with the opposite "
                    "INCLUDE/EXCLUDE instead",
                    v.position,
                )
            if isinstance(v, FieldRef):
                if v.dataset != "CurrentItem":
                    raise self.fail(f"only CurrentItem fields can be used as values, not {v.dataset}", v.position)
                if ds != "Items" or target != "ItemID":
                    raise self.fail("CurrentItem can only be compared with Items fields", v.position)
            if isinstance(v, NumberValue) and ds == "Interactions":
                raise self.fail('event types must be "quoted strings"', v.position)
        self.check_comparison(cond)

    def check_if_condition(self, cond: Condition) -> None:
        if cond.field.dataset != "CurrentUser":
            raise self.fail(
                f"IF conditions can only test CurrentUser fields, not {cond.field.dataset}", cond.field.position
            )
        for v in cond.values:
            if isinstance(v, FieldRef):
                raise self.fail("IF conditions compare CurrentUser fields with values", v.position)
            if isinstance(v, Wildcard):
                raise self.fail('"*" can only be used with Interactions.EVENT_TYPE', v.position)
            if isinstance(v, Param) and cond.op == "NOT IN":
                raise self.fail("placeholder parameters can't be used with NOT IN", v.position)
        self.check_comparison(cond)

    def check_comparison(self, cond: Condition) -> None:
        if cond.op in ("IN", "NOT IN"):
            return
        (v,) = cond.values
        if isinstance(v, StringValue) and cond.op not in ("=", "!="):
            raise self.fail(f"{cond.op} compares numbers; found a string", v.position)


def _tok(node: Tree | Token) -> Token:
    assert isinstance(node, Token)
    return node


def _is_value(node: Tree | Token) -> bool:
    return isinstance(node, Tree) or node.type in ("STRING", "NUMBER", "PARAM")


def _first_pos(tree: Tree) -> int:
    for tok in tree.scan_values(lambda t: isinstance(t, Token)):
        return tok.start_pos or 0
    return 0
