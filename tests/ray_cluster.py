"""A local Ray cluster for tests: a head and more nodes of one CPU each, every port chosen free.

Its workers import from ``tests/`` as the local executor's children do, so a test hands both the
same module-level functions.

Each ``ray start`` runs in a session of its own, so stopping the cluster ends exactly the
processes it started (its process groups), never another suite's cluster (no ``ray stop``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from server_harness import free_ports

OBJECT_STORE_BYTES = 80 * 1024 * 1024
TASK_MARK = ":task_name:"  # what a Ray worker writes to its log as it starts a task
TESTS = Path(__file__).resolve().parent  # on the workers' path: tasks may call test modules' functions
RAY = str(Path(sys.executable).with_name("ray"))


NODE_PORTS = (
    "node-manager-port",
    "object-manager-port",
    "metrics-export-port",
    "runtime-env-agent-port",
    "dashboard-agent-grpc-port",
    "dashboard-agent-listen-port",
)


@dataclass
class RayCluster:
    """The running cluster: ``address`` (HOST:PORT of the head), ``client_address`` (ray://HOST:PORT)."""

    temp_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # more environment for the nodes (and so their workers)
    address: str = ""
    client_address: str = ""
    groups: list[int] = field(default_factory=list)
    watchdogs: list[subprocess.Popen] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)  # every port given to a node: a later node gets none of them

    def _start(self, *args: str, own_ports: tuple[str, ...] = ()) -> dict[str, int]:
        """Start one node; ``own_ports`` are more port options to choose, returned with the node's."""
        names = own_ports + NODE_PORTS
        ports = dict(zip(names, free_ports(len(names), frozenset(self.ports)), strict=True))
        self.ports.update(ports.values())
        cmd = [RAY, "start", "--num-cpus", "1", "--object-store-memory", str(OBJECT_STORE_BYTES)]
        cmd += ["--disable-usage-stats", *args]
        cmd += [arg for name, port in ports.items() for arg in (f"--{name}", str(port))]
        path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, **self.env, "RAY_TMPDIR": str(self.temp_dir), "PYTHONPATH": path}
        env.pop("RAY_ADDRESS", None)
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.groups.append(proc.pid)
        self.watchdogs.append(_watchdog(os.getpid(), proc.pid))
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed: {out.decode(errors='replace')[-2000:]}")
        return ports

    def start(self, nodes: int) -> RayCluster:
        """A head and ``nodes - 1`` more nodes on this machine."""
        ports = self._start("--head", "--include-dashboard=false", own_ports=("port", "ray-client-server-port"))
        self.address = f"127.0.0.1:{ports['port']}"
        self.client_address = f"ray://127.0.0.1:{ports['ray-client-server-port']}"
        for _ in range(nodes - 1):
            self._start("--address", self.address)
        return self

    def task_counts(self) -> Counter[str]:
        """How many tasks of each function the cluster's workers have started (from their ``:task_name:`` log lines)."""
        counts: Counter[str] = Counter()
        for log in self.temp_dir.glob("ray/session_*/logs/worker-*.out"):
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith(TASK_MARK):
                    counts[line[len(TASK_MARK) :].strip()] += 1
        return counts

    def stop_node(self, which: int) -> None:
        """Kill one node's processes at once (SIGKILL), as when its machine dies."""
        _kill_group(self.groups[which], signal.SIGKILL)

    def stop(self) -> None:
        """End every process the cluster started (SIGTERM, then SIGKILL after a grace period)."""
        for group in reversed(self.groups):
            _kill_group(group, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_group_alive(g) for g in self.groups):
            time.sleep(0.2)
        for group in self.groups:
            _kill_group(group, signal.SIGKILL)
        for watchdog in self.watchdogs:
            watchdog.kill()
            watchdog.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _watchdog(owner: int, group: int) -> subprocess.Popen:
    """A shell killing ``group`` once ``owner`` (the test process) is gone, even SIGKILLed: no cluster outlives it."""
    script = f"while kill -0 {owner} 2>/dev/null; do sleep 1; done; kill -9 -{group} 2>/dev/null"
    return subprocess.Popen(["sh", "-c", script], start_new_session=True)


def _kill_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def ray_cluster(nodes: int = 2, env: dict[str, str] | None = None) -> RayCluster:
    """Start a local cluster of ``nodes`` one-CPU nodes (a short temp dir: Ray's sockets live there).

    ``env`` reaches the tasks: e.g. the object store's credentials, which batch workers need.
    """
    cluster = RayCluster(Path(tempfile.mkdtemp(prefix="opray-", dir="/tmp")), dict(env or {}))
    try:
        return cluster.start(nodes)
    except BaseException:
        cluster.stop()
        raise
