"""The connection layer's writes: a response's status line and headers leave with its body, in one send.

The protocol runs as uvicorn runs it, on a real event loop, with a transport that records what is
sent; an app answering at once must cost one write, a streamed answer whose body is late must still
send its headers at the end of the loop's turn, and a keep-alive connection must answer each request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from openpersonalize.api.transport import uvicorn_options

REQUEST = b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{}"


class RecordingTransport(asyncio.Transport):
    """What the protocol sends, one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _exchange(app, requests: list[bytes], transport: RecordingTransport | None = None) -> RecordingTransport:
    """Feed ``requests`` to the server protocol over a recording transport; what it wrote."""
    config = uvicorn.Config(app, log_level="warning", lifespan="off", **uvicorn_options())
    config.load()
    protocol = config.http_protocol_class(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    for raw in requests:
        protocol.data_received(raw)
        for _ in range(20):
            await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


async def _answer_at_once(scope, receive, send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_a_response_leaves_in_one_write():
    transport = asyncio.run(_exchange(_answer_at_once, [REQUEST]))
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 5" in head
    assert body == b"hello"


def test_each_request_of_a_keep_alive_connection_is_one_write():
    transport = asyncio.run(_exchange(_answer_at_once, [REQUEST, REQUEST, REQUEST]))
    assert len(transport.writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b"\r\n\r\nhello") for w in transport.writes)


def test_headers_of_a_late_body_are_sent_before_it():
    """A streamed response whose first chunk waits must not hold its status line back until then."""
    seen: list[int] = []
    transport = RecordingTransport()

    async def late_body(scope, receive, send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append(len(transport.writes))
        await send({"type": "http.response.body", "body": b"late", "more_body": False})

    asyncio.run(_exchange(late_body, [REQUEST], transport))
    assert seen == [1]  # the headers left before the body was ready
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding: chunked" in transport.writes[0]
    assert b"".join(transport.writes[1:]) == b"4\r\nlate\r\n0\r\n\r\n"
