"""A per-process budget of request-body bytes held before their signature is checked.

A body must be read whole before its SigV4 signature can be verified, so anyone who knows a key
id can make the server hold bodies. A request with a large body reserves its declared length (the
largest body when chunked) before reading it; when the budget cannot cover it, the request is
refused with ThrottlingException, which AWS SDKs retry with backoff. The reservation is released
when the request is answered. Only the event loop touches the budget, so it needs no lock.
"""

from __future__ import annotations

from types import TracebackType

from ..errors import ThrottlingException

DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024


class UploadBudget:
    """Bytes of request bodies in flight, bounded."""

    def __init__(self, limit: int = DEFAULT_BUDGET_BYTES) -> None:
        self.limit = limit
        self.reserved = 0

    def reserve(self, size: int) -> Reservation:
        """Take ``size`` bytes of the budget now (ThrottlingException when they are not free); the
        returned reservation gives them back when its ``with`` block ends."""
        if self.reserved + size > self.limit:
            raise ThrottlingException("Rate exceeded: too many request bodies are being received; retry later.")
        self.reserved += size
        return Reservation(self, size)


class Reservation:
    """Bytes taken from an UploadBudget, given back on leaving its ``with`` block."""

    def __init__(self, budget: UploadBudget, size: int) -> None:
        self.budget = budget
        self.size = size

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.budget.reserved -= self.size
