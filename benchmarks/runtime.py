"""Runtime latency and throughput over HTTP, beside the in-process cost and two bare-endpoint floors.

Starts a server, imports the POC data, trains user-personalization and
personalized-ranking, deploys campaigns and filters, then drives the runtime API
from separate load-generator processes on loopback with keep-alive clients. Beside it, with
the same worker count and the same load generator, run two floors (``floor_app.py``, bare
Starlette + uvicorn endpoints that parse the body and answer the top 25 as JSON):

- the dense floor scores a dense 9,742 x 64 matrix (issue 14's bar);
- the model floor scores with the trained user-personalization model the campaign serves
  (its ``best_items``, else ``score_user``, for the user's training history).

Every request kind (GetRecommendations plain, filtered and with metadata, GetPersonalizedRanking,
PutEvents) prints its throughput as a ratio of each floor's (``/floor`` and ``/model``), and its
latency under a paced load of ``--rate`` requests a second (issue 14: GetRecommendations at
>= 0.8x the dense floor with the score cache off and 2 workers; p99 <= 5 ms at 1,000 req/s).
The ratio to the model floor is the server's own overhead (SigV4, validation, live-history
reads, filters, result shaping) beyond what its model costs. Each closed-loop row also prints the
CPU the server (or floor) spent per request, all its processes counted from ``/proc``, and the
floors' CPU per request over it: the ratios a server alone on its cores would reach. On a small
machine the load generator shares the cores, and those ratios move far less from run to run than
the throughput ones.

    python benchmarks/runtime.py [--workers 2] [--clients 4] [--seconds 8] [--rate 1000] [--warm] [--large]

``--large`` adds a 62k-item synthetic catalogue (the MovieLens-25M item count). The tables run
with the score cache off (every request runs the model: the cold path); ``--warm`` prints them
again with it on (the benchmark cycles ``--users`` users, so after the first round they hit it).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    drive,
    floor,
    load_poc_group,
    signed,
    start_floor,
    start_server,
    train_and_deploy,
    wait,
    warm,
)

from openpersonalize.api.runtime_routes import runtime_routes  # noqa: E402
from openpersonalize.blas import single_threaded_blas  # noqa: E402
from openpersonalize.control.base import Control, Settings  # noqa: E402
from openpersonalize.control.resource_lookup import StoredResourceLookup  # noqa: E402
from openpersonalize.data.synthetic import write_interactions_csv  # noqa: E402
from openpersonalize.runtime.service import RuntimeService  # noqa: E402
from openpersonalize.store.events import EventStore  # noqa: E402
from openpersonalize.store.metadata import MetadataStore  # noqa: E402


def runtime_service(server, cache_mb: int = 0) -> RuntimeService:
    """An in-process RuntimeService over the benchmark server's data (the floor's and the catalogue's)."""
    store = MetadataStore(f"sqlite:///{server.data_dir / 'metadata.db'}")
    control = Control(Settings(data_dir=server.data_dir), store, EventStore(store))
    return RuntimeService(StoredResourceLookup(control), control.events, score_cache_bytes=cache_mb << 20)


