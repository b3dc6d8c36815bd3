"""Import, training and batch inference with ``--executor local`` and ``--executor ray``, side by side.

On a synthetic MovieLens-25M-shaped set (``--interactions`` rows, ``--users`` users, ``--items``
items; the defaults are ML-25M's 25M / 162,541 / 62,423), one fresh server per executor imports
the CSV, trains aws-user-personalization and answers a batch inference job with one line per
user. For each stage: wall time, CPU time (robust to other load on a shared machine: the server
with its reaped children, plus every process of the Ray cluster) and the peak proportional memory
(PSS) of the processes doing the work, sampled every second: the server and its children (local),
the server plus every process of the Ray cluster above its idle level (ray: the Ray workers and
the children they run the steps in). Last, the ratios ray/local per stage (target for time: at
most 1.25 on one machine). Once, the object-store traffic of a node fetching the trained model
it has not seen (published to moto's S3 server, fetched into an empty cache).

The Ray cluster is local: a head and a second node of one CPU each (``tests/ray_cluster.py``, as
CI starts it), so both executors have this machine's two cores.

    python benchmarks/scale.py [--interactions 25000000] [--users 162541] [--items 62423]
    python benchmarks/scale.py --interactions 25000000 --executor local --results r.json  # then:
    python benchmarks/scale.py --interactions 25000000 --executor ray --results r.json    # prints the ratios
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))

from _harness import cpu_seconds, load_poc_group, start_server, tree_pss_mb, wait  # noqa: E402
from ray_cluster import RayCluster, ray_cluster  # noqa: E402

from openpersonalize.data.synthetic import ML25M_ITEMS, ML25M_ROWS, ML25M_USERS, write_interactions_csv  # noqa: E402
from openpersonalize.store.objects import ObjectStore, StoreLocation  # noqa: E402
from server_harness import free_port  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/bench"
STAGES = ("import", "training", "batch")
SETTLE_SECONDS = 30  # a new Ray cluster's daemons and prestarted workers spend CPU seconds starting up


def _cluster_pids(cluster: RayCluster | None) -> list[int]:
    """Every process of a Ray cluster: those in its ``ray start`` process groups (daemons) and their
    descendants (Ray workers run in process groups of their own, training steps in their children)."""
    if cluster is None:
        return []
    children: dict[int, list[int]] = {}
    todo = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        if int(fields[2]) in cluster.groups:
            todo.append(pid)
    found = set()
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return sorted(found)


def _cluster_pss_mb(cluster: RayCluster | None) -> float:
    return sum(_pss_mb(pid) for pid in _cluster_pids(cluster))


def _pss_mb(pid: int) -> float:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0.0
    return sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:")) / 1024


@contextmanager
def measured(server_pid: int, cluster: RayCluster | None, out: dict[str, float]) -> Iterator[None]:
    """Time the block and sample its peak PSS (server tree + cluster above its level at the start)."""
    cluster_base = _cluster_pss_mb(cluster)

    def cpu() -> float:
        return cpu_seconds([server_pid, *_cluster_pids(cluster)])

    cpu0 = cpu()

    def total() -> float:
        return tree_pss_mb(server_pid) + max(0.0, _cluster_pss_mb(cluster) - cluster_base)

    peak = [total()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            peak[0] = max(peak[0], total())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        out["seconds"] = time.perf_counter() - t0
        out["cpu_s"] = cpu() - cpu0
        stop.set()
        sampler.join()
        out["peak_mb"] = peak[0]


def model_fetch(model: Path) -> dict[str, float]:
    """A node's object-store traffic for a model it has not seen: published to S3 (moto's server), then
    fetched by a fresh node's store into its empty cache; files, bytes and seconds of the fetch."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {name: os.environ.get(name) for name in credentials}
    os.environ.update(credentials)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="scale")
        location = StoreLocation("s3://scale/openpersonalize", endpoint)
        with tempfile.TemporaryDirectory(prefix="op-scale-fetch-") as tmp:
            writer = ObjectStore(location, Path(tmp) / "writer-cache")
            copy = shutil.copytree(model, Path(tmp) / "model")
            key = writer.publish_model(copy, "arn:aws:personalize:us-east-1:000000000000:solution/scale/v1", "a1")
            reader = ObjectStore(location, Path(tmp) / "node-cache")
            t0 = time.perf_counter()
            fetched = reader.local_path(key)
            seconds = time.perf_counter() - t0
            files = [f for f in fetched.rglob("*") if f.is_file()]
            return {"files": len(files), "mb": sum(f.stat().st_size for f in files) / 2**20, "seconds": seconds}
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        s3.stop()


