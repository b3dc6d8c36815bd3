"""botocore's service models, and response shaping from them.

Shaping responses through the output shape guarantees clients never see members the model does
not define. Requests are validated against the same models (``validation.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel, Shape


@cache
def service_model(name: str) -> ServiceModel:
    """The botocore model of ``personalize``, ``personalize-runtime`` or ``personalize-events``."""
    return botocore.session.get_session().get_service_model(name)


def shape_output(shape: Shape | None, value: Any) -> Any:
    """Keep only what ``shape`` defines; datetimes become epoch seconds (the JSON protocols' format)."""
    if shape is None or value is None:
        return None
    return _shaper(shape)(value)


Shaper = Callable[[Any], Any]


def _scalar(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> Any:
    return value.timestamp() if isinstance(value, dt.datetime) else value


@cache
def _shaper(shape: Shape) -> Shaper:
    """A function shaping values of ``shape``, built once per shape (the runtime shapes every response)."""
    kind = shape.type_name
    if kind == "structure":
        return _structure_shaper(shape)
    if kind == "list":
        member = shape.member

        def shape_list(value: Any) -> Any:
            item = _shaper(member)
            return [None if v is None else item(v) for v in value]

        return shape_list
    if kind == "map":
        inner = shape.value

        def shape_map(value: Any) -> Any:
            item = _shaper(inner)
            return {k: None if v is None else item(v) for k, v in value.items()}

        return shape_map
    return _timestamp if kind == "timestamp" else _scalar


def _structure_shaper(shape: Shape) -> Shaper:
    members: list[tuple[str, Shape]] = list(shape.members.items())
    plain = frozenset(name for name, m in members if m.type_name not in ("structure", "list", "map", "timestamp"))

    def shape_structure(value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        if value.keys() <= plain and None not in value.values():
            return value  # already in shape: scalar members the model defines (a ranked item, say)
        out = {}
        for name, member in members:
            item = value.get(name)
            if item is not None:
                item = _shaper(member)(item)  # looked up per call: recursive shapes stay finite
                if item is not None:
                    out[name] = item
        return out

    return shape_structure
