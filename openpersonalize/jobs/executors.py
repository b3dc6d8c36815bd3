"""Where the heavy steps of jobs run: the executor plug-in point (``serve --executor``).

An executor does two things for the job bodies: run one step away from the server (``call``:
training, a whole import) and answer a stream of items in input order on many workers
(``ordered_map``: blocks of batch lines). ``local`` (the default) is this node's process pool;
``ray`` / ``ray://HOST:PORT`` is a Ray cluster (``jobs/ray_executor.py``). The server installs one
at start; nothing above ``jobs/`` knows which.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable
from typing import Any, Protocol

from .child import Step, run_in_child
from .process_pool import OrderedPool

LOCAL = "local"
RAY_ADDRESS_ENV = "RAY_ADDRESS"


class ExecutorUnavailable(Exception):
    """The executor named at start cannot be used; the message is one line naming it."""


class Executor(Protocol):
    """Runs job steps; both methods raise the local pool's errors (``JobError``/``JobStopped``, ``WorkerError``)."""

    name: str

    def call(self, step: Step) -> Any:
        """``step`` run away from the server; its picklable result."""
        ...

    def ordered_map(
        self, setup: Callable[..., Callable[[Any], Any]], kwargs: dict[str, Any], items: Iterable[Any], workers: int
    ) -> Generator[Any, None, None]:
        """Each item answered by ``setup(**kwargs)``, built once per worker, in input order, a bounded number in flight.

        Closing the generator early abandons the outstanding items (a pool's workers are stopped, Ray's finish unread).
        """
        ...


class LocalExecutor:
    """Today's executor: a spawned child per step, a pool of spawned workers per map (this node's CPUs)."""

    name = LOCAL

    def call(self, step: Step) -> Any:
        return run_in_child(step)

    def ordered_map(
        self, setup: Callable[..., Callable[[Any], Any]], kwargs: dict[str, Any], items: Iterable[Any], workers: int
    ) -> Generator[Any, None, None]:
        with OrderedPool(setup, kwargs, workers) as pool:
            yield from pool.imap(items)


_installed: list[Executor] = [LocalExecutor()]


def installed() -> Executor:
    """The executor this process runs job steps on."""
    return _installed[0]


def install(executor: Executor) -> None:
    """Make ``executor`` the one job steps run on (the server does this once, at start)."""
    _installed[0] = executor


def ray_address(spec: str) -> str:
    """The Ray address ``--executor`` names: ``ray://HOST:PORT`` as given, ``ray`` from RAY_ADDRESS."""
    if spec.startswith("ray://"):
        return spec
    address = os.environ.get(RAY_ADDRESS_ENV, "").strip()
    if not address:
        raise ExecutorUnavailable(f"--executor ray joins the Ray cluster named by {RAY_ADDRESS_ENV}, which is not set")
    return address


CREDENTIALS_REFUSAL = "credentials do not belong in the --executor or RAY_ADDRESS address (Ray takes none there)"


def _holds_userinfo(address: str) -> bool:
    """Whether ``address`` (``ray://HOST:PORT``, ``HOST:PORT``) names a user or password before its host: messages
    echo the address, so it is refused unshown."""
    authority = address.split("://", 1)[-1].split("/", 1)[0]
    return "@" in authority


def connect(spec: str) -> Executor:
    """The executor ``--executor`` names: ``local``, ``ray`` (RAY_ADDRESS) or ``ray://HOST:PORT``.

    Raises ExecutorUnavailable (one line) for an unknown name, a missing Ray installation or an
    unreachable cluster, so a server never starts half able to run its jobs.
    """
    if spec == LOCAL:
        return LocalExecutor()
    if _holds_userinfo(spec):
        raise ExecutorUnavailable(CREDENTIALS_REFUSAL)
    if spec != "ray" and not spec.startswith("ray://"):
        raise ExecutorUnavailable(f"unknown --executor {spec!r}: use local, ray or ray://HOST:PORT")
    address = ray_address(spec)
    if _holds_userinfo(address):
        raise ExecutorUnavailable(CREDENTIALS_REFUSAL)
    try:
        from .ray_executor import RayExecutor
    except ImportError:
        raise ExecutorUnavailable("--executor ray needs Ray installed: pip install 'openpersonalize[ray]'") from None
    try:
        return RayExecutor.join(address)
    except ConnectionError as exc:
        raise ExecutorUnavailable(str(exc)) from None
