"""Compile a parsed filter into boolean masks evaluated on the recommendation hot path.

Semantics (Personalize's "Combining multiple expressions"): each expression is evaluated on
its own; INCLUDE results are unioned, EXCLUDE results are unioned, and the answer is
``(INCLUDE A or INCLUDE B ...) - (EXCLUDE C or EXCLUDE D ...)`` whatever the order. With no
active INCLUDE expression everything not excluded may be recommended.

An expression is skipped (not applied) when its ``IF CurrentUser...`` clause is false or the
user has no value for the field, and when it is an EXCLUDE expression whose ``$PARAM`` was not
given in ``filterValues`` (INCLUDE expressions need all their parameters). Nulls never match.

The item-metadata part depends only on the parameter values, the active expressions and
(for ``CurrentItem``) the current item, so it is cached in an LRU; each request then costs one
copy of the cached mask plus a scatter of the user's interaction indices.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from openpersonalize.filters import model
from openpersonalize.filters.catalog import (
    ItemCatalog,
    MetadataCatalog,
    Scalar,
    UserCatalog,
    canonical_number,
    to_number,
)
from openpersonalize.filters.values import FilterValueError, ParamValue, bind_parameters

DEFAULT_CACHE_SIZE = 128


@dataclass
class UserContext:
    """What the runtime knows about the requesting user.

    ``metadata``: the user's Users-dataset row (field -> value; categorical ``A|B`` allowed).
    ``item_indices`` / ``event_types``: the user's interactions (imported + live), parallel
    arrays of model item index and event type.
    """

    metadata: Mapping[str, Any] | None = None
    item_indices: np.ndarray | None = None
    event_types: np.ndarray | Sequence[str] | None = None


class _LRU:
    """A small thread-safe LRU mapping."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        with self.lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        if self.size <= 0:
            return
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


def _resolve(
    cond: model.Condition,
    bound: Mapping[str, tuple[ParamValue, ...]],
    current: tuple[MetadataCatalog, int | None] | None = None,
) -> list[Scalar]:
    """The concrete values of a condition: literals, parameter values, CurrentItem values."""
    out: list[Scalar] = []
    for v in cond.values:
        if isinstance(v, model.StringValue | model.NumberValue):
            out.append(v.value)
        elif isinstance(v, model.Param):
            out.extend(bound.get(v.name, ()))
        elif isinstance(v, model.FieldRef) and current is not None:
            catalog, index = current
            out.extend(catalog.values_of(v.name, index))
    return out


def _comparison_number(cond: model.Condition, values: list[Scalar]) -> float | None:
    """The single number a comparison needs (None when the value is null)."""
    if not values:
        return None
    numbers = [to_number(v) for v in values]
    if any(n is None for n in numbers) or len(numbers) != 1:
        names = ", ".join(sorted(cond.parameters)) or str(cond.field)
        raise FilterValueError(f"{cond.op} needs exactly one numeric value (for {names})")
    return numbers[0]


def _eval_metadata(
    node: model.Node,
    catalog: MetadataCatalog,
    bound: Mapping[str, tuple[ParamValue, ...]],
    current: tuple[MetadataCatalog, int | None] | None,
) -> np.ndarray:
    """Boolean mask over ``catalog`` rows for a WHERE tree on its dataset."""
    if isinstance(node, model.BoolOp):
        masks = [_eval_metadata(op, catalog, bound, current) for op in node.operands]
        reduce = np.logical_and if node.op == "AND" else np.logical_or
        return reduce.reduce(masks)
    column = catalog.column(node.field.name)
    if column is None:
        return np.zeros(catalog.size, dtype=bool)
    values = _resolve(node, bound, current)
    if not values:
        return np.zeros(catalog.size, dtype=bool)
    if node.op in ("IN", "="):
        return column.isin(values)
    if node.op in ("NOT IN", "!="):
        assert column.valid is not None
        return column.valid & ~column.isin(values)
    number = _comparison_number(node, values)
    if number is None:
        return np.zeros(catalog.size, dtype=bool)
    return column.compare(node.op, number)


def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.casefold()


def _split_metadata(value: Any, separator: str) -> list[Scalar]:
    if value is None:
        return []
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, int | float):
        return [] if value != value else [float(value)]
    if isinstance(value, list | tuple | set):
        return [x for item in value for x in _split_metadata(item, separator)]
    return [part for part in str(value).split(separator) if part != ""]


def _lookup(metadata: Mapping[str, Any], name: str) -> Any:
    if name in metadata:
        return metadata[name]
    folded = name.casefold()
    for key, value in metadata.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return None