def scenarios(server, group: str, up: str, rank: str, users: list[str], items: list[str]) -> list:
    p = server.client()
    genre = p.create_filter(
        name=f"bench-genre-{group[-6:]}",
        datasetGroupArn=group,
        filterExpression='INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")',
    )["filterArn"]
    unwatched = p.create_filter(
        name=f"bench-unwatched-{group[-6:]}",
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
    )["filterArn"]
    for arn in (genre, unwatched):
        wait(p.describe_filter, "filter", filterArn=arn)
    rng = random.Random(0)
    out = [
        ("GetRecommendations", "/recommendations", [{"campaignArn": up, "userId": u} for u in users]),
        (
            "GetRecommendations + metadata filter",
            "/recommendations",
            [{"campaignArn": up, "userId": u, "filterArn": genre} for u in users],
        ),
        (
            "GetRecommendations + interaction filter",
            "/recommendations",
            [{"campaignArn": up, "userId": u, "filterArn": unwatched} for u in users],
        ),
        (
            "GetRecommendations + metadataColumns",
            "/recommendations",
            [{"campaignArn": up, "userId": u, "metadataColumns": {"ITEMS": ["GENRE", "YEAR"]}} for u in users],
        ),
    ]
    if rank:
        for n in (25, 500):
            bodies = [{"campaignArn": rank, "userId": u, "inputList": rng.sample(items, n)} for u in users]
            out.append((f"GetPersonalizedRanking ({n} items)", "/personalize-ranking", bodies))
    # Last: the events it records join the users' histories (and what the filters above see).
    tracker = p.create_event_tracker(name=f"bench-events-{group[-6:]}", datasetGroupArn=group)
    wait(p.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    events = [
        {
            "trackingId": tracker["trackingId"],
            "userId": u,
            "sessionId": f"bench-{u}",
            "eventList": [{"eventType": "watch", "itemId": rng.choice(items), "sentAt": 1_700_000_000 + n}],
        }
        for n, u in enumerate(users)
    ]
    out.append(("PutEvents (1 event)", "/events", events))
    return out


@dataclass(frozen=True)
class Floor:
    """A bare Starlette endpoint of ``floor_app.py`` (one route of its server), measured beside every table."""

    port: int
    pid: int
    path: str
    name: str

    def measure(self, bodies: list[dict], args) -> tuple[dict, dict]:
        """Closed-loop throughput (and CPU per request) and paced latency, as for the server's requests."""
        requests = [(self.path, orjson.dumps(b), {"Content-Type": "application/json"}) for b in bodies]
        warm(self.port, requests, args.clients)
        http = drive(self.port, requests, args.clients, args.seconds, server_pid=self.pid)
        paced = drive(self.port, requests, args.paced_clients, args.seconds, rate=args.rate)
        return http, paced


def row(name: str, proc: str, http: dict, paced: dict, floors: tuple[dict, dict]) -> str:
    """One table line: latencies, throughput and its ratios to the dense and the model floor's, the server's
    CPU per request and the floors' over it (the throughput ratios a CPU-bound server would reach)."""
    dense, model = floors
    return (
        f"{name:42} {proc} {http['p50_ms']:7.2f}ms {http['p99_ms']:7.2f}ms {http['rps']:9.0f} "
        f"{http['rps'] / dense['rps']:8.2f}x {http['rps'] / model['rps']:8.2f}x {http['cpu_us']:7.0f}us "
        f"{dense['cpu_us'] / http['cpu_us']:8.2f}x {model['cpu_us'] / http['cpu_us']:8.2f}x "
        f"{paced['p50_ms']:7.2f}ms {paced['p99_ms']:7.2f}ms"
    )


def run(server, label: str, cases: list, cache_mb: int, args, floors: tuple[Floor, Floor]) -> None:
    """Print one table: the two floor endpoints, then every case in-process and over HTTP from separate client
    processes: closed-loop throughput (and its ratios to the floors'), and p50/p99 at ``--rate`` req/s paced."""
    service = runtime_service(server, cache_mb)
    routes = runtime_routes(service)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{label}; load average {load} (other work on the machine skews the ratios)")
    heads = ["proc p50", "proc p99", "HTTP p50", "HTTP p99", "req/s", "/floor", "/model"]
    heads += ["CPU/req", "cpu/floor", "cpu/model", "paced p50", "paced p99"]
    print(f"{'request':42} " + " ".join(f"{h:>9}" for h in heads))
    measured = [(floor.name, *floor.measure(cases[0][2], args)) for floor in floors]
    floor_http = (measured[0][1], measured[1][1])
    for name, http, paced in measured:
        print(row(name, f"{'':>9} {'':>9}", http, paced, floor_http), flush=True)
    in_process = {"/recommendations": "GetRecommendations", "/personalize-ranking": "GetPersonalizedRanking"}
    for name, path, bodies in cases:
        proc = f"{'':>9} {'':>9}"  # PutEvents: no in-process column (its handler writes to the store)
        if path in in_process:
            handler = routes[in_process[path]]
            it = iter(range(10**9))
            bare = floor(lambda bodies=bodies, h=handler, it=it: h("us-east-1", bodies[next(it) % len(bodies)]))
            proc = f"{bare['p50_ms']:7.2f}ms {bare['p99_ms']:7.2f}ms"
        requests = [(path, *signed(server.url, path, b)) for b in bodies]
        warm(server.port, requests, args.clients)
        http = drive(server.port, requests, args.clients, args.seconds, server_pid=server.proc.pid)
        paced = drive(server.port, requests, args.paced_clients, args.seconds, rate=args.rate)
        print(row(name, proc, http, paced, floor_http), flush=True)


def catalogue(server, group: str, up: str, rank: str, args) -> tuple[str, list, Path]:
    """The table's description, its cases, and the directory of the user-personalization model it serves."""
    service = runtime_service(server)
    campaign = service.resources.campaign(up)
    model = service.load_model(campaign.version_arn)
    model_dir = service.resources.local_copy(service.resources.version(campaign.version_arn).model_key)
    users = [str(u) for u in model.user_ids[: args.users].tolist()]
    items = [str(i) for i in model.item_ids.tolist()]
    about = f"{len(items):,} items, {len(model.user_ids):,} users, {len(users)} users cycled"
    return about, scenarios(server, group, up, rank, users, items), model_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--cache-mb", type=int, default=128, help="--score-cache-mb of the warm-cache server")
    parser.add_argument("--large", action="store_true", help="also a 62k-item synthetic catalogue")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced load for the latency columns (req/s)")
    parser.add_argument("--paced-clients", type=int, default=8)
    parser.add_argument("--warm", action="store_true", help="also the tables with the score cache on")
    args = parser.parse_args()
    single_threaded_blas()  # as the server does, so the floor measures the same arithmetic
    cold = ("--score-cache-mb", "0")
    server = start_server(workers=args.workers, extra_args=cold)
    floor_proc = None
    try:
        g = load_poc_group(server)
        up = train_and_deploy(server, g["group"], "aws-user-personalization")
        rank = train_and_deploy(server, g["group"], "aws-personalized-ranking")
        print(f"trained user-personalization in {up['train_seconds']:.1f}s, ranking in {rank['train_seconds']:.1f}s")
        tables = [
            ("ml-latest-small", up["campaign"], *catalogue(server, g["group"], up["campaign"], rank["campaign"], args))
        ]
        if args.large:
            csv = server.work / "synthetic.csv"
            write_interactions_csv(csv, n_users=20_000, n_items=62_423, n_rows=2_000_000, seed=1)
            g2 = load_poc_group(server, interactions_csv=csv)
            up2 = train_and_deploy(server, g2["group"], "aws-user-personalization")
            print(f"trained 62k-item user-personalization in {up2['train_seconds']:.1f}s")
            large = catalogue(server, g2["group"], up2["campaign"], "", args)
            tables.append(("synthetic 62k-item catalogue", up2["campaign"], *large))
        floor_proc, floor_port = start_floor(args.workers, {campaign: path for _, campaign, _, _, path in tables})
        floors = (
            Floor(floor_port, floor_proc.pid, "/recommendations", "floor: bare Starlette, 9,742 x 64 top 25"),
            Floor(floor_port, floor_proc.pid, "/model-recommendations", "model floor: bare Starlette, the model"),
        )
        print(
            f"server and floor workers={args.workers}, load clients={args.clients} (own processes), "
            f"paced: {args.paced_clients} clients at {args.rate:.0f} req/s in all, {args.seconds:.0f}s each\n"
            "/floor: throughput over the dense floor's (body parsed, a dense 9,742 x 64 matrix scored, top 25 "
            "as JSON); /model: over the model floor's (the same bare endpoint scoring with the campaign's own "
            "user-personalization model: best_items, else score_user, of the user's training history). The "
            "first is the whole cost of the server; the second its cost beyond its model (SigV4, validation, "
            "live history, filters, result shaping). CPU/req: the server's CPU per closed-loop request (all its "
            "processes, from /proc); cpu/floor, cpu/model: the floor's CPU per request over it, the ratio a "
            "server alone on its cores would reach, unmoved by the load generator's share of this machine"
        )
        for name, _, about, cases, _ in tables:
            run(server, f"{name} ({about}); score cache off: every request scores", cases, 0, args, floors)
        if args.warm:
            server.stop()
            warm = ("--score-cache-mb", str(args.cache_mb))
            server = start_server(workers=args.workers, root=server.data_dir.parent, extra_args=warm)
            for name, _, about, cases, _ in tables:
                label = f"{name} ({about}); score cache {args.cache_mb} MB: users repeat"
                run(server, label, cases, args.cache_mb, args, floors)
    finally:
        server.stop()
        if floor_proc is not None:
            floor_proc.terminate()
            floor_proc.wait(20)


if __name__ == "__main__":
    main()
