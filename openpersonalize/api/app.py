"""The ASGI application: one port, three Personalize protocols.

``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>`` is the control plane
(AWS JSON 1.1); ``/recommendations``, ``/personalize-ranking`` … are the runtime
and ``/events``, ``/items`` … the events API (REST-JSON). Every request is
SigV4-verified, validated against botocore's model, and every failure leaves as
an AWS-shaped JSON error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import anyio.to_thread
import orjson
from botocore.model import OperationModel

from ..control.base import Call, Control
from ..control.operations import OPERATIONS
from ..errors import (
    InternalFailure,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    SerializationException,
    ServiceError,
    UnknownOperationException,
)
from . import sigv4
from .shapes import service_model, shape_output, validate_input

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
DRAIN_LIMIT_BYTES = 4 * MAX_BODY_BYTES
TARGET_PREFIX = "AmazonPersonalize."
REST_SERVICES = ("personalize-runtime", "personalize-events")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
RestHandler = Callable[[str, dict[str, Any]], dict[str, Any]]


def _rest_routes() -> dict[str, tuple[str, OperationModel]]:
    routes = {}
    for service in REST_SERVICES:
        model = service_model(service)
        for name in model.operation_names:
            op = model.operation_model(name)
            routes[op.http["requestUri"]] = (service, op)
    return routes


class PersonalizeApp:
    """ASGI callable serving the control plane, runtime and events APIs."""

    def __init__(
        self,
        control: Control,
        credentials: Mapping[str, str],
        rest_handlers: Mapping[str, RestHandler] | None = None,
        on_startup: Callable[[], None] | None = None,
        on_shutdown: Callable[[], None] | None = None,
        inline_operations: Collection[str] = (),
        preshaped_operations: Collection[str] = (),
    ) -> None:
        """``inline_operations`` are REST operations answered on the event loop instead of a worker
        thread: CPU-bound and short (GetRecommendations), where the thread hand-off costs more than
        the work and the GIL gives a thread no parallelism anyway.

        ``preshaped_operations`` are REST operations whose handlers build their responses from the output
        shape's members only (the runtime's ranked lists; the tests check their raw responses), so the
        app does not walk their hundreds of entries again to shape them.
        """
        self.control = control
        self.credentials = dict(credentials)
        self.rest_handlers = dict(rest_handlers or {})
        self.inline_operations = frozenset(inline_operations)
        self.preshaped_operations = frozenset(preshaped_operations)
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.control_model = service_model("personalize")
        self.rest_routes = _rest_routes()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        try:
            status, payload = await self._handle(scope, receive)
            await _respond(send, status, payload, request_id)
        except ServiceError as exc:
            await _respond_error(send, exc, request_id)
        except Exception:
            log.exception("unhandled error (request %s)", request_id)
            await _respond_error(send, InternalFailure("An internal error occurred."), request_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.on_startup:
                    self.on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: dict[str, Any], receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _read_body(receive, headers)
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("host", "localhost")
        url = f"http://{host}{path}" + (f"?{query}" if query else "")
        identity = sigv4.verify(scope["method"], url, headers, body, self.credentials)
        params = _parse_json(body)
        if scope["path"] == "/" and "x-amz-target" in headers:
            return 200, await self._control(headers["x-amz-target"], params, identity.region)
        route = self.rest_routes.get(scope["path"])
        if route is None or scope["method"] != "POST":
            raise UnknownOperationException(f"No operation at {scope['method']} {scope['path']}")
        service, op = route
        validate_input(op, params)
        handler = self.rest_handlers.get(op.name)
        if handler is None:
            raise ResourceNotFoundException(_missing_resource_message(op.name, params))
        if op.name in self.inline_operations:
            result = handler(identity.region, params)
        else:
            result = await anyio.to_thread.run_sync(handler, identity.region, params)
        if op.name in self.preshaped_operations:
            return 200, result
        return 200, shape_output(op.output_shape, result) or {}

    async def _control(self, target: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else None
        if name not in self.control_model.operation_names:
            raise UnknownOperationException(f"Unknown operation {target!r}")
        op = self.control_model.operation_model(name)
        validate_input(op, params)
        impl = OPERATIONS.get(name)
        if impl is None:
            raise UnknownOperationException(f"{name} is not supported by this server yet.")
        result = await anyio.to_thread.run_sync(impl, Call(self.control, region, params))
        return shape_output(op.output_shape, result) or {}


def _missing_resource_message(operation: str, params: dict[str, Any]) -> str:
    for key in ("campaignArn", "recommenderArn", "trackingId", "datasetArn"):
        if params.get(key):
            return f"{key} {params[key]} does not exist."
    return f"No resource for {operation}."


async def _read_body(receive: Receive, headers: Mapping[str, str]) -> bytes:
    declared = headers.get("content-length")
    too_large = declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= DRAIN_LIMIT_BYTES:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        more = bool(message.get("more_body"))
        if size > MAX_BODY_BYTES:
            too_large = True
            chunks.clear()  # keep draining (bounded) so the client reads our error instead of a reset
        elif not too_large:
            chunks.append(chunk)
    if too_large:
        raise RequestEntityTooLargeException(f"Request body exceeds {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


def _parse_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SerializationException(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SerializationException("Request body must be a JSON object")
    return value


async def _respond(send: Send, status: int, payload: dict[str, Any], request_id: str, extra=()) -> None:
    body = orjson.dumps(payload)
    headers = [
        (b"content-type", b"application/x-amz-json-1.1"),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id.encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _respond_error(send: Send, exc: ServiceError, request_id: str) -> None:
    payload = {"__type": exc.code, "message": exc.message}
    await _respond(send, exc.status, payload, request_id, [(b"x-amzn-errortype", exc.code.encode())])
