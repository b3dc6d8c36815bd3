"""What a fuzzing session sends: the operations of the three botocore models, and requests built from their shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
from botocore.model import OperationModel
from fuzz_shapes import mutate, valid

from openpersonalize.api.shapes import service_model

SERVICES = ("personalize", "personalize-runtime", "personalize-events")
JSON_CONTENT_TYPE = {"json": "application/x-amz-json-1.1", "rest-json": "application/json"}
# Operations that get random ARNs only: given the seeded resources they would delete or stop them.
_DESTRUCTIVE_PREFIXES = ("Delete", "Stop")


@dataclass(frozen=True)
class Operation:
    """One operation of one of the three models, with how its requests are addressed."""

    service: str
    model: OperationModel

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def path(self) -> str:
        return self.model.http.get("requestUri", "/")

    def headers(self) -> dict[str, str]:
        protocol = self.model.metadata["protocol"]
        headers = {"Content-Type": JSON_CONTENT_TYPE[protocol]}
        if protocol == "json":
            headers["X-Amz-Target"] = f"{self.model.metadata['targetPrefix']}.{self.name}"
        return headers


def catalog() -> list[Operation]:
    """Every operation of the three Personalize models."""
    ops = []
    for service in SERVICES:
        model = service_model(service)
        ops += [Operation(service, model.operation_model(name)) for name in model.operation_names]
    return ops


@dataclass(frozen=True)
class Case:
    """One request to send: what it tests, its parts, how to sign it and the statuses it may get (``expect``)."""

    kind: str
    what: str
    operation: Operation | None
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    auth: str = "signed"
    expect: range = range(100, 500)

    def summary(self, limit: int = 300) -> str:
        """The request as a reader reproduces it (body cut at ``limit`` bytes)."""
        body = self.body if len(self.body) <= limit else self.body[:limit] + b"...(%d bytes)" % len(self.body)
        return f"{self.method} {self.path[:200]} auth={self.auth} headers={self.headers} body={body!r}"


def json_body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@dataclass(frozen=True)
class World:
    """Real values by request member name: ``values`` for every operation, ``expendable`` ones (resources
    created to be destroyed) for the operations that delete or stop what they name."""

    values: Mapping[str, Sequence[Any]]
    expendable: Mapping[str, Sequence[Any]]

    def for_operation(self, op: Operation) -> Mapping[str, Sequence[Any]]:
        return self.expendable if op.name.startswith(_DESTRUCTIVE_PREFIXES) else self.values


@st.composite
def shaped_case(draw: Callable, op: Operation, world: World) -> Case:
    """A request of ``op``: input valid for its shape (random, or as a real client sends it
    with real resources), or one mutation off either."""
    shape = op.model.input_shape
    sparse = draw(st.booleans())
    value = draw(valid(shape, world.for_operation(op), sparse=sparse))
    kind, what = ("realistic", "realistic input") if sparse else ("valid", "valid input")
    if draw(st.booleans()):
        value, broken = mutate(draw, shape, value)
        kind, what = "mutated", f"{what} with {broken}"
    return Case(kind, f"{op.name}: {what}", op, op.model.http["method"], op.path, op.headers(), json_body(value))
