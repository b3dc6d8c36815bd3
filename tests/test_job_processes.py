"""Job processes: dead owners (zombies, reused pids) are taken over at once, children die with their
parent and are reaped, and the scratch directories of killed jobs are swept at start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from job_children import sleep_in_child

from helpers import requires, wait_until
from openpersonalize.jobs import processes
from openpersonalize.jobs.isolated import JobStopped, Step, run_isolated
from openpersonalize.jobs.leftovers import remove_leftovers
from openpersonalize.jobs.runner import JobHandler, JobRunner
from openpersonalize.store.metadata import MetadataStore, jobs

HERE = Path(__file__).resolve().parent
linux_only = requires(sys.platform == "linux", "/proc and PR_SET_PDEATHSIG are Linux features")


def _zombie() -> subprocess.Popen:
    """A child that has exited but was not reaped yet."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_until(lambda: Path(f"/proc/{child.pid}/stat").read_text().split(")")[1].split()[0] == "Z", what="zombie")
    return child


@linux_only
def test_zombie_and_reused_pid_count_as_dead():
    me = os.getpid()
    assert processes.alive(me, processes.start_token(me))
    assert not processes.alive(me, str(int(processes.start_token(me)) + 1))  # same pid, another process
    child = _zombie()
    try:
        assert os.kill(child.pid, 0) is None  # the kernel still knows the pid...
        assert not processes.alive(child.pid)  # ...but the process is gone
    finally:
        child.wait()
    assert not processes.alive(child.pid)


def _runner(store: MetadataStore, ran: list[str], done: threading.Event, **handler) -> JobRunner:
    def run(arn: str) -> None:
        ran.append(arn)
        done.set()

    # the stale timeout is an hour: only recognising the dead owner can hand its job over in this test
    return JobRunner(store, {"k": JobHandler(run, lambda arn, why: None, **handler)}, stale_seconds=3600)


def _owned_job(store: MetadataStore, arn: str, owner: str) -> None:
    with store.transaction() as conn:
        conn.execute(jobs.insert().values(arn=arn, kind="k", owner=owner, heartbeat=time.time(), attempts=1))


@linux_only
def test_job_of_a_zombie_owner_is_taken_over_at_start(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    child = _zombie()
    try:
        host = socket.gethostname()
        _owned_job(store, "arn:zombie", f"{host}:{child.pid}:{processes.start_token(os.getpid())}:dead0001")
        _owned_job(store, "arn:old-format", f"{host}:{child.pid}:dead0002")
        ran: list[str] = []
        done = threading.Event()
        runner = _runner(store, ran, done)
        runner.start()
        try:
            wait_until(lambda: len(ran) == 2, what="takeover")
        finally:
            runner.stop()
        assert sorted(ran) == ["arn:old-format", "arn:zombie"]
    finally:
        child.wait()


def test_job_of_a_live_owner_is_left_alone(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    me = os.getpid()
    _owned_job(store, "arn:busy", f"{socket.gethostname()}:{me}:{processes.start_token(me)}:alive001")
    ran: list[str] = []
    done = threading.Event()
    runner = _runner(store, ran, done)
    runner.start()
    runner.stop()
    assert ran == [] and store.job_owners() != []


def test_finishing_a_job_keeps_a_row_another_owner_took_over(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    store.enqueue("arn:j", "k")
    assert store.claim_job("a", stale_before=0.0)[0] == "arn:j"
    assert store.claim_job("b", stale_before=time.time() + 1)[0] == "arn:j"  # a's heartbeat went stale
    store.finish_job("arn:j", "a")
    assert store.job_owner("arn:j") == "b"
    store.finish_job("arn:j", "b")
    assert store.job_owner("arn:j") is None and store.job_owners() == []


def test_sweep_at_start_removes_only_unowned_old_scratch(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    old, busy, new = (tmp_path / name for name in (".snapshot-old.tmp", ".snapshot-busy.tmp", ".snapshot-new.tmp"))
    for path in (old, busy, new):
        path.mkdir()
        (path / "part.parquet").write_bytes(b"partial")
    for path in (old, busy):
        os.utime(path, (time.time() - 100, time.time() - 100))
    os.utime(new, (time.time() + 100, time.time() + 100))  # made after the runner listed the running jobs
    me = os.getpid()
    _owned_job(store, "arn:running", f"{socket.gethostname()}:{me}:{processes.start_token(me)}:alive002")
    seen: list[set[str]] = []

    def sweep(running: set[str], before: float) -> None:
        seen.append(running)
        remove_leftovers(tmp_path.glob(".snapshot-*.tmp"), lambda p: p == busy and "arn:running" in running, before)

    runner = _runner(store, [], threading.Event(), sweep=sweep)
    runner.start()
    runner.stop()
    assert seen == [{"arn:running"}]
    assert not old.exists() and busy.exists() and new.exists()


@linux_only
def test_stopped_child_is_killed_and_reaped(tmp_path):
    pid_file = tmp_path / "child.pid"

    def should_stop() -> bool:
        return pid_file.exists() and bool(pid_file.read_text())

    with pytest.raises(JobStopped):
        run_isolated(Step(sleep_in_child, {"pid_file": str(pid_file)}, should_stop, poll_seconds=0.05))
    assert not Path(f"/proc/{pid_file.read_text()}").exists()  # gone, not even a zombie


@linux_only
@pytest.mark.parametrize("mode", ["isolated", "pool"])
def test_child_dies_with_its_sigkilled_parent(tmp_path, mode):
    pid_file = tmp_path / "child.pid"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, str(HERE / "job_children.py"), mode, str(pid_file)], env=env)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="child start")
        child = int(pid_file.read_text())
        assert processes.alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    wait_until(lambda: not processes.alive(child), guard=30.0, what=f"{mode} child {child} ending with its parent")
