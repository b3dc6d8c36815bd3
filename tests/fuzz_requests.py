"""Fuzz a running openpersonalize server with requests generated from the three botocore models.

Every operation of ``personalize``, ``personalize-runtime`` and ``personalize-events`` gets inputs
drawn from its input shape (valid, and one mutation off, see ``fuzz_shapes``) plus malformed
requests (see ``fuzz_malformed``), with the ARNs and ids of real resources mixed in (see
``fuzz_world``), SigV4-signed (or signed wrongly on purpose) and sent over one keep-alive HTTP
connection. Each response must be under 500, an AWS error shape when 4xx, and
come back within a second. CI runs a short derandomized session (tests/test_fuzz.py); anyone can
run a longer one (or set OPENPERSONALIZE_FUZZ_REQUESTS for the test):

    python tests/fuzz_requests.py --requests 50000            # starts its own server
    python tests/fuzz_requests.py --requests 50000 --seed 7 --endpoint http://127.0.0.1:8000 \\
        --access-key KEY --secret SECRET                      # an already running server
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import hypothesis
import hypothesis.strategies as st
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from fuzz_cases import Case, Operation, World, catalog, shaped_case
from fuzz_malformed import malformed_case
from fuzz_world import seed_world

from server_harness import ACCESS_KEY, REGION, SECRET_KEY, Server, free_port

MAX_SECONDS = 1.0
CI_REQUESTS = 2000
REQUESTS_ENV = "OPENPERSONALIZE_FUZZ_REQUESTS"
# A request unanswered this long has hung the server: the session stops there.
STUCK_SECONDS = 15.0


class ServerStuck(Exception):
    """The server did not answer a request at all."""


def cases(op: Operation, world: World) -> st.SearchStrategy[Case]:
    """Requests of ``op``: shaped (valid or one mutation off) two times out of three, malformed otherwise."""
    shaped = shaped_case(op, world)
    return st.sampled_from([shaped, shaped, malformed_case(op, world)]).flatmap(lambda strategy: strategy)


def schedule(requests: int) -> list[tuple[Operation, int]]:
    """How many requests each operation gets: an even share, three for the runtime and events
    operations (the hot paths); at least ``requests`` in all."""
    weights = {op.name: 1 if op.service == "personalize" else 3 for op in catalog()}
    total = sum(weights.values())
    return [(op, math.ceil(requests * weights[op.name] / total)) for op in catalog()]


@dataclass(frozen=True)
class Target:
    """Where the server listens and the credentials it accepts."""

    endpoint: str
    access_key: str
    secret: str
    region: str

    @property
    def netloc(self) -> str:
        return urlsplit(self.endpoint).netloc


def signed_headers(target: Target, case: Case) -> dict[str, str]:
    """The case's headers with SigV4 auth as ``case.auth`` says: valid, or wrong in one way."""
    headers = {"Host": target.netloc, **case.headers}
    if case.auth == "unsigned":
        return headers
    key = "AKIDNOSUCHKEY" if case.auth == "unknown key" else target.access_key
    secret = target.secret + "x" if case.auth == "wrong secret" else target.secret
    signed_body = case.body + b" " if case.auth == "body changed after signing" else case.body
    late = {}
    if case.auth.startswith("unsigned header "):
        name = case.auth.removeprefix("unsigned header ")
        late = {name: headers.pop(name)}
    request = AWSRequest(method=case.method, url=target.endpoint + case.path, data=signed_body, headers=headers)
    clock = datetime(2020, 1, 1, tzinfo=UTC) if case.auth == "expired" else datetime.now(UTC)
    with mock.patch("botocore.auth.get_current_datetime", return_value=clock.replace(tzinfo=None)):
        SigV4Auth(Credentials(key, secret), "personalize", target.region).add_auth(request)
    out = {**dict(request.headers.items()), **late}
    if case.auth == "garbled":
        out["Authorization"] = out["Authorization"].replace("Credential=", "Credential=/", 1)[:-8]
    return out


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


