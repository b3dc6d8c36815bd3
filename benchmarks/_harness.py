"""Shared benchmark plumbing: start a server, load the POC data, train, deploy, and replay signed requests."""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]

KEY, SECRET, REGION = "AKIDBENCHMARK", "benchmark-secret", "us-east-1"
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
sys.path.insert(0, str(ROOT))

from openpersonalize.data import movielens  # noqa: E402
from openpersonalize.demo import bundled_movielens  # noqa: E402

MOVIELENS = bundled_movielens(Path(tempfile.gettempdir()) / "openpersonalize-bench-data")  # the package's copy


@dataclass
class BenchServer:
    proc: subprocess.Popen
    port: int
    data_dir: Path
    work: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str = "personalize"):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            config=Config(retries={"max_attempts": 1}, read_timeout=600),
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    workers: int = 1, root: Path | None = None, extra_args: tuple[str, ...] = (), code: Path | None = None
) -> BenchServer:
    """A server on a free port; ``code``: a checkout whose ``openpersonalize`` it runs instead of this one (it
    starts outside any checkout, since ``python -m`` imports the working directory's package first)."""
    root = root or Path(tempfile.mkdtemp(prefix="op-bench-"))
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {**os.environ, "OPENPERSONALIZE_ACCESS_KEY_ID": KEY, "OPENPERSONALIZE_SECRET_ACCESS_KEY": SECRET}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    cmd = [sys.executable, "-m", "openpersonalize.cli", "serve", "--port", str(port), "--data-dir", str(root / "data")]
    cmd += ["--allow-path", str(work), "--workers", str(workers), "--log-level", "warning", *extra_args]
    proc = subprocess.Popen(cmd, env=env, cwd=root if code is not None else None)
    _wait_listening(port)
    return BenchServer(proc, port, root / "data", work)


def wait(describe, key: str, **kwargs) -> dict:
    while True:
        res = describe(**kwargs)[key]
        if res["status"] in ("ACTIVE", "CREATE FAILED"):
            if res["status"] != "ACTIVE":
                raise RuntimeError(f"{key} failed: {res.get('failureReason')}")
            return res
        time.sleep(0.2)


def load_poc_group(server: BenchServer, interactions_csv: Path | None = None) -> dict:
    """Dataset group with the POC interactions (or ``interactions_csv``) and item metadata imported."""
    p = server.client()
    ints = interactions_csv or movielens.write_csv(
        movielens.prepare_interactions(MOVIELENS / "ratings.csv"), server.work / "interactions.csv"
    )
    items = movielens.write_csv(movielens.prepare_items(MOVIELENS / "movies.csv"), server.work / "items.csv")
    group = p.create_dataset_group(name=f"bench-{uuid.uuid4().hex[:6]}")["datasetGroupArn"]
    out = {"group": group}
    for kind, schema, path in (
        ("INTERACTIONS", movielens.INTERACTIONS_SCHEMA, ints),
        ("ITEMS", movielens.ITEMS_SCHEMA, items),
    ):
        if path is None:
            continue
        s = p.create_schema(name=f"s-{uuid.uuid4().hex[:6]}", schema=json.dumps(schema))["schemaArn"]
        ds = p.create_dataset(name=f"d-{uuid.uuid4().hex[:6]}", datasetType=kind, datasetGroupArn=group, schemaArn=s)
        job = p.create_dataset_import_job(
            jobName=f"j-{uuid.uuid4().hex[:6]}", datasetArn=ds["datasetArn"], dataSource={"dataLocation": str(path)}
        )["datasetImportJobArn"]
        wait(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        out[kind] = ds["datasetArn"]
    return out


def train_and_deploy(server: BenchServer, group: str, recipe: str, **solution_kwargs) -> dict:
    p = server.client()
    sol = p.create_solution(
        name=f"{recipe}-{uuid.uuid4().hex[:6]}",
        datasetGroupArn=group,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
        **solution_kwargs,
    )["solutionArn"]
    t0 = time.perf_counter()
    version = p.create_solution_version(solutionArn=sol)["solutionVersionArn"]
    wait(p.describe_solution_version, "solutionVersion", solutionVersionArn=version)
    trained = time.perf_counter() - t0
    campaign = p.create_campaign(
        name=f"c-{uuid.uuid4().hex[:6]}",
        solutionVersionArn=version,
        campaignConfig={"enableMetadataWithRecommendations": True},
    )["campaignArn"]
    wait(p.describe_campaign, "campaign", campaignArn=campaign)
    return {"solution": sol, "version": version, "campaign": campaign, "train_seconds": trained}


def signed(url: str, path: str, body: dict) -> tuple[bytes, dict[str, str]]:
    """A SigV4-signed runtime request (valid for 15 minutes; replayed by the load generator)."""
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=url + path, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY, SECRET), "personalize", REGION).add_auth(req)
    return data, dict(req.headers.items())


