"""Batch inference throughput (users/s) end to end through a real server.

Imports the POC data (ml-latest-small) and a synthetic MovieLens-25M-shaped group
(162k users, 62k items; ``--rows`` interactions), trains aws-user-personalization,
writes one ``{"userId": ...}`` line per user and times CreateBatchInferenceJob from
creation to ACTIVE; also reports the CPU time the server and its batch worker processes spent
(robust to other load on a shared machine), the server's peak resident memory and the peak
proportional memory (PSS) of the server with its workers.

    python benchmarks/batch.py [--rows 5000000] [--users 162541] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import load_poc_group, start_server, tree_pss_mb, wait  # noqa: E402

from openpersonalize.data.synthetic import ML25M_ITEMS, ML25M_USERS, write_interactions_csv  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/bench"


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` plus its finished, waited-for children (the batch workers once a job is done)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def train(server, group: str, params: dict[str, str]) -> tuple[str, float]:
    p = server.client()
    sol = p.create_solution(
        name=f"bench-up-{int(time.time() * 1000) % 10**8}",
        datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        solutionConfig={"algorithmHyperParameters": params},
    )["solutionArn"]
    t0 = time.perf_counter()
    version = p.create_solution_version(solutionArn=sol)["solutionVersionArn"]
    wait(p.describe_solution_version, "solutionVersion", solutionVersionArn=version)
    return version, time.perf_counter() - t0


def batch(server, version: str, users: list[str], label: str, k: int = 25) -> dict:
    p = server.client()
    src = server.work / f"{label}.json"
    with src.open("w") as handle:
        for u in users:
            handle.write(json.dumps({"userId": u}) + "\n")
    out_dir = server.work / f"{label}-out"
    pid = server.proc.pid
    base = rss_mb(pid)
    peak = {"rss": base, "pss": tree_pss_mb(pid)}
    stop = threading.Event()

    def sample() -> None:  # once a second: reading every process's smaps costs a sizeable share of a core
        while not stop.wait(1.0):
            peak["rss"] = max(peak["rss"], rss_mb(pid))
            peak["pss"] = max(peak["pss"], tree_pss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    arn = p.create_batch_inference_job(
        jobName=f"{label}-{int(time.time())}",
        solutionVersionArn=version,
        roleArn=ROLE,
        numResults=k,
        jobInput={"s3DataSource": {"path": str(src)}},
        jobOutput={"s3DataDestination": {"path": str(out_dir)}},
    )["batchInferenceJobArn"]
    wait(p.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=arn)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    stop.set()
    sampler.join()
    out = out_dir / f"{label}.json.out"
    with out.open() as handle:
        lines = sum(1 for _ in handle)
    assert lines == len(users), (lines, len(users))
    return {
        "users": len(users),
        "seconds": seconds,
        "users_per_s": len(users) / seconds,
        "cpu_s": cpu,
        "rss_before_mb": base,
        "rss_peak_mb": peak["rss"],
        "tree_pss_peak_mb": peak["pss"],
        "output_mb": out.stat().st_size / 2**20,
    }


def report(label: str, r: dict, train_s: float) -> None:
    print(
        f"{label:<28} {r['users']:>8} users  {r['seconds']:7.1f} s  {r['users_per_s']:8.0f} users/s  "
        f"CPU {r['cpu_s']:.0f} s  "
        f"server RSS {r['rss_before_mb']:.0f} -> peak {r['rss_peak_mb']:.0f} MB, with workers peak PSS "
        f"{r['tree_pss_peak_mb']:.0f} MB  output {r['output_mb']:.0f} MB  "
        f"(training {train_s:.0f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="synthetic interactions (ML-25M: 25,000,095)")
    parser.add_argument("--users", type=int, default=ML25M_USERS, help="synthetic users")
    parser.add_argument("--items", type=int, default=ML25M_ITEMS, help="synthetic items")
    parser.add_argument("--ease-max-items", default="5000", help="ease_max_items for the large group")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    server = start_server()
    try:
        poc = load_poc_group(server)
        version, train_s = train(server, poc["group"], {})
        users = [str(u) for u in range(1, 611)]
        report("ml-latest-small", batch(server, version, users, "small"), train_s)
        if args.skip_large:
            return
        csv = server.work / "synthetic.csv"
        t0 = time.perf_counter()
        rows = write_interactions_csv(csv, n_users=args.users, n_items=args.items, n_rows=args.rows, seed=1)
        print(f"synthetic: {rows} rows, {args.users} users, {args.items} items ({time.perf_counter() - t0:.0f} s)")
        group = load_poc_group(server, csv)
        version, train_s = train(server, group["group"], {"ease_max_items": args.ease_max_items})
        users = [str(u) for u in range(1, args.users + 1)]
        report(
            f"synthetic {args.users // 1000}k x {args.items // 1000}k", batch(server, version, users, "large"), train_s
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
