"""Item attribute expressions of batch segment jobs, in the filter language.

``ITEMS.GENRE = "Comedy" AND ITEMS.YEAR = "1995" OR ITEMS.GENRE = "Action"``: a bare filter
condition (grammar.lark's ``item_attributes`` rule) restricted to equality of an Items field
with a string, without parentheses; AND binds tighter than OR. An item matches a term when one
of its ``|``-separated values equals the string, ignoring case and surrounding spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .model import BoolOp, Condition, Node, StringValue, Wildcard
from .parser import FilterSyntaxError, parse_condition


class UnknownFieldError(ValueError):
    """The expression names a field the Items dataset does not have."""


def parse_item_attributes(expression: str) -> Node:
    """Parse ``expression``; raise :class:`FilterSyntaxError` when it is not ITEMS.<FIELD> = "<value>" [AND|OR ...]."""
    node, grouped = parse_condition(expression)
    if grouped:
        raise FilterSyntaxError("item attributes take no parentheses", expression, expression.find("("))
    for cond in _conditions(node):
        value = cond.values[0] if len(cond.values) == 1 else None
        if cond.field.dataset != "Items" or cond.op != "=" or not isinstance(value, (StringValue, Wildcard)):
            raise FilterSyntaxError('expected ITEMS.<FIELD> = "<value>"', expression, cond.position)
    return node


def attribute_items(expression: str, metadata: dict[str, Sequence[Any]], n_items: int) -> np.ndarray:
    """Boolean item mask of an item attribute expression over the items' metadata columns (by upper-case name)."""
    return _mask(parse_item_attributes(expression), metadata, n_items)


def _conditions(node: Node) -> list[Condition]:
    if isinstance(node, BoolOp):
        return [c for operand in node.operands for c in _conditions(operand)]
    return [node]  # type: ignore[list-item]


def _mask(node: Node, metadata: dict[str, Sequence[Any]], n_items: int) -> np.ndarray:
    if isinstance(node, BoolOp):
        masks = [_mask(operand, metadata, n_items) for operand in node.operands]
        combine = np.logical_and if node.op == "AND" else np.logical_or
        return combine.reduce(masks)
    assert isinstance(node, Condition)
    values = metadata.get(node.field.name.upper())
    if values is None:
        raise UnknownFieldError(f"the Items dataset has no field {node.field.name}.")
    value = node.values[0]
    wanted = value.value.lower() if isinstance(value, StringValue) else "*"  # a lone "*" is a plain string here
    return np.fromiter(
        (v is not None and wanted in [x.strip().lower() for x in str(v).split("|")] for v in values),
        dtype=bool,
        count=n_items,
    )