def run_stages(
    executor: str, csv: Path, users: int, cluster: RayCluster | None, ease_items: str, import_only: bool = False
) -> dict:
    """One fresh server on ``executor``: import, train, batch (or only import); each stage's seconds and peak memory."""
    if cluster is not None:
        os.environ["RAY_ADDRESS"] = cluster.address
    server = start_server(extra_args=("--executor", executor, "--allow-path", str(csv.parent)))
    results: dict[str, dict[str, float]] = {stage: {} for stage in STAGES}
    try:
        p = server.client()
        with measured(server.proc.pid, cluster, results["import"]):
            group = load_poc_group(server, csv)["group"]
        if import_only:
            return results
        with measured(server.proc.pid, cluster, results["training"]):
            solution = p.create_solution(
                name=f"scale-{executor}-{int(time.time())}",
                datasetGroupArn=group,
                recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
                solutionConfig={"algorithmHyperParameters": {"ease_max_items": ease_items}},
            )["solutionArn"]
            version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
            wait(p.describe_solution_version, "solutionVersion", solutionVersionArn=version)
        if cluster is None:
            model = next(server.data_dir.glob("objects/models/*/*/manifest.json")).parent
            results["fetch"] = model_fetch(model)
        src = server.work / "users.json"
        src.write_text("".join(json.dumps({"userId": str(u)}) + "\n" for u in range(1, users + 1)))
        with measured(server.proc.pid, cluster, results["batch"]):
            job = p.create_batch_inference_job(
                jobName=f"scale-{executor}-{int(time.time())}",
                solutionVersionArn=version,
                roleArn=ROLE,
                jobInput={"s3DataSource": {"path": str(src)}},
                jobOutput={"s3DataDestination": {"path": str(server.work / "out")}},
            )["batchInferenceJobArn"]
            wait(p.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=job)
        with (server.work / "out" / "users.json.out").open() as handle:
            assert sum(1 for _ in handle) == users
    finally:
        server.stop()
        os.environ.pop("RAY_ADDRESS", None)
    return results


def _report(label: str, results: dict) -> None:
    parts = [
        f"{s} {results[s]['seconds']:6.1f} s (CPU {results[s]['cpu_s']:6.1f} s) {results[s]['peak_mb']:5.0f} MB"
        for s in STAGES
        if results[s]
    ]
    print(f"{label:<6} " + " | ".join(parts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=ML25M_ROWS, help="synthetic interactions")
    parser.add_argument("--users", type=int, default=ML25M_USERS, help="synthetic users (batch: one line each)")
    parser.add_argument("--items", type=int, default=ML25M_ITEMS, help="synthetic items")
    parser.add_argument("--ease-max-items", default="5000", help="aws-user-personalization's ease_max_items")
    parser.add_argument("--work", type=Path, default=Path("/tmp/op-scale"), help="where the CSV is written")
    parser.add_argument("--import-only", action="store_true", help="measure the import stage alone")
    parser.add_argument(
        "--executor", choices=("local", "ray", "both"), default="both", help="run one executor's half, or both"
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="JSON file each half adds its figures to; the ratios are printed once it holds both halves",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    csv = args.work / f"synthetic-{args.interactions}-{args.users}-{args.items}.csv"
    t0 = time.perf_counter()
    if not csv.exists():  # written under another name first: an interrupted run leaves no truncated CSV behind
        partial = csv.with_suffix(".partial")
        write_interactions_csv(partial, n_users=args.users, n_items=args.items, n_rows=args.interactions, seed=1)
        partial.rename(csv)
    print(
        f"synthetic: {args.interactions} interactions, {args.users} users, {args.items} items, "
        f"{csv.stat().st_size / 2**20:.0f} MB CSV ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    results = json.loads(args.results.read_text()) if args.results and args.results.exists() else {}
    if args.executor in ("local", "both"):
        results["local"] = run_stages("local", csv, args.users, None, args.ease_max_items, args.import_only)
        _report("local", results["local"])
        if "fetch" in results["local"]:
            fetch = results["local"]["fetch"]
            print(
                f"model fetch by a new node from S3 (moto): {fetch['files']} files, {fetch['mb']:.0f} MB "
                f"in {fetch['seconds']:.1f} s",
                flush=True,
            )
        _save(args.results, results)
    if args.executor in ("ray", "both"):
        cluster = ray_cluster(nodes=2)
        time.sleep(SETTLE_SECONDS)
        try:
            results["ray"] = run_stages("ray", csv, args.users, cluster, args.ease_max_items, args.import_only)
        finally:
            cluster.stop()
        _report("ray", results["ray"])
        _save(args.results, results)
    if "local" in results and "ray" in results:
        local, on_ray = results["local"], results["ray"]
        for key, what in (("seconds", "time"), ("cpu_s", "CPU time"), ("peak_mb", "peak memory")):
            ratios = [f"{s} {on_ray[s][key] / max(local[s][key], 1e-9):.2f}x" for s in STAGES if local[s]]
            print(f"ray/local {what}: " + ", ".join(ratios), flush=True)


def _save(path: Path | None, results: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
