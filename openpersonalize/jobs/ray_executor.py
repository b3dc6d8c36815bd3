"""The Ray executor (``serve --executor ray`` or ``ray://HOST:PORT``): job steps as tasks on a Ray cluster.

A map (``ordered_map``, batch blocks) is one task per item, spread over the cluster, at most two
per cluster CPU in flight, results taken in input order; each worker process builds the map's
state once (``setup(**kwargs)``: it opens the metadata store and fetches the model from the object
store itself) and keeps it for the map's later items. A step (``call``, training) is one task on
any node (it reads its inputs from the object store and publishes its model there), run in a child
process as the local executor does; the training steps that partition over user blocks
(``recipes/blocks.py``: the EASE Gram matrix, the item transitions) send their blocks from that
child to the cluster as tasks of their own (``_with_ray_blocks``), summed in block order.

A worker that dies is retried by Ray (``STEP_RETRIES``/``ITEM_RETRIES`` times); after that, or
when the step itself raises, the caller gets the same errors as from the local executor
(``JobError``, ``WorkerError``) with the reason, so the job ends CREATE FAILED and never stays
IN_PROGRESS; a batch output is committed only after its last block came back. A head that stays
unreachable for ``HEAD_GRACE_SECONDS`` fails the jobs waiting on it, while the server itself keeps
serving (Ray would otherwise end it after a minute). The tasks are owned by this server process:
when it dies, Ray ends them.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayError, TaskCancelledError

from ..blas import single_threaded_blas
from ..recipes import blocks
from .child import JobError, JobStopped, Step, run_in_child
from .process_pool import WorkerError

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5.0
STEP_RETRIES = 1  # a training step that lost its worker starts over once (publishing a model of its own)
ITEM_RETRIES = 3  # a batch block is a pure function of its lines: retry it freely
DEPTH = 2  # items in flight per cluster CPU
OMP_THREADS = "OMP_NUM_THREADS"
POLL_SECONDS = 1.0  # how often a wait for a batch block looks at the cluster's head
HEAD_GRACE_SECONDS = 60.0  # a head unreachable this long: its tasks are lost, the job fails with the reason
# Ray ends a driver, this server, whose head was unreachable for a minute: serving must not depend on it
RECONNECT_ENV = "RAY_gcs_rpc_server_reconnect_timeout_s"
RECONNECT_SECONDS = 10 * 365 * 86400
BUILT_KEEP = 4  # map states a worker process keeps (most recent first)
ITEM_TASK = "_answer_item"  # the task names a cluster's logs show: a map's items (batch blocks)
BLOCK_TASK = "training_block"  # and a training step's user blocks

_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
_built: dict[str, Callable[[Any], Any]] = {}  # in a worker process: map token -> its built answerer


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", (message, traceback))``: a step's own failure is an answer, not a retry."""
    try:
        return "ok", fn()
    except Exception as exc:
        return "error", (str(exc) or type(exc).__name__, traceback.format_exc())


@ray.remote(num_cpus=0)  # holds no CPU: its blocks, which do, can never wait behind it (or behind each other)
def _run_step(fn: Callable[..., Any], kwargs: dict[str, Any], omp_threads: str | None) -> tuple[str, Any]:
    """The step in a fresh child of the Ray worker, as the local executor runs it in a child of the server.

    The child gets the server's OMP_NUM_THREADS (Ray sets 1 in its workers), so BLAS and OpenMP
    run with the thread counts a local child has and the model comes out the same to the bit.
    """
    step = Step(_with_ray_blocks, {"step": fn, "kwargs": kwargs, "address": ray.get_runtime_context().gcs_address})
    with _environ(OMP_THREADS, omp_threads):
        try:
            return "ok", run_in_child(step)
        except JobError as exc:
            return "error", (exc.message, exc.trace)


def _with_ray_blocks(
    progress: Callable[[float], None], step: Callable[..., Any], kwargs: dict[str, Any], address: str
) -> Any:
    """In the step's child: the step, with the blocks of its partitioned training steps as tasks on the cluster.

    The child joins the cluster at ``address`` as a Ray driver of its own, on its first block. Why
    not the Ray worker it runs under: the step runs in a child process of that worker (its memory
    returned when it ends, the server's BLAS threads, a stop that kills it at once, as on the local
    executor), and a child of a worker is no worker, it cannot submit tasks through its parent's
    connection; running the step in the worker itself would give all three up. The join costs a
    second or two, once per training; the blocks are the child's own tasks, so they end with it
    (a stopped or lost step leaves none running).
    """
    on_ray = _RayBlocks(address)
    try:
        with blocks.use(on_ray):
            return step(progress=progress, **kwargs)
    finally:
        on_ray.close()


