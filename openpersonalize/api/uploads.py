"""A per-process budget of request-body bytes held before their signature is checked.

A body must be read whole before its SigV4 signature can be verified, so anyone who knows a key
id can make the server hold bodies. A request with a large body reserves budget as its bytes
arrive, one ``GRAIN`` at a time (the first before any is read), so a stalled upload holds only
what it sent; each client address may hold at most ``peer_limit`` of the budget, so one peer
cannot take all of it. When a grain cannot be had, the request is refused with
ThrottlingException, which AWS SDKs retry with backoff. The reservation is released when the
request is answered. Only the event loop touches the budget, so it needs no lock.
"""

from __future__ import annotations

from types import TracebackType

from ..errors import ThrottlingException

DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024
DEFAULT_PEER_BYTES = 16 * 1024 * 1024
GRAIN = 64 * 1024


class UploadBudget:
    """Bytes of request bodies in flight, bounded in all and per client address."""

    def __init__(self, limit: int = DEFAULT_BUDGET_BYTES, peer_limit: int = DEFAULT_PEER_BYTES) -> None:
        self.limit = limit
        self.peer_limit = peer_limit
        self.reserved = 0
        self.by_peer: dict[str, int] = {}
        self._unmetered = Reservation(self, "", 0)

    def reserve(self, peer: str, cap: int) -> Reservation:
        """A reservation for a body of at most ``cap`` bytes from ``peer`` (0: a small body, never
        metered), holding its first grain already (ThrottlingException when it is not free)."""
        if not cap:
            return self._unmetered  # holds nothing, ever: one serves every small body
        reservation = Reservation(self, peer, cap)
        reservation.cover(1)
        return reservation

    def _take(self, peer: str, size: int) -> None:
        held = self.by_peer.get(peer, 0)
        if self.reserved + size > self.limit or held + size > self.peer_limit:
            raise ThrottlingException("Rate exceeded: too many request bodies are being received; retry later.")
        self.reserved += size
        self.by_peer[peer] = held + size

    def _give(self, peer: str, size: int) -> None:
        self.reserved -= size
        left = self.by_peer[peer] - size
        if left:
            self.by_peer[peer] = left
        else:
            del self.by_peer[peer]


class Reservation:
    """Bytes taken from an UploadBudget as a body arrives, given back on leaving its ``with`` block."""

    def __init__(self, budget: UploadBudget, peer: str, cap: int) -> None:
        self.budget = budget
        self.peer = peer
        self.cap = cap
        self.size = 0

    def cover(self, received: int) -> None:
        """Hold at least ``received`` bytes (whole grains, at most the cap); ThrottlingException when
        the budget or the peer's share has no room."""
        if received <= self.size or not self.cap:
            return
        wanted = min(self.cap, -(-received // GRAIN) * GRAIN)
        self.budget._take(self.peer, wanted - self.size)
        self.size = wanted

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.size:
            self.budget._give(self.peer, self.size)
            self.size = 0