def _eval_user_condition(
    cond: model.Condition,
    metadata: Mapping[str, Any] | None,
    bound: Mapping[str, tuple[ParamValue, ...]],
    case_sensitive: bool,
    separator: str,
) -> bool:
    """``CurrentUser.FIELD op values`` for one user (null / missing never matches)."""
    if not metadata:
        return False
    have = _split_metadata(_lookup(metadata, cond.field.name), separator)
    if not have:
        return False
    wanted = _resolve(cond, bound)
    if not wanted:
        return False
    if cond.op in ("IN", "NOT IN", "=", "!="):

        def key(v: Scalar) -> str:
            return canonical_number(v) if isinstance(v, float) else _fold(v, case_sensitive)

        hit = bool({key(h) for h in have} & {key(w) for w in wanted})
        return hit if cond.op in ("IN", "=") else not hit
    number = _comparison_number(cond, wanted)
    mine = to_number(have[0]) if len(have) == 1 else None
    if number is None or mine is None:
        return False
    return {
        "=": mine == number,
        "!=": mine != number,
        "<": mine < number,
        "<=": mine <= number,
        ">": mine > number,
        ">=": mine >= number,
    }[cond.op]


def _event_node_matches(node: model.Node, event: str, bound: Mapping[str, tuple[ParamValue, ...]]) -> bool:
    """Whether one (case-folded) event type satisfies an Interactions WHERE tree."""
    if isinstance(node, model.BoolOp):
        results = (_event_node_matches(op, event, bound) for op in node.operands)
        return all(results) if node.op == "AND" else any(results)
    wanted: set[str] = set()
    wildcard = False
    for v in node.values:
        if isinstance(v, model.Wildcard):
            wildcard = True
        elif isinstance(v, model.StringValue):
            wanted.add(v.value.casefold())
        elif isinstance(v, model.Param):
            for pv in bound.get(v.name, ()):
                text = canonical_number(pv) if isinstance(pv, float) else pv
                if text == "*":
                    wildcard = True
                wanted.add(text.casefold())
    hit = wildcard or event in wanted
    return hit if node.op in ("IN", "=") else not hit


def _interaction_hits(
    node: model.Node,
    indices: np.ndarray | None,
    events: np.ndarray | Sequence[str] | None,
    bound: Mapping[str, tuple[ParamValue, ...]],
    size: int,
) -> np.ndarray:
    """Row indices (items or users) having an interaction whose event type satisfies ``node``."""
    if indices is None or events is None or len(indices) == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.asarray(indices, dtype=np.int64)
    ev = np.asarray(events)
    uniq, inverse = np.unique(ev, return_inverse=True)
    ok = np.fromiter((_event_node_matches(node, str(e).casefold(), bound) for e in uniq), dtype=bool, count=len(uniq))
    chosen = idx[ok[inverse.reshape(-1)]]
    return chosen[(chosen >= 0) & (chosen < size)]


@dataclass
class _Plan:
    """Per-expression facts fixed at compile time."""

    index: int
    expr: model.Expression
    include: bool
    on_interactions: bool
    params: tuple[str, ...]
    uses_current_item: bool = False
    fields: list[str] = field(default_factory=list)


CatalogT = TypeVar("CatalogT", bound=MetadataCatalog)


class _BoundFilter(Generic[CatalogT]):
    """A parsed filter bound to the catalog of what it selects (items or users), and what it asks of a request."""

    def __init__(self, expr: model.FilterExpr, catalog: CatalogT) -> None:
        self.expr = expr
        self.catalog = catalog
        self.size = catalog.size
        self.parameters = expr.parameters
        self.required_parameters = expr.required_parameters
        self.uses_interactions = expr.uses_interactions


