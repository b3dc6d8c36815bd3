"""Start real openpersonalize servers (subprocesses) and build boto3 clients for them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

from openpersonalize.api.shapes import shape_output

ACCESS_KEY = "AKIDOPENPERSONALIZETEST"
SECRET_KEY = "test-secret-key-for-openpersonalize"
REGION = "eu-west-3"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, avoid: frozenset[int] = frozenset()) -> list[int]:
    """``count`` distinct free ports, none in ``avoid``: every socket stays bound until all are chosen."""
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
            if sock.getsockname()[1] not in avoid:
                ports.append(sock.getsockname()[1])
        return ports
    finally:
        for sock in sockets:
            sock.close()


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open")


@dataclass
class Server:
    """A running ``openpersonalize serve`` process."""

    data_dir: Path
    database_url: str | None
    allow: list[Path]
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # more ``openpersonalize serve`` options
    cwd: Path | None = None  # the server's working directory (where its relative paths lie)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.port = free_port()
        cmd = [sys.executable, "-m", "openpersonalize.cli", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), "--log-level", "warning"]
        # no automatic training on the wall clock: tests/test_auto_training.py drives schedules with a clock of its own
        cmd += ["--auto-training-check", "0"]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        for path in self.allow:
            cmd += ["--allow-path", str(path)]
        cmd += self.args
        env = {
            **os.environ,
            "OPENPERSONALIZE_ACCESS_KEY_ID": ACCESS_KEY,
            "OPENPERSONALIZE_SECRET_ACCESS_KEY": SECRET_KEY,
            **self.env,
        }
        log = open(self.data_dir.parent / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def client(self, service: str = "personalize", secret: str = SECRET_KEY, key: str = ACCESS_KEY):
        client = boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )
        if service == "personalize-runtime":
            client.meta.events.register("after-call.personalize-runtime", _check_raw_shape)
        return client


def _check_raw_shape(http_response, model, **_) -> None:
    """Every runtime response holds only members of its output shape: the server sends them unshaped."""
    if http_response.status_code == 200:
        raw = json.loads(http_response.content)
        assert shape_output(model.output_shape, raw) == raw, raw


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_status(describe, key: str, timeout: float = 120.0, **kwargs) -> dict:
    """Poll a Describe* call until the resource leaves its pending states (as the notebooks do)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        res = describe(**kwargs)[key]
        if res["status"] in ("ACTIVE", "CREATE FAILED", "CREATE STOPPED", "COMPLETED", "FAILED"):
            return res
        time.sleep(0.2)
    raise TimeoutError(f"{key} still {res['status']}")