def _block_answerer(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return fn


class _RayBlocks:
    """A ``BlockMap`` of Ray tasks (``ordered_map``: in order, retried, a bounded number in flight), joined lazily."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._executor: RayExecutor | None = None

    def __call__(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        if self._executor is None:
            self._executor = RayExecutor.join(self.address)
        return self._executor.ordered_map(_block_answerer, {"fn": fn}, items, workers=0, task_name=BLOCK_TASK)

    def close(self) -> None:
        if self._executor is not None:
            ray.shutdown()


@contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    saved = os.environ.get(name)
    _set_env(name, value)
    try:
        yield
    finally:
        _set_env(name, saved)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@ray.remote(num_cpus=1)
def _answer_item(token: str, spec: tuple[Callable[..., Callable[[Any], Any]], dict[str, Any]], item: Any) -> Any:
    def answer() -> Any:
        fn = _built.get(token)
        if fn is None:
            setup, kwargs = spec
            fn = setup(**kwargs)
            single_threaded_blas()
            _built[token] = fn
            while len(_built) > BUILT_KEEP:
                del _built[next(iter(_built))]
        return fn(item)

    return _outcome(answer)


def _reachable(address: str) -> None:
    """Raise ConnectionError unless ``address`` (``[ray://]HOST:PORT``) accepts a TCP connection now.

    ``ray.init`` on an address nobody answers retries for minutes; a server must say so at once.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"Ray address {address!r} is not HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


class RayExecutor:
    """Job steps as tasks of the Ray cluster this process joined."""

    name = "ray"

    def __init__(self, address: str) -> None:
        self.address = address
        self._down_since: float | None = None

    @classmethod
    def join(cls, address: str) -> RayExecutor:
        """Join the cluster at ``address`` (``HOST:PORT`` of its head, ``ray://HOST:PORT``, or ``auto``).

        Raises ConnectionError, its message one line naming the address, when that fails.
        """
        if address != "auto":
            _reachable(address)
        os.environ.setdefault(RECONNECT_ENV, str(RECONNECT_SECONDS))
        try:
            ray.init(
                address=address,
                namespace="openpersonalize",
                log_to_driver=False,
                logging_level=logging.WARNING,
                ignore_reinit_error=True,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConnectionError(f"cannot join the Ray cluster at {address}: {reason}") from None
        return cls(address)

    def call(self, step: Step) -> Any:
        task = _run_step.options(max_retries=STEP_RETRIES, retry_exceptions=False)
        ref = task.remote(step.fn, step.kwargs, os.environ.get(OMP_THREADS))
        while True:
            try:
                kind, value = ray.get(ref, timeout=step.poll_seconds)
            except GetTimeoutError:
                if step.should_stop():
                    _cancel_unfinished(ref)
                    raise JobStopped() from None
                try:
                    self._check_cluster()
                except ConnectionError as exc:
                    raise JobError(f"The Ray task running the job was lost: {exc}", "") from None
                continue
            except RayError as exc:
                raise JobError(f"The Ray task running the job failed: {_reason(exc)}", str(exc)) from None
            if kind == "error":
                raise JobError(*value)
            return value

    def ordered_map(
        self,
        setup: Callable[..., Callable[[Any], Any]],
        kwargs: dict[str, Any],
        items: Iterable[Any],
        workers: int,
        task_name: str = ITEM_TASK,
    ) -> Generator[Any, None, None]:
        token = uuid.uuid4().hex
        spec = ray.put((setup, kwargs))
        limit = DEPTH * max(1, int(ray.cluster_resources().get("CPU", 1)))
        task = _answer_item.options(max_retries=ITEM_RETRIES, retry_exceptions=False, name=task_name)
        pending: deque[Any] = deque()  # closed early (a failed block): the others, at most ``limit``, finish unread
        for item in items:
            if len(pending) >= limit:
                yield self._item_result(pending.popleft())
            pending.append(task.remote(token, spec, item))
        while pending:
            yield self._item_result(pending.popleft())

    def _item_result(self, ref: Any) -> Any:
        while True:
            try:
                kind, value = ray.get(ref, timeout=POLL_SECONDS)
            except GetTimeoutError:
                try:
                    self._check_cluster()
                except ConnectionError as exc:
                    raise WorkerError(f"A Ray task answering the job was lost: {exc}") from None
                continue
            except TaskCancelledError:
                raise WorkerError("A Ray task answering the job was cancelled.") from None
            except RayError as exc:
                raise WorkerError(f"A Ray worker answering the job failed: {_reason(exc)}", str(exc)) from None
            if kind == "error":
                raise WorkerError(*value)
            return value

    def _check_cluster(self) -> None:
        """Raise ConnectionError once the cluster's head has not answered for ``HEAD_GRACE_SECONDS``.

        A task of a cluster that is gone never finishes: without this a job would wait for ever.
        """
        if self.address == "auto":
            return
        try:
            _reachable(self.address)
        except ConnectionError:
            now = time.monotonic()
            self._down_since = self._down_since or now
            if now - self._down_since >= HEAD_GRACE_SECONDS:
                raise
        else:
            self._down_since = None


def _cancel_unfinished(ref: Any) -> None:
    """Kill a step's task that has not finished (its worker, and the step's child with it).

    Never a finished one: Ray (2.60) aborts the owner, this server, when a task it cancelled
    completes afterwards ("Tried to complete task that was not pending"); blocks are therefore
    never cancelled.
    """
    ready, _ = ray.wait([ref], timeout=0)
    if not ready:
        ray.cancel(ref, force=True)


def _reason(exc: BaseException) -> str:
    """What a Ray error says went wrong: its last line (the underlying exception), without terminal colours."""
    lines = [line.strip() for line in _COLOURS.sub("", str(exc)).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