class CompiledFilter(_BoundFilter[ItemCatalog]):
    """A filter bound to an :class:`ItemCatalog`; :meth:`mask` gives the items allowed."""

    def __init__(self, expr: model.FilterExpr, catalog: ItemCatalog, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if expr.target != "ItemID":
            raise ValueError(f"compile_filter needs an ItemID filter, not {expr.target}")
        super().__init__(expr, catalog)
        self.uses_current_item = expr.uses_current_item
        self.uses_current_user = expr.uses_current_user
        self.plans = [
            _Plan(
                i,
                e,
                e.action == "INCLUDE",
                e.dataset == "Interactions",
                tuple(sorted(e.parameters)),
                e.uses_current_item,
            )
            for i, e in enumerate(expr.expressions)
        ]
        self.unknown_fields = sorted(
            {
                c.field.name
                for e in expr.expressions
                if e.dataset == "Items"
                for c in e.conditions
                if catalog.column(c.field.name) is None
            }
            | {
                v.name
                for e in expr.expressions
                for c in e.conditions
                for v in c.values
                if isinstance(v, model.FieldRef) and catalog.column(v.name) is None
            }
        )
        self._cache = _LRU(cache_size)

    def _active(self, plan: _Plan, user: UserContext | None, bound: Mapping[str, Any]) -> bool:
        if not plan.include and any(p not in bound for p in plan.params):
            return False
        if plan.expr.if_conditions:
            metadata = user.metadata if user is not None else None
            return all(
                _eval_user_condition(c, metadata, bound, self.catalog.case_sensitive, self.catalog.separator)
                for c in plan.expr.if_conditions
            )
        return True

    def _item_part(
        self,
        active: tuple[bool, ...],
        raw: Mapping[str, str],
        bound: Mapping[str, tuple[ParamValue, ...]],
        current_item: int | None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(base, allow): cached item-metadata masks for this parameter/current-item tuple."""
        item_plans = [p for p in self.plans if active[p.index] and not p.on_interactions]
        needed = sorted({name for p in item_plans for name in p.params})
        uses_current = any(p.uses_current_item for p in item_plans)
        key = (
            active,
            tuple((name, raw.get(name)) for name in needed),
            current_item if uses_current else None,
        )
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        current = (self.catalog, current_item)
        include: np.ndarray | None = None
        exclude: np.ndarray | None = None
        for plan in item_plans:
            hit = _eval_metadata(plan.expr.where, self.catalog, bound, current)
            if plan.include:
                include = hit if include is None else include | hit
            else:
                exclude = hit if exclude is None else exclude | hit
        any_include = any(active[p.index] and p.include for p in self.plans)
        allow = ~exclude if exclude is not None else np.ones(self.size, dtype=bool)
        if any_include:
            base = include & allow if include is not None else np.zeros(self.size, dtype=bool)
        else:
            base = allow
        interaction_include = any(active[p.index] and p.include and p.on_interactions for p in self.plans)
        entry = (base, allow if interaction_include else None)
        base.setflags(write=False)
        if entry[1] is not None:
            entry[1].setflags(write=False)
        self._cache.put(key, entry)
        return entry

    def mask(
        self,
        user: UserContext | None = None,
        params: Mapping[str, str] | None = None,
        current_item: int | None = None,
    ) -> np.ndarray:
        """Boolean array over the catalog's items: True = may be recommended (a fresh copy).

        Raises :class:`FilterValueError` when an INCLUDE expression's parameter is missing
        or a value is malformed.
        """
        raw = dict(params or {})
        bound = bind_parameters(self.expr, raw)
        active = tuple(self._active(p, user, bound) for p in self.plans)
        base, allow = self._item_part(active, raw, bound, current_item)
        result = base.copy()
        if not self.uses_interactions:
            return result
        indices = user.item_indices if user is not None else None
        events = user.event_types if user is not None else None
        for plan in self.plans:
            if not (active[plan.index] and plan.on_interactions and plan.include):
                continue
            hits = _interaction_hits(plan.expr.where, indices, events, bound, self.size)
            if hits.size:
                result[hits] = True if allow is None else allow[hits]
        for plan in self.plans:
            if not (active[plan.index] and plan.on_interactions and not plan.include):
                continue
            hits = _interaction_hits(plan.expr.where, indices, events, bound, self.size)
            if hits.size:
                result[hits] = False
        return result

    @property
    def cache_info(self) -> dict[str, int]:
        """LRU statistics: hits, misses, current size."""
        return {"hits": self._cache.hits, "misses": self._cache.misses, "size": len(self._cache.data)}


class CompiledUserFilter(_BoundFilter[UserCatalog]):
    """A ``... UserID WHERE ...`` filter bound to a :class:`UserCatalog` (user segments)."""

    def __init__(self, expr: model.FilterExpr, catalog: UserCatalog) -> None:
        if expr.target != "UserID":
            raise ValueError(f"compile_user_filter needs a UserID filter, not {expr.target}")
        for e in expr.expressions:
            if e.if_conditions:
                raise ValueError("IF CurrentUser conditions don't apply to user segment filters")
        super().__init__(expr, catalog)

    def mask(
        self,
        params: Mapping[str, str] | None = None,
        interactions: tuple[np.ndarray, np.ndarray | Sequence[str]] | None = None,
    ) -> np.ndarray:
        """Boolean array over users: True = may be in the segment.

        ``interactions``: parallel arrays (user index, event type) of every interaction,
        needed only when the filter uses ``Interactions.EVENT_TYPE``.
        """
        bound = bind_parameters(self.expr, dict(params or {}))
        include: np.ndarray | None = None
        exclude = np.zeros(self.size, dtype=bool)
        for e in self.expr.expressions:
            if e.action == "EXCLUDE" and any(p not in bound for p in e.parameters):
                continue
            if e.dataset == "Interactions":
                hit = np.zeros(self.size, dtype=bool)
                if interactions is not None:
                    hit[_interaction_hits(e.where, interactions[0], interactions[1], bound, self.size)] = True
            else:
                hit = _eval_metadata(e.where, self.catalog, bound, None)
            if e.action == "INCLUDE":
                include = hit if include is None else include | hit
            else:
                exclude |= hit
        base = include if include is not None else np.ones(self.size, dtype=bool)
        return base & ~exclude


def compile_filter(
    expr: model.FilterExpr, catalog: ItemCatalog, *, cache_size: int = DEFAULT_CACHE_SIZE
) -> CompiledFilter:
    """Bind an ItemID filter to an item catalog."""
    return CompiledFilter(expr, catalog, cache_size)


def compile_user_filter(expr: model.FilterExpr, catalog: UserCatalog) -> CompiledUserFilter:
    """Bind a UserID filter (user segmentation) to a user catalog."""
    return CompiledUserFilter(expr, catalog)