def _raw_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 POST (the Host header is the one the request was signed for)."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _exchange(sock: socket.socket, raw: bytes, pending: bytes) -> tuple[int, bytes, bytes]:
    """Send one request, read its whole response: (status, body, bytes already read of the next one)."""
    sock.sendall(raw)
    buf = pending
    while (end := buf.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head = buf[:end]
    match = CONTENT_LENGTH.search(head)
    if match is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    stop = end + 4 + int(match.group(1))
    while len(buf) < stop:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    return int(head[9:12]), buf[end + 4 : stop], buf[stop:]


def _load_worker(args: tuple) -> tuple[list[float], int]:
    """One keep-alive client replaying pre-built requests over a raw socket.

    A replay client (as wrk is) spends a small fraction of the CPU that http.client's header parsing
    takes, so on a small machine the load generator leaves the cores to the server it measures.

    With an ``interval`` (paced mode, as wrk2), request i is due at start + i * interval: the client
    waits for that moment when ahead and sends at once when behind, and a latency runs from the due
    time, so a server that falls behind shows it in the latencies instead of slowing the load down
    (no coordinated omission). Returns the measured latencies and how many requests it sent in all.
    """
    port, requests, seconds, warmup, interval, offset = args
    raws = [_raw_request(port, path, body, headers) for path, body, headers in requests]
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies: list[float] = []
    begin = time.perf_counter() + offset
    end = begin + warmup + seconds
    start_measure = begin + warmup
    i = 0
    pending = b""
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        t0 = now
        if interval:
            t0 = begin + i * interval
            if t0 > now:
                time.sleep(t0 - now)
        raw = raws[i % len(raws)]
        i += 1
        status, payload, pending = _exchange(sock, raw, pending)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {payload[:300]!r}")
        if t0 >= start_measure:
            latencies.append(time.perf_counter() - t0)
    sock.close()
    return latencies, i


def drive(
    port: int,
    requests: list[tuple[str, bytes, dict]],
    clients: int,
    seconds: float,
    rate: float | None = None,
    server_pid: int | None = None,
) -> dict:
    """Concurrent keep-alive clients in separate processes; throughput and latency percentiles.

    Without ``rate`` each client sends its next request as soon as the last is answered (throughput);
    with it the clients together send ``rate`` requests a second on a fixed schedule (latency at a load).
    With ``server_pid``, also ``cpu_us``: the CPU its processes spent per request (warm-up ones included),
    from ``/proc``. Unlike throughput it does not move with the load generator's share of a small machine.
    """
    interval = clients / rate if rate else 0.0
    ctx = get_context("spawn")
    with ctx.Pool(clients) as pool:
        jobs = [(port, requests, seconds, 1.0, interval, n * interval / clients) for n in range(clients)]
        before = cpu_seconds(process_family(server_pid)) if server_pid else 0.0
        results = pool.map(_load_worker, jobs)
        spent = cpu_seconds(process_family(server_pid)) - before if server_pid else 0.0
    lat = sorted(x for r, _ in results for x in r)
    out = {
        "rps": len(lat) / seconds,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "n": len(lat),
    }
    if server_pid:
        out["cpu_us"] = 1e6 * spent / sum(sent for _, sent in results)
    return out


WARMUP_ATTEMPTS = 60  # closed-loop rounds a server may take to answer at all (numba compiles on a cold cache)


def warm(port: int, requests: list[tuple[str, bytes, dict]], clients: int, seconds: float = 2.0) -> None:
    """Drive until a round of ``seconds`` sees answers (every worker's model loaded, its kernels compiled),
    so that what a measurement counts is serving, not loading."""
    for _ in range(WARMUP_ATTEMPTS):
        try:
            drive(port, requests, clients, seconds)
            return
        except IndexError:  # no request finished inside the window
            continue
    raise RuntimeError(f"server on port {port} never answered")


def start_floor(workers: int, models: dict[str, Path] | None = None) -> tuple[subprocess.Popen, int]:
    """The bare Starlette endpoints of ``floor_app.py`` under uvicorn with ``workers`` processes; (process, port).

    ``models`` (campaign ARN -> model artifact directory) are what its model floor serves; the call returns
    once a worker has answered a model-floor request for each (every worker loads them before it accepts).
    """
    port = _free_port()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["FLOOR_MODELS"] = json.dumps({arn: str(path) for arn, path in (models or {}).items()})
    cmd = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(ROOT / "benchmarks")]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env)
    _wait_listening(port)
    for arn in models or {}:
        body = json.dumps({"campaignArn": arn, "userId": ""}).encode()
        status, payload = _post(port, "/model-recommendations", body)
        if status != 200:
            raise RuntimeError(f"model floor for {arn}: HTTP {status}: {payload[:300]!r}")
    return proc, port


def _post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    """One JSON POST on a fresh connection (waits while the workers start): (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        status, payload, _ = _exchange(sock, _raw_request(port, path, body, {"Content-Type": "application/json"}), b"")
    return status, payload


def _wait_listening(port: int, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)


def floor(call, repeat: int = 300) -> dict:
    """Bare in-process latency of ``call`` (no HTTP): median and p99."""
    for _ in range(20):
        call()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"p50_ms": 1000 * statistics.median(times), "p99_ms": 1000 * times[int(len(times) * 0.99) - 1]}


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` and its descendants (batch workers): shared model pages counted once."""
    total = 0.0
    for p in process_family(pid):
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:")) / 1024
    return total


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes plus their reaped children (a training child, finished pool workers)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def process_family(pid: int) -> list[int]:
    """``pid`` and its live descendants (a server's uvicorn workers, their children)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    family, todo = [], [pid]
    while todo:
        p = todo.pop()
        family.append(p)
        todo += children.get(p, [])
    return family
