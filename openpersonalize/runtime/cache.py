"""Thread-safe LRU caches: load-once values (models, catalogs, compiled filters) and score rows.

A load (a model's memory maps, a catalogue's metadata, a compiled filter) costs what the stored data
costs, so it never runs on the event loop: inside ``call_on_event_loop`` a cache miss raises
``NeedsWorker`` instead of loading, and the caller answers the request again in a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any, Generic, Protocol, TypeVar

V = TypeVar("V")
R = TypeVar("R")

_on_loop: ContextVar[bool] = ContextVar("openpersonalize_on_event_loop", default=False)


class NeedsWorker(Exception):
    """A cache miss inside ``call_on_event_loop``: the request must be answered again in a worker thread."""


def call_on_event_loop(call: Callable[..., R], *args: Any) -> R:
    """``call(*args)`` marked as running on the event loop: a load inside raises ``NeedsWorker``.

    A plain call, not a context manager: the runtime's inline answers pay this on every request.
    """
    token = _on_loop.set(True)
    try:
        return call(*args)
    finally:
        _on_loop.reset(token)


T = TypeVar("T")


class _Bounded(Generic[T]):
    """A lock and an insertion-ordered map of at most ``capacity`` entries, the oldest dropped first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def _keep(self, key: Hashable, value: T) -> None:
        """Store ``value`` as the newest entry (the caller holds ``_lock``)."""
        self._values[key] = value
        self._values.move_to_end(key)
        while len(self._values) > self.capacity:
            self._values.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        """Forget ``key``'s value, so the next ``get`` loads or reads it again."""
        with self._lock:
            self._values.pop(key, None)

    def __len__(self) -> int:
        return len(self._values)


class LoadingCache(_Bounded[V]):
    """``get(key, load)`` returns the cached value or loads it exactly once, even under concurrency
    (concurrent callers of one key wait for one load); ``loads`` counts the loads run."""

    def __init__(self, capacity: int = 16) -> None:
        super().__init__(capacity)
        self.loads = 0
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            if _on_loop.get():
                raise NeedsWorker(f"loading {key!r}")
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    return self._values[key]
                self.loads += 1
            value = load()
            with self._lock:
                self._keep(key, value)
                self._key_locks.pop(key, None)
            return value


class Sized(Protocol):
    nbytes: int


S = TypeVar("S", bound=Sized)


class ArrayCache(Generic[S]):
    """A byte-bounded, thread-safe LRU of values with ``nbytes``: exact memoisation of pure scoring calls."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._values: OrderedDict[Hashable, S] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], S]) -> S:
        """The cached value for ``key``, else ``compute()`` (stored when it fits; callers must not modify it)."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
        value = compute()
        if value.nbytes > self.max_bytes:
            return value
        with self._lock:
            if key not in self._values:
                self._values[key] = value
                self.bytes += value.nbytes
            while self.bytes > self.max_bytes:
                _, dropped = self._values.popitem(last=False)
                self.bytes -= dropped.nbytes
        return value


class Recent(_Bounded[tuple[float, V]]):
    """Values read at most once per ``ttl`` seconds per key, so hot paths ask the metadata store rarely.

    At most ``capacity`` keys are kept, the oldest read dropped first: requests naming ever new (unknown)
    ARNs or ids cannot grow it without bound.
    """

    def __init__(self, ttl: float = 1.0, capacity: int = 4096) -> None:
        super().__init__(capacity)
        self.ttl = ttl

    def get(self, key: Hashable, read: Callable[[], V]) -> V:
        """The value read for ``key`` within the last ``ttl`` seconds, else ``read()`` (not kept if it raises)."""
        now = time.monotonic()
        with self._lock:
            hit = self._values.get(key)
        if hit and hit[0] > now:
            return hit[1]
        value = read()
        with self._lock:
            self._keep(key, (now + self.ttl, value))
        return value
