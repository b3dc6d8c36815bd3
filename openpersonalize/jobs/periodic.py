"""A task run every so many seconds on a daemon thread of the server process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``tick`` every ``interval`` seconds until stopped; a tick that fails is logged and the next one
    runs (the database may be briefly unavailable)."""

    def __init__(self, name: str, interval: float, tick: Callable[[], object]) -> None:
        self.name, self.interval, self._tick = name, interval, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._tick()
            except Exception:
                log.exception("%s failed", self.name)
