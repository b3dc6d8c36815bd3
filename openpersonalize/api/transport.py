"""The HTTP/1.1 connection layer: uvicorn's httptools protocol with deadlines and a header bound.

uvicorn waits forever for a request's headers (its keep-alive timer only runs between requests,
and any byte received stops it), and httptools buffers them without bound. Before the app is
called nothing is authenticated, so this protocol gives each request a deadline to arrive: its
headers within ``read_timeout`` seconds of its first byte (or of the connection), its body within
``read_timeout`` more plus one second per ``MIN_BODY_RATE`` bytes of its declared length. A
request that misses its deadline loses its connection; the app sees a disconnect.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_READ_TIMEOUT = 10.0
MAX_HEADER_BYTES = 32 * 1024  # request line and headers together
# Bytes per second a body must at least arrive at: clients on loopback or a LAN send megabytes a
# second, and a slower body holds its share of the upload budget (api/uploads.py) the longer.
MIN_BODY_RATE = 1024 * 1024
HEADER_PIECE = 4096  # bytes fed to the parser at a time while a request's headers are awaited
UNKNOWN_BODY_LENGTH = 8 * 1024 * 1024  # the deadline of a chunked body assumes the largest one
_TIMER_SLACK = 0.01  # seconds a deadline timer may fire early and still close (event-loop clocks tick in ms)


_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class GuardedHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose requests must arrive within a deadline and with bounded headers."""

    def __init__(self, *args: Any, read_timeout: float = DEFAULT_READ_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout
        self._due: float | None = None  # loop time by which the current request must have arrived
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._reading_headers = True
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.read_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, but at most MAX_HEADER_BYTES before a request's headers are complete
        (httptools buffers a header without bound until it ends).

        While headers are awaited the data goes in pieces of at most HEADER_PIECE bytes, each charged
        whole to the request reading its headers after it: a piece that ends one request and starts the
        next charges the next with all of it, so pipelined requests are each counted from their own
        start (give or take one piece) rather than from the first byte of the read that held them.
        """
        while self._reading_headers and data:
            allowance = MAX_HEADER_BYTES - self._header_bytes
            if allowance <= 0:
                self.transport.write(_TOO_LARGE)
                self.transport.close()
                return
            size = min(allowance, HEADER_PIECE)
            piece, data = data[:size], data[size:]
            super().data_received(piece)
            self._header_bytes += len(piece)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._due is None:
            self._arm(self.read_timeout)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # the new request's cycle: its task has not run yet
            self.cycle.transport = HeldHeaders(self.transport, self.loop)
        self._arm(self.read_timeout + _declared_length(self.headers) / MIN_BODY_RATE)

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_headers = True
        self._header_bytes = 0
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        """The current request must arrive within ``seconds`` from now.

        One timer serves all of a connection's requests: it is set again only when it would fire after
        the new deadline. A deadline moved later (every request's is) leaves it to fire early and re-arm,
        once per ``read_timeout`` instead of twice per request.
        """
        due = self.loop.time() + seconds
        self._due = due
        if self._timer is None or self._timer_at > due:
            if self._timer is not None:
                self._timer.cancel()
            self._set_timer(due)

    def _disarm(self) -> None:
        self._due = None

    def _set_timer(self, due: float) -> None:
        self._timer = self.loop.call_at(due, self._expire)
        self._timer_at = due

    def _expire(self) -> None:
        self._timer = None
        due = self._due
        if due is None:
            return  # between requests: uvicorn's keep-alive timer watches an idle connection
        if due - self.loop.time() > _TIMER_SLACK:
            self._set_timer(due)
            return
        self._due = None
        if not self.transport.is_closing():
            self.transport.close()


class HeldHeaders:
    """A response's transport as uvicorn's cycle writes to it: the status line and headers (its first write)
    wait for the body's first write, or for the end of this turn of the event loop, and leave with it.

    uvicorn writes them as soon as the app starts its response, then the body: two sends and two TCP
    segments (the sockets run with TCP_NODELAY) for every small answer, each waking the client.
    """

    __slots__ = ("_transport", "_loop", "_held", "_started")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if not self._started:
            self._started = True
            self._held = data
            self._loop.call_soon(self.flush)
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        # Closed under a pipelined request (uvicorn marks only the newest disconnected): uvloop would raise.
        if not self._transport.is_closing():
            self._transport.write(data)

    def flush(self) -> None:
        """Send the headers if no body has taken them along (a streamed body's first chunk is late)."""
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def is_closing(self) -> bool:
        """Whether the connection is closing (uvicorn asks before it writes ``100 Continue``)."""
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            return int(value)
    if any(name == b"transfer-encoding" for name, _ in headers):
        return UNKNOWN_BODY_LENGTH
    return 0


def uvicorn_options(read_timeout: float = DEFAULT_READ_TIMEOUT) -> dict[str, Any]:
    """The uvicorn settings every openpersonalize server runs with (``uvicorn.run`` / ``uvicorn.Config``)."""
    return {
        "http": functools.partial(GuardedHttpProtocol, read_timeout=read_timeout),
        "ws": "none",  # no WebSocket endpoint: an upgrade request is answered as plain HTTP
        "timeout_keep_alive": 5,
        "access_log": False,
        "proxy_headers": False,  # no proxy in front by default; the app never reads client addresses
    }
