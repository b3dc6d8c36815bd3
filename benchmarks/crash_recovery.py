"""Crash recovery: SIGKILL the server during PutEvents, an import and a training, then restart it.

PutEvents: client threads send events with unique ids; the server is killed mid-stream. After the
restart the database must hold every event of every acknowledged call (lost: 0) and no event twice
(duplicates: 0). Import and training: the server is killed while the job runs and is left
unreaped (a zombie, as a supervisor that has not collected it yet leaves it), the training child's
lifetime after the kill is measured, then a new server starts on the same data; the figure is the
time from that start until every job is terminal again, with the uninterrupted run for reference.

    python benchmarks/crash_recovery.py [--only events|import|training] [--import-copies 25] [--recipe R]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import MOVIELENS, BenchServer, start_server  # noqa: E402

from openpersonalize.data import movielens  # noqa: E402
from openpersonalize.jobs import processes  # noqa: E402

TERMINAL = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED")
EVENTS_PER_CALL = 10
GIVE_UP_SECONDS = 600


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _kill(server: BenchServer) -> float:
    """SIGKILL, left unreaped until the next server runs; returns when the kill happened."""
    server.proc.send_signal(signal.SIGKILL)
    while processes.alive(server.proc.pid):
        time.sleep(0.005)
    return time.perf_counter()


def _restart(root: Path, killed: BenchServer) -> tuple[BenchServer, float]:
    started = time.perf_counter()
    server = start_server(root=root)
    killed.proc.wait()  # reap the old one only now: the new server saw its pid as a zombie
    return server, started


def _wait_terminal(describe, key: str, **kwargs) -> dict:
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while (res := describe(**kwargs)[key])["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise SystemExit(f"{key} still {res['status']} after {GIVE_UP_SECONDS}s")
        time.sleep(0.05)
    return res


def _wait_started(describe, key: str, **kwargs) -> str:
    """Poll until the job left CREATE PENDING; its status then."""
    while (status := describe(**kwargs)[key]["status"]) == "CREATE PENDING":
        time.sleep(0.005)
    return status


def _group(server: BenchServer, csv: Path | None) -> dict[str, str]:
    p = server.client()
    group = p.create_dataset_group(name=_name("crash"))["datasetGroupArn"]
    schema = p.create_schema(name=_name("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))["schemaArn"]
    dataset = p.create_dataset(name="ints", datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema)
    out = {"group": group, "dataset": dataset["datasetArn"]}
    if csv is not None:
        job = p.create_dataset_import_job(
            jobName=_name("j"), datasetArn=out["dataset"], dataSource={"dataLocation": str(csv)}
        )["datasetImportJobArn"]
        _wait_terminal(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    return out


def put_events(clients: int, seconds: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="op-crash-events-"))
    server = start_server(root=root)
    acked: list[str] = []
    try:
        group = _group(server, None)
        tracking = server.client().create_event_tracker(name="t", datasetGroupArn=group["group"])["trackingId"]
        stop = threading.Event()

        def client(n: int) -> None:
            events = server.client("personalize-events")
            for call in range(10**9):
                if stop.is_set():
                    return
                ids = [f"{n}-{call}-{k}" for k in range(EVENTS_PER_CALL)]
                batch = [
                    {"eventId": i, "eventType": "click", "itemId": f"item-{call % 997}", "sentAt": 1.7e9 + call}
                    for i in ids
                ]
                try:
                    events.put_events(trackingId=tracking, userId=f"u{n}", sessionId=f"s{n}", eventList=batch)
                except Exception:  # the server died under this call: not acknowledged, no retry
                    return
                acked.extend(ids)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        _kill(server)
        stop.set()
        for thread in threads:
            thread.join()
        server, _ = _restart(root, server)
        engine = sa.create_engine(f"sqlite:///{server.data_dir / 'metadata.db'}")
        with engine.connect() as conn:
            stored = Counter(row[0] for row in conn.execute(sa.text("SELECT event_id FROM live_events")))
        engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    lost = sum(1 for i in acked if i not in stored)
    duplicates = sum(n - 1 for n in stored.values() if n > 1)
    print(f"PutEvents, SIGKILL after {seconds:.0f}s of {clients} clients x {EVENTS_PER_CALL} events per call:")
    print(f"  {len(acked):,} events acknowledged, {sum(stored.values()):,} stored after the restart")
    print(f"  acknowledged events lost: {lost}; duplicates: {duplicates}")


def import_job(copies: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="op-crash-import-"))
    server = start_server(root=root)
    try:
        ints = movielens.prepare_interactions(MOVIELENS / "ratings.csv")
        csv = movielens.write_csv(pa.concat_tables([ints] * copies), server.work / "big.csv")
        group = _group(server, None)
        p = server.client()
        t0 = time.perf_counter()
        job = p.create_dataset_import_job(
            jobName=_name("ref"), datasetArn=group["dataset"], dataSource={"dataLocation": str(csv)}
        )["datasetImportJobArn"]
        _wait_terminal(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        reference = time.perf_counter() - t0
        job = p.create_dataset_import_job(
            jobName=_name("killed"), datasetArn=group["dataset"], dataSource={"dataLocation": str(csv)}
        )["datasetImportJobArn"]
        status = _wait_started(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        if status != "CREATE IN_PROGRESS":
            raise SystemExit(f"the import ended ({status}) before the kill: raise --import-copies")
        killed = _kill(server)
        server, started = _restart(root, server)
        p = server.client()
        done = _wait_terminal(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        finished = time.perf_counter()
        scratch = list((server.data_dir / "objects" / "datasets").glob("*/.snapshot-*.tmp"))
        size = csv.stat().st_size >> 20
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"Import of {len(ints) * copies:,} interactions ({size} MiB), SIGKILL while IN_PROGRESS:")
    print(f"  uninterrupted import: {reference:.1f}s")
    print(
        f"  restart -> every job terminal: {finished - started:.1f}s (kill -> terminal {finished - killed:.1f}s); "
        f"job {done['status']}; partial snapshot directories left: {len(scratch)}"
    )


def training(recipe: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="op-crash-train-"))
    server = start_server(root=root)
    try:
        csv = movielens.write_csv(movielens.prepare_interactions(MOVIELENS / "ratings.csv"), server.work / "ints.csv")
        group = _group(server, csv)
        p = server.client()
        solution = p.create_solution(
            name=_name("sol"), datasetGroupArn=group["group"], recipeArn=f"arn:aws:personalize:::recipe/{recipe}"
        )["solutionArn"]
        t0 = time.perf_counter()
        version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        _wait_terminal(p.describe_solution_version, "solutionVersion", solutionVersionArn=version)
        reference = time.perf_counter() - t0
        version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        while not (children := processes.job_children(server.proc.pid)):
            time.sleep(0.01)
        time.sleep(1.0)  # let the child get into its training
        killed = _kill(server)
        while any(processes.alive(c) for c in children):
            time.sleep(0.005)
        orphaned = time.perf_counter() - killed
        server, started = _restart(root, server)
        p = server.client()
        done = _wait_terminal(p.describe_solution_version, "solutionVersion", solutionVersionArn=version)
        finished = time.perf_counter()
        scratch = [d for d in (server.data_dir / "objects" / "models").iterdir() if d.name.startswith(".")]
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"Training {recipe} on ml-latest-small (POC interactions), SIGKILL while the training child runs:")
    print(
        f"  uninterrupted training: {reference:.1f}s; the training child outlived the killed server by {orphaned:.3f}s"
    )
    print(
        f"  restart -> every job terminal: {finished - started:.1f}s (kill -> terminal {finished - killed:.1f}s); "
        f"version {done['status']}; scratch directories left: {len(scratch)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--import-copies", type=int, default=25, help="POC interactions repeated in the import CSV")
    parser.add_argument("--recipe", default="aws-user-personalization")
    parser.add_argument("--only", choices=("events", "import", "training"), help="run one scenario")
    args = parser.parse_args()
    if args.only in (None, "events"):
        put_events(args.clients, args.seconds)
    if args.only in (None, "import"):
        import_job(args.import_copies)
    if args.only in (None, "training"):
        training(args.recipe)


if __name__ == "__main__":
    main()
