"""The ASGI application: one port, three Personalize protocols.

``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>`` is the control plane
(AWS JSON 1.1); ``/recommendations``, ``/personalize-ranking`` … are the runtime
and ``/events``, ``/items`` … the events API (REST-JSON). Every request is
SigV4-verified, validated against botocore's model, and every failure leaves as
an AWS-shaped JSON error.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
from botocore.model import OperationModel

from .. import nesting
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
from ..runtime.cache import NeedsWorker, call_on_event_loop
from . import sigv4
from .member_support import refuse_unsupported
from .shapes import service_model, shape_output
from .uploads import Reservation, UploadBudget
from .validation import validate_input

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
DRAIN_LIMIT_BYTES = 4 * MAX_BODY_BYTES
# A body at most this long is held without a reservation (its memory is bounded per connection, like
# the server's own read buffer) and is drained when its request is refused.
SMALL_BODY_BYTES = 64 * 1024
# An inline operation answers on the event loop only when its body is at most this long.
INLINE_MAX_BODY_BYTES = 16 * 1024
TARGET_PREFIX = "AmazonPersonalize."
REST_SERVICES = ("personalize-runtime", "personalize-events")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
RestHandler = Callable[[str, dict[str, Any]], dict[str, Any]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


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
        mounts: Mapping[str, ASGIApp] | None = None,
    ) -> None:
        """``inline_operations`` are REST operations answered on the event loop instead of a worker
        thread: CPU-bound and short (GetRecommendations), where the thread hand-off costs more than
        the work and the GIL gives a thread no parallelism anyway. Their handlers run in
        ``call_on_event_loop``: one that would load something (a model, a catalogue) raises ``NeedsWorker``
        and the request is answered in a worker thread instead.

        ``preshaped_operations`` are REST operations whose handlers build their responses from the output
        shape's members only (the runtime's ranked lists; the tests check their raw responses), so the
        app does not walk their hundreds of entries again to shape them.

        ``mounts`` are other ASGI apps answering HTTP requests under a path prefix (the web console at
        ``/console``, with its own sign-in): their requests never reach SigV4 or the operations.
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
        self.uploads = UploadBudget()
        self.mounts = dict(mounts or {})

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await _refuse_websocket(receive, send)
            return
        if scope["type"] != "http":
            return
        mounted = self._mounted(scope["path"])
        if mounted is not None:
            await mounted(scope, receive, send)
            return
        request_id = _request_id()
        headers = _header_map(scope["headers"])
        declared = _declared_length(headers)
        wire = JSON_PROTOCOL if scope["path"] == "/" else REST_JSON_PROTOCOL
        try:
            # Everything the headers can tell is checked before a byte of the body is held.
            auth = sigv4.authorize(headers, self.credentials)
            cap = _reserved_length(declared)
            reservation = self.uploads.reserve(_peer(scope) if cap else "", cap)
        except ServiceError as exc:
            drained = await _discard_body(receive, declared, _drain_limit(exc))
            await _respond_error(send, wire, exc, request_id, close=not drained)
            return
        with reservation:
            try:
                body = await _read_body(receive, declared, reservation)
            except _Disconnected:
                return
            except ServiceError as exc:
                await _respond_error(send, wire, exc, request_id, close=True)
                return
            try:
                status, payload = await self._process(scope, headers, auth, body)
                await _respond(send, wire, status, payload, request_id)
            except ServiceError as exc:
                await _respond_error(send, wire, exc, request_id)
            except Exception:
                log.exception("unhandled error (request %s)", request_id)
                await _respond_error(send, wire, InternalFailure("An internal error occurred."), request_id)

    def _mounted(self, path: str) -> ASGIApp | None:
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app
        return None

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

    async def _process(
        self, scope: dict[str, Any], headers: dict[str, str], auth: sigv4.Authorization, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Answer a request whose body is read: on the event loop when it is an inline operation with a
        small body that needs nothing loaded, else in a worker thread (nothing attacker-sized runs on the loop)."""
        route = self.rest_routes.get(scope["path"]) if scope["path"] != "/" else None
        if route is not None and route[1].name in self.inline_operations and len(body) <= INLINE_MAX_BODY_BYTES:
            try:
                return call_on_event_loop(self._answer, scope, headers, auth, body, route)
            except NeedsWorker:
                pass
        return await anyio.to_thread.run_sync(self._answer, scope, headers, auth, body, route)

    def _answer(
        self,
        scope: dict[str, Any],
        headers: dict[str, str],
        auth: sigv4.Authorization,
        body: bytes,
        route: tuple[str, OperationModel] | None,
    ) -> tuple[int, dict[str, Any]]:
        raw_path = scope.get("raw_path")
        path = scope["path"] if raw_path is None else raw_path.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        identity = sigv4.check_signature(auth, scope["method"], path, query, headers, body)
        params = _parse_json(body)
        if scope["method"] != "POST":  # both protocols carry every operation in a POST
            raise UnknownOperationException(f"No operation at {scope['method']} {scope['path']}")
        if scope["path"] == "/" and "x-amz-target" in headers:
            return 200, self._control(headers["x-amz-target"], params, identity.region)
        if route is None:
            raise UnknownOperationException(f"No operation at {scope['method']} {scope['path']}")
        _, op = route
        params = validate_input(op, params)
        refuse_unsupported(op.name, params)
        handler = self.rest_handlers.get(op.name)
        if handler is None:
            raise ResourceNotFoundException(_missing_resource_message(op.name, params))
        result = handler(identity.region, params)
        if op.name in self.preshaped_operations:
            return 200, result
        return 200, shape_output(op.output_shape, result) or {}

    def _control(self, target: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else None
        if name not in self.control_model.operation_names:
            raise UnknownOperationException(f"Unknown operation {target!r}")
        op = self.control_model.operation_model(name)
        params = validate_input(op, params)
        refuse_unsupported(name, params)
        impl = OPERATIONS.get(name)
        if impl is None:
            raise UnknownOperationException(f"{name} is not supported by this server yet.")
        return shape_output(op.output_shape, impl(Call(self.control, region, params))) or {}


def _missing_resource_message(operation: str, params: dict[str, Any]) -> str:
    for key in ("campaignArn", "recommenderArn", "trackingId", "datasetArn"):
        if params.get(key):
            return f"{key} {params[key]} does not exist."
    return f"No resource for {operation}."


def _header_map(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased header names; a repeated header's values joined with commas, as SigV4 signs them."""
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in raw}
    if len(headers) == len(raw):
        return headers  # no header repeated: every request an SDK sends
    headers = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        headers[name] = f"{headers[name]},{text}" if name in headers else text
    return headers


