"""Server CPU per GetRecommendations of two revisions side by side: the A/B one closed-loop run cannot resolve.

On a small shared machine one closed-loop run of ``runtime.py`` moves 10-20% from run to run, more
than most changes to the hot path do. This starts a server of each revision (revision A checked out
in a git worktree; B is the working tree unless ``--b`` names another), each with its own POC group
and user-personalization campaign (score cache off), then alternates closed-loop rounds between them
(A B, B A, A B, ...) and prints, per round and as medians, each server's CPU per request (read from
/proc over all of its processes: Linux only) and its throughput, and B's ratios to A.

    python benchmarks/runtime_ab.py --a REV [--b REV] [--rounds 8] [--seconds 5] [--clients 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    ROOT,
    BenchServer,
    drive,
    load_poc_group,
    signed,
    start_server,
    train_and_deploy,
    warm,
)


def checkout(rev: str, into: Path) -> Path:
    """``rev`` checked out (detached) in a worktree at ``into``."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(into), rev], check=True)
    return into


def requests(server: BenchServer, users: int) -> list[tuple[str, bytes, dict]]:
    """Signed GetRecommendations of the server's own campaign for ``users`` users, trained and deployed here."""
    group = load_poc_group(server)["group"]
    campaign = train_and_deploy(server, group, "aws-user-personalization")["campaign"]
    bodies = [{"campaignArn": campaign, "userId": str(u)} for u in range(1, users + 1)]
    return [("/recommendations", *signed(server.url, "/recommendations", b)) for b in bodies]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="the baseline revision")
    parser.add_argument("--b", help="the revision compared (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="op-ab-"))
    trees = {"A": checkout(args.a, scratch / "a"), "B": checkout(args.b, scratch / "b") if args.b else ROOT}
    servers: dict[str, BenchServer] = {}
    try:
        for name, tree in trees.items():
            os.environ["NUMBA_CACHE_DIR"] = str(scratch / f"numba-{name}")  # its own compiled kernels
            servers[name] = start_server(args.workers, scratch / f"run-{name}", ("--score-cache-mb", "0"), tree)
        reqs = {name: requests(server, args.users) for name, server in servers.items()}
        for name, server in servers.items():
            warm(server.port, reqs[name], args.clients)
        print(f"A = {args.a}, B = {args.b or 'working tree'}; {args.workers} worker(s), {args.clients} clients")
        results: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
        for r in range(args.rounds):
            for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
                server = servers[name]
                out = drive(server.port, reqs[name], args.clients, args.seconds, server_pid=server.proc.pid)
                results[name].append((out["cpu_us"], out["rps"]))
                cpu, rps = results[name][-1]
                print(f"round {r} {name}: {cpu:6.0f} us CPU/request {rps:7.0f} req/s", flush=True)
        med = {k: (statistics.median(c for c, _ in v), statistics.median(t for _, t in v)) for k, v in results.items()}
        for name, (cpu, rps) in med.items():
            print(f"{name} median: {cpu:6.0f} us CPU/request {rps:7.0f} req/s")
        print(f"B/A: CPU per request {med['B'][0] / med['A'][0]:.2f}x, throughput {med['B'][1] / med['A'][1]:.2f}x")
    finally:
        for server in servers.values():
            server.stop()
        for name in ("a", "b"):
            if (scratch / name).exists():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(scratch / name)])
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
