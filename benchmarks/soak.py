"""A mixed soak at a fixed rate: GetRecommendations, PutEvents and Describe calls over boto3 for minutes.

Starts a server (score cache off, so its memory is not the bounded cache's), imports the POC data,
trains and deploys user-personalization, then paces three kinds of calls from their own threads at a
fixed rate each. Prints, per kind: calls, errors, p50/p99; and the server's memory (PSS of its process
tree) after warm-up and at the end.

    python benchmarks/soak.py [--seconds 600] [--rate-recommend 40] [--rate-events 15] [--rate-describe 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import load_poc_group, start_server, train_and_deploy, tree_pss_mb, wait  # noqa: E402


@dataclass
class Tally:
    """Latencies and failures of one kind of call."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    late: int = 0  # calls started after their slot had passed (the client could not keep the rate)

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def paced(call: Callable[[int], None], rate: float, seconds: float, tally: Tally) -> None:
    """Call ``call(i)`` at ``rate`` per second for ``seconds`` (open schedule: a slow call never shifts the plan)."""
    start = time.perf_counter()
    i = 0
    while (slot := start + i / rate) < start + seconds:
        delay = slot - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.05:
            tally.late += 1
        t0 = time.perf_counter()
        try:
            call(i)
        except Exception as exc:  # every failure is counted and its kind shown, none stops the soak
            tally.errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
        tally.latencies.append(time.perf_counter() - t0)
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=20)
    parser.add_argument("--rate-recommend", type=float, default=40)
    parser.add_argument("--rate-events", type=float, default=15)
    parser.add_argument("--rate-describe", type=float, default=5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    server = start_server(workers=args.workers, extra_args=("--score-cache-mb", "0"))
    try:
        p = server.client()
        group = load_poc_group(server)
        up = train_and_deploy(server, group["group"], "aws-user-personalization")
        tracker = p.create_event_tracker(name=f"soak-{uuid.uuid4().hex[:6]}", datasetGroupArn=group["group"])
        wait(p.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
        runtime, events = server.client("personalize-runtime"), server.client("personalize-events")
        users = [str(u) for u in range(1, 611)]
        items = [str(i) for i in (1, 2, 3, 32, 47, 50, 110, 260, 296, 318, 356, 480, 527, 589, 593, 1196, 2571)]
        rng = random.Random(0)

        def recommend(i: int) -> None:
            runtime.get_recommendations(campaignArn=up["campaign"], userId=users[i % len(users)], numResults=25)

        def put_event(i: int) -> None:
            events.put_events(
                trackingId=tracker["trackingId"],
                userId=users[rng.randrange(len(users))],
                sessionId=f"soak-{i % 97}",
                eventList=[{"eventType": "watch", "itemId": rng.choice(items), "sentAt": time.time()}],
            )

        def describe(i: int) -> None:
            if i % 2:
                p.describe_campaign(campaignArn=up["campaign"])
            else:
                p.list_solutions(datasetGroupArn=group["group"])

        kinds = {"GetRecommendations": (recommend, args.rate_recommend), "PutEvents": (put_event, args.rate_events)}
        kinds["Describe/List"] = (describe, args.rate_describe)
        for call, _ in kinds.values():  # warm the model and the connections before memory is read
            for i in range(int(args.warmup)):
                call(i)
        start_mem = tree_pss_mb(server.proc.pid)
        tallies = {name: Tally() for name in kinds}
        threads = [
            threading.Thread(target=paced, args=(call, rate, args.seconds, tallies[name]))
            for name, (call, rate) in kinds.items()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        end_mem = tree_pss_mb(server.proc.pid)
        healthy = p.describe_campaign(campaignArn=up["campaign"])["campaign"]["status"] == "ACTIVE"

        print(f"\nsoak: {args.seconds:.0f} s, server --workers {args.workers}, score cache off")
        print(f"{'kind':20} {'rate/s':>7} {'calls':>7} {'errors':>7} {'late':>6} {'p50 ms':>8} {'p99 ms':>8}")
        for name, (_, rate) in kinds.items():
            t = tallies[name]
            print(
                f"{name:20} {rate:7.0f} {len(t.latencies):7d} {len(t.errors):7d} {t.late:6d} "
                f"{t.p(0.5):8.2f} {t.p(0.99):8.2f}"
            )
            for err in sorted(set(t.errors))[:5]:
                print(f"    {err}")
        print(f"server PSS (with its children): {start_mem:.0f} MB after warm-up, {end_mem:.0f} MB at the end")
        print(f"server healthy after the soak: {healthy}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