def _declared_length(headers: Mapping[str, str]) -> int | None:
    """The body's declared length: 0 without one, None when it is chunked (unknown until read)."""
    if "transfer-encoding" in headers:
        return None
    declared = headers.get("content-length", "0").strip()
    return int(declared) if declared.isascii() and declared.isdigit() else None


def _request_id() -> str:
    """A random (version 4) UUID, as AWS names its requests; ~5x cheaper than ``str(uuid.uuid4())``."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_UUID_VARIANT = "89ab"


def _peer(scope: Mapping[str, Any]) -> str:
    """The client's network, whose share of the upload budget a body takes ("" when unknown).

    An IPv4 /24 or IPv6 /64 counts as one peer: whoever holds one address there usually holds them all,
    so taking several must not multiply the share.
    """
    client = scope.get("client")
    if not client:
        return ""
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return str(client[0])
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _reserved_length(declared: int | None) -> int:
    """The most a body of ``declared`` length may reserve of the upload budget as it arrives: its declared
    length, the largest body when chunked (None), nothing when small; 413 past the largest."""
    if declared is None:
        return MAX_BODY_BYTES
    if declared > MAX_BODY_BYTES:
        raise RequestEntityTooLargeException(f"Request body exceeds {MAX_BODY_BYTES} bytes")
    return declared if declared > SMALL_BODY_BYTES else 0


class _Disconnected(Exception):
    """The client went away (or missed its deadline) before its body arrived."""


async def _read_body(receive: Receive, declared: int | None, reservation: Reservation) -> bytes:
    """The whole body, reserving the upload budget as it arrives (a chunked body is refused past
    MAX_BODY_BYTES; ThrottlingException when the budget runs out)."""
    chunks: list[bytes] = []
    size = 0
    more = declared != 0
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestEntityTooLargeException(f"Request body exceeds {MAX_BODY_BYTES} bytes")
        reservation.cover(size)
        chunks.append(chunk)
        more = bool(message.get("more_body"))
    return b"".join(chunks)


def _drain_limit(refusal: ServiceError) -> int:
    """How much of a refused request's body is read (and dropped) so its client reads the error, not a reset.

    A body too large passed every header check, so it is drained further (its client sent too much by
    mistake); any other refusal drains only a small body. The connection deadline bounds the time.
    """
    return DRAIN_LIMIT_BYTES if isinstance(refusal, RequestEntityTooLargeException) else SMALL_BODY_BYTES


async def _discard_body(receive: Receive, declared: int | None, limit: int) -> bool:
    """Read and drop a body declared at most ``limit`` bytes long; True when all of it was read
    (False leaves it unread: the connection must then close)."""
    if declared is None or declared > limit:
        return False
    more = declared > 0
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        more = bool(message.get("more_body"))
    return True


def _parse_json(body: bytes) -> dict[str, Any]:
    if not body or body.isspace():
        return {}
    try:
        nesting.check_json_depth(body)
        value = orjson.loads(body)
    except ValueError as exc:
        raise SerializationException(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SerializationException("Request body must be a JSON object")
    return value


async def _refuse_websocket(receive: Receive, send: Send) -> None:
    """No API here speaks WebSocket: a close before accepting is the ASGI way to answer 403."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


@dataclass(frozen=True)
class WireProtocol:
    """How one of the two wire protocols frames an answer: its content type and its error statuses.

    AWS JSON 1.1 (the control plane) answers every client error with 400, whatever its code; REST-JSON
    (runtime, events) uses each error shape's ``httpStatusCode`` (404 not found, 409 in use). Clients read
    the code from the body either way; the status matters to proxies, logs and hand-written clients.
    """

    content_type: bytes
    client_errors_are_400: bool

    def status(self, exc: ServiceError) -> int:
        if self.client_errors_are_400 and exc.status in (404, 409):
            return 400
        return exc.status


JSON_PROTOCOL = WireProtocol(b"application/x-amz-json-1.1", client_errors_are_400=True)
REST_JSON_PROTOCOL = WireProtocol(b"application/json", client_errors_are_400=False)


async def _respond(
    send: Send,
    wire: WireProtocol,
    status: int,
    payload: dict[str, Any],
    request_id: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = orjson.dumps(payload)
    headers = [
        (b"content-type", wire.content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _respond_error(
    send: Send, wire: WireProtocol, exc: ServiceError, request_id: str, close: bool = False
) -> None:
    """The AWS error shape; ``close`` ends the connection (a body left unread must not pass for a request)."""
    extra = [(b"x-amzn-errortype", exc.code.encode())]
    if close:
        extra.append((b"connection", b"close"))
    await _respond(send, wire, wire.status(exc), {"__type": exc.code, "message": exc.message}, request_id, extra)