class Connection:
    """One keep-alive HTTP/1.1 connection that sends headers exactly as given (reopened when closed)."""

    def __init__(self, endpoint: str, timeout: float = 60.0) -> None:
        parts = urlsplit(endpoint)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def send(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Send one request; ``seconds`` runs from its first byte sent to its last byte received."""
        start = time.perf_counter()
        try:
            self._conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                self._conn.putheader(name, value)
            self._conn.putheader("Content-Length", str(len(body)))
            self._conn.endheaders(body)
            response = self._conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            raise
        seconds = time.perf_counter() - start
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, payload, seconds)

    def close(self) -> None:
        self._conn.close()


def problems(case: Case, response: Response, slow: bool) -> list[str]:
    """What is wrong with ``response`` to ``case`` (nothing when it is a proper answer)."""
    found = []
    if response.status >= 500:
        found.append(f"HTTP {response.status}")
    if slow:
        found.append(f"took {response.seconds:.2f} s")
    if response.status < 500 and response.status not in case.expect:
        found.append(f"HTTP {response.status}, expected {case.expect.start}-{case.expect.stop - 1}")
    if 400 <= response.status < 500 and case.method != "HEAD":
        found += _error_shape_problems(response)
    return found


def _error_shape_problems(response: Response) -> list[str]:
    """An AWS JSON error: ``__type`` (the code botocore reads), ``message``, and the x-amzn-ErrorType header."""
    try:
        body = json.loads(response.body)
    except ValueError:
        return [f"4xx body is not JSON: {response.body[:200]!r}"]
    code = body.get("__type") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code or code.isdigit():
        return [f"4xx body has no __type error code: {response.body[:200]!r}"]
    if not isinstance(body.get("message"), str):
        return [f"4xx body has no message: {response.body[:200]!r}"]
    if response.headers.get("x-amzn-errortype", "").split(":")[0] != code:
        return [f"x-amzn-ErrorType header {response.headers.get('x-amzn-errortype')!r} differs from {code!r}"]
    return []


@dataclass
class Failure:
    case: Case
    status: int | None
    seconds: float
    problems: list[str]
    body: bytes

    def __str__(self) -> str:
        said = f"{'; '.join(self.problems)} -> {self.body[:200]!r}"
        return f"[{self.case.kind}] {self.case.what}: {said}\n    {self.case.summary()}"


@dataclass
class Report:
    """Counts, latencies and failures of one fuzzing session."""

    requests: int = 0
    kinds: Counter = field(default_factory=Counter)
    operations: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set), repr=False)
    statuses: Counter = field(default_factory=Counter)
    server_errors: int = 0
    slow: int = 0
    max_seconds: float = 0.0
    slowest: str = ""
    failures: list[Failure] = field(default_factory=list, repr=False)
    faults: set[str] = field(default_factory=set)
    stalls: list[str] = field(default_factory=list)
    stuck: bool = False

    def record(
        self, case: Case, response: Response | None, error: str = "", repeat_seconds: float | None = None
    ) -> None:
        """Count one exchange. A response over the limit whose repeat (``repeat_seconds``) was within it
        is a stall of the machine, listed apart; one slow twice is a failure."""
        self.requests += 1
        self.kinds[case.kind] += 1
        if case.operation is not None:
            self.operations[case.kind].add(case.operation.name)
        if case.kind == "malformed":
            self.faults.add(case.what.split(":")[0])
        if response is None:
            self.failures.append(Failure(case, None, 0.0, [f"no response: {error}"], b""))
            return
        self.statuses[response.status] += 1
        if response.status < 300 and case.operation is not None:
            self.operations["answered 2xx"].add(case.operation.name)
        self.server_errors += response.status >= 500
        slow = response.seconds > MAX_SECONDS and (repeat_seconds is None or repeat_seconds > MAX_SECONDS)
        self.slow += slow
        if response.seconds > MAX_SECONDS and not slow:
            self.stalls.append(f"{case.what}: {response.seconds:.2f} s, repeated in {repeat_seconds:.3f} s")
        if response.seconds > self.max_seconds:
            self.max_seconds, self.slowest = response.seconds, case.what
        found = problems(case, response, slow)
        if found:
            self.failures.append(Failure(case, response.status, response.seconds, found, response.body))

    def distinct_failures(self, limit: int = 40) -> list[Failure]:
        """One failure per (operation, or malformation, and problem kind), first seen first."""
        seen: dict[tuple[str, str], Failure] = {}
        for failure in self.failures:
            problem = re.sub(r"[\d.]+ s\b", "s", failure.problems[0].split(",")[0])
            case = failure.case
            key = (case.what if case.kind == "malformed" else case.what.split(":")[0], problem)
            seen.setdefault(key, failure)
        return list(seen.values())[:limit]

    def summary(self) -> str:
        lines = [
            f"{self.requests} requests {dict(self.kinds)}, statuses {dict(sorted(self.statuses.items()))}"
            + (" - STOPPED: a request hung the server" if self.stuck else ""),
            f"5xx: {self.server_errors}, over {MAX_SECONDS:g} s: {self.slow}, "
            f"max {self.max_seconds * 1000:.0f} ms ({self.slowest}); stalls (fast when repeated): {len(self.stalls)} "
            f"{self.stalls[:5]}",
            f"operations answered 2xx: {len(self.operations['answered 2xx'])}/{len(catalog())}; never: "
            f"{', '.join(sorted({op.name for op in catalog()} - self.operations['answered 2xx']))}",
            f"{len(self.failures)} failing requests; distinct:",
        ]
        return "\n".join(lines + [f"  {f}" for f in self.distinct_failures()])


def run(
    target: Target,
    requests: int,
    world: World,
    seed: int | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Send at least ``requests`` generated requests to ``target``, operation by operation;
    derandomized (reproducible) unless ``seed`` is given."""
    report = Report()
    connection = Connection(target.endpoint, STUCK_SECONDS)
    try:
        for op, count in schedule(requests):
            _fuzz_operation(op, count, target, connection, world, seed, report)
            if progress is not None:
                progress(report)
            if report.stuck:
                break
    finally:
        connection.close()
    return report


def _fuzz_operation(
    op: Operation, count: int, target: Target, connection: Connection, world: World, seed: int | None, report: Report
) -> None:
    """``count`` requests of ``op``, drawn by one hypothesis run."""

    @hypothesis.settings(
        max_examples=count,
        derandomize=seed is None,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(cases(op, world))
    def exchange(case: Case) -> None:
        if report.stuck:
            raise ServerStuck("an earlier request hung the server")
        try:
            response = connection.send(case.method, case.path, signed_headers(target, case), case.body)
            repeat = None
            if response.seconds > MAX_SECONDS:  # once more: a slow server, or a stalled machine?
                repeat = connection.send(case.method, case.path, signed_headers(target, case), case.body).seconds
        except TimeoutError:
            report.record(case, None, f"no answer within {STUCK_SECONDS:g} s")
            report.stuck = True
            raise ServerStuck(case.summary()) from None
        except (OSError, http.client.HTTPException) as exc:
            report.record(case, None, repr(exc))
        else:
            report.record(case, response, repeat_seconds=repeat)

    if seed is not None:
        exchange = hypothesis.seed(seed)(exchange)
    try:
        exchange()
    except ServerStuck:
        pass  # recorded in the report, which ends the session


def fuzz_server(root: Path, work: Path) -> Server:
    """A fresh server for fuzzing, its S3 endpoint a closed port so S3 locations fail at once."""
    env = {
        "OPENPERSONALIZE_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "fuzz",
        "AWS_SECRET_ACCESS_KEY": "fuzz",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return Server(root / "data", None, [work], env).start()


def client(target: Target, service: str = "personalize") -> Any:
    """A plain boto3 client of ``target``."""
    return boto3.client(
        service,
        endpoint_url=target.endpoint,
        region_name=target.region,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def healthy(target: Target) -> None:
    """Plain boto3 calls still succeed (raises otherwise)."""
    personalize = client(target)
    personalize.list_dataset_groups(maxResults=1)
    personalize.list_recipes(maxResults=1)


def _session(args: argparse.Namespace, root: Path) -> Report:
    work = args.work_dir
    server = None
    if args.endpoint is None:
        work = root / "work"
        work.mkdir()
        server = fuzz_server(root, work)
    try:
        target = Target(args.endpoint or server.url, args.access_key, args.secret, args.region)
        world = seed_world(client(target), work)
        report = run(target, args.requests, world, args.seed, _progress)
        print(report.summary())
        healthy(target)
        print("server healthy after the session")
        return report
    finally:
        if server is not None:
            server.stop()


def _progress(report: Report) -> None:
    print(f"{report.requests} requests, 5xx: {report.server_errors}, failing: {len(report.failures)}", flush=True)


def main() -> int:
    """Command line: fuzz a fresh server (or ``--endpoint``) with ``--requests`` requests."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=int(os.environ.get(REQUESTS_ENV, CI_REQUESTS)))
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: derandomized, as in CI)")
    parser.add_argument("--endpoint", help="a running server (default: start one in a temporary directory)")
    parser.add_argument("--work-dir", type=Path, help="with --endpoint: a directory that server may read")
    parser.add_argument("--access-key", default=ACCESS_KEY)
    parser.add_argument("--secret", default=SECRET_KEY)
    parser.add_argument("--region", default=REGION)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="op-fuzz-") as tmp:
        report = _session(args, Path(tmp))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
