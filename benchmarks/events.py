"""PutEvents throughput over HTTP: sustained durable events/s on loopback.

Starts a server (SQLite by default, synchronous=FULL: every 200 is committed), creates a
dataset group, an INTERACTIONS dataset and an event tracker, then drives PutEvents with
10 events per call from separate keep-alive client processes for a fixed duration, and
checks afterwards that every acknowledged call's events are in the database.

    python benchmarks/events.py [--clients 8] [--seconds 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import drive, signed, start_server  # noqa: E402

from openpersonalize.data import movielens  # noqa: E402
from openpersonalize.store.events import EventStore  # noqa: E402
from openpersonalize.store.metadata import MetadataStore  # noqa: E402

EVENTS_PER_CALL = 10


def requests(url: str, tracking_id: str, n: int = 2000) -> list[tuple[str, bytes, dict]]:
    out = []
    for call in range(n):
        body = {
            "trackingId": tracking_id,
            "userId": f"user-{call % 500}",
            "sessionId": f"session-{call % 500}",
            "eventList": [
                {"eventType": "click", "itemId": f"item-{(call * 7 + k) % 5000}", "sentAt": 1_700_000_000 + call}
                for k in range(EVENTS_PER_CALL)
            ],
        }
        data, headers = signed(url, "/events", body)
        out.append(("/events", data, headers))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    server = start_server(workers=args.workers)
    try:
        p = server.client()
        group = p.create_dataset_group(name=f"events-{uuid.uuid4().hex[:6]}")["datasetGroupArn"]
        schema = p.create_schema(name=f"s-{uuid.uuid4().hex[:6]}", schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
        p.create_dataset(name="ints", datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"])
        tracking_id = p.create_event_tracker(name="bench", datasetGroupArn=group)["trackingId"]
        reqs = requests(server.url, tracking_id)
        result = drive(server.port, reqs, args.clients, args.seconds)
        store = MetadataStore(f"sqlite:///{server.data_dir / 'metadata.db'}")
        stored = EventStore(store).max_event_id(group)
        store.engine.dispose()
    finally:
        server.stop()
    events_per_s = result["rps"] * EVENTS_PER_CALL
    print(
        f"PutEvents x{EVENTS_PER_CALL} events, {args.clients} clients, {args.workers} server worker(s), "
        f"SQLite synchronous=FULL, {args.seconds:.0f}s measured"
    )
    print(
        f"  {result['rps']:.0f} calls/s = {events_per_s:,.0f} events/s sustained; "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; {stored:,} events stored in total"
    )


if __name__ == "__main__":
    main()
