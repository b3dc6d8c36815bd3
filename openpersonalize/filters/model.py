"""AST of a parsed filter expression (immutable dataclasses)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Dataset = Literal["Items", "Users", "Interactions", "Actions", "CurrentUser", "CurrentItem"]
Target = Literal["ItemID", "UserID", "ActionID"]
Action = Literal["INCLUDE", "EXCLUDE"]
Op = Literal["IN", "NOT IN", "=", "!=", "<", "<=", ">", ">="]

COMPARISON_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class FieldRef:
    """``Dataset.FIELD``; ``dataset`` is normalised to its canonical spelling."""

    dataset: Dataset
    name: str
    position: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.dataset}.{self.name}"


@dataclass(frozen=True)
class StringValue:
    """A double-quoted string literal (unescaped)."""

    value: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NumberValue:
    """A numeric literal."""

    value: float
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Wildcard:
    """``"*"`` in ``Interactions.EVENT_TYPE IN ("*")``: every event type."""

    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Param:
    """A ``$NAME`` placeholder bound from ``filterValues`` at request time."""

    name: str
    position: int = field(default=0, compare=False)


Value = StringValue | NumberValue | Wildcard | Param | FieldRef


@dataclass(frozen=True)
class Condition:
    """``field op values``; comparison operators carry exactly one value."""

    field: FieldRef
    op: Op
    values: tuple[Value, ...]
    position: int = field(default=0, compare=False)

    @property
    def parameters(self) -> set[str]:
        """Names of the ``$PARAM`` placeholders in this condition."""
        return {v.name for v in self.values if isinstance(v, Param)}


@dataclass(frozen=True)
class BoolOp:
    """``AND`` / ``OR`` over two or more operands."""

    op: Literal["AND", "OR"]
    operands: tuple[Node, ...]


Node = Condition | BoolOp


def iter_conditions(node: Node) -> Iterator[Condition]:
    """Every leaf condition under ``node``, left to right."""
    if isinstance(node, Condition):
        yield node
    else:
        for operand in node.operands:
            yield from iter_conditions(operand)


@dataclass(frozen=True)
class Expression:
    """One ``INCLUDE|EXCLUDE <target> WHERE ... [IF ...]`` expression."""

    action: Action
    target: Target
    where: Node
    dataset: Dataset
    if_conditions: tuple[Condition, ...] = ()
    position: int = field(default=0, compare=False)

    @property
    def conditions(self) -> list[Condition]:
        """The WHERE leaf conditions."""
        return list(iter_conditions(self.where))

    @property
    def parameters(self) -> set[str]:
        """Names of ``$PARAM`` placeholders in WHERE and IF."""
        names: set[str] = set()
        for cond in [*self.conditions, *self.if_conditions]:
            names |= cond.parameters
        return names

    @property
    def uses_current_item(self) -> bool:
        """True when a value refers to ``CurrentItem.FIELD``."""
        return any(
            isinstance(v, FieldRef) and v.dataset == "CurrentItem" for cond in self.conditions for v in cond.values
        )


@dataclass(frozen=True)
class FilterExpr:
    """A whole filter: one to five expressions joined by ``|``."""

    expressions: tuple[Expression, ...]
    text: str = field(default="", compare=False)

    @property
    def parameters(self) -> set[str]:
        """Names of every ``$PARAM`` placeholder (case-sensitive, without ``$``)."""
        names: set[str] = set()
        for expr in self.expressions:
            names |= expr.parameters
        return names

    @property
    def target(self) -> Target:
        """What the filter selects: ``ItemID``, ``UserID`` or ``ActionID``."""
        return self.expressions[0].target

    @property
    def required_parameters(self) -> set[str]:
        """Parameters that must be supplied (those used by INCLUDE expressions)."""
        names: set[str] = set()
        for expr in self.expressions:
            if expr.action == "INCLUDE":
                names |= expr.parameters
        return names

    @property
    def uses_current_item(self) -> bool:
        """True when any expression refers to ``CurrentItem`` (related-items recipes only)."""
        return any(e.uses_current_item for e in self.expressions)

    @property
    def uses_current_user(self) -> bool:
        """True when any expression has an ``IF CurrentUser...`` clause."""
        return any(e.if_conditions for e in self.expressions)

    @property
    def uses_interactions(self) -> bool:
        """True when any expression filters on the Interactions dataset."""
        return any(e.dataset == "Interactions" for e in self.expressions)

    @property
    def fields(self) -> set[FieldRef]:
        """Distinct dataset fields referenced (positions ignored)."""
        out: set[FieldRef] = set()
        for expr in self.expressions:
            for cond in [*expr.conditions, *expr.if_conditions]:
                out.add(FieldRef(cond.field.dataset, cond.field.name))
                for v in cond.values:
                    if isinstance(v, FieldRef):
                        out.add(FieldRef(v.dataset, v.name))
        return out
