"""``openpersonalize demo``: the Personalize POC workflow (notebooks 01-06) end to end on MovieLens.

It starts an embedded server and plays a Personalize user with boto3: prepare and
import data, train three recipes, compare their metrics with what Personalize
reported, deploy campaigns and filters, show recommendations with titles, stream
clicks, re-rank, run a batch job, then delete everything (unless ``--keep``).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import embedded
from .data import movielens
from .server import CREDENTIALS_FILE, SECRET_ACCESS_KEY_ENV

RECIPE = "arn:aws:personalize:::recipe/"
ML25M_URL = "https://files.grouplens.org/datasets/movielens/ml-25m.zip"
# What Personalize reported for this exact workflow on ml-latest-small (notebook 03's output).
PERSONALIZE_REPORTED = {
    "aws-user-personalization": (0.0791, 0.2690, 0.2279, 0.2687, 0.3321, 0.0750, 0.0571, 0.0379),
    "aws-sims": (0.1861, 0.1669, 0.1889, 0.2234, 0.2895, 0.0824, 0.0588, 0.0418),
    "aws-personalized-ranking": (0.0038, 0.0537, 0.0578, 0.0707, 0.0956, 0.0189, 0.0132, 0.0113),
}
METRICS = (
    ("coverage", "coverage"),
    ("MRR@25", "mean_reciprocal_rank_at_25"),
    ("NDCG@5", "normalized_discounted_cumulative_gain_at_5"),
    ("NDCG@10", "normalized_discounted_cumulative_gain_at_10"),
    ("NDCG@25", "normalized_discounted_cumulative_gain_at_25"),
    ("P@5", "precision_at_5"),
    ("P@10", "precision_at_10"),
    ("P@25", "precision_at_25"),
)
TERMINATOR_2 = "589"


class DemoError(RuntimeError):
    """A demo step could not run (said plainly to the user)."""


def bundled_movielens(target: Path) -> Path:
    """Unpack the ml-latest-small copy shipped in the package (GroupLens licence in its README.txt) into
    ``target/ml-latest-small``, filling in any file that is missing or whose size is not the archive's (a folder
    someone made, an interrupted unpack). Each file is unpacked beside it and moved in whole, so that processes
    sharing ``target`` (the test suite's, the benchmarks') never read half a file."""
    out = target / "ml-latest-small"
    archive = resources.files("openpersonalize.datasets").joinpath("ml-latest-small.zip")
    with resources.as_file(archive) as path, zipfile.ZipFile(path) as zf:
        missing = [m for m in zf.infolist() if not m.is_dir() and not _unpacked(target / m.filename, m.file_size)]
        if missing:
            out.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=target))
            try:
                for member in missing:
                    Path(zf.extract(member, staging)).replace(target / member.filename)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return out


def _unpacked(path: Path, size: int) -> bool:
    """Whether ``path`` holds a whole unpacked file of ``size`` bytes."""
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def download_ml25m(target: Path) -> Path:
    """Fetch ml-25m from GroupLens (online only)."""
    out = target / "ml-25m"
    if (out / "ratings.csv").exists():
        return out
    zip_path = target / "ml-25m.zip"
    try:
        urllib.request.urlretrieve(ML25M_URL, zip_path)  # noqa: S310 - fixed https URL
    except OSError as exc:
        raise DemoError(
            f"--full needs ml-25m from GroupLens and this machine could not download it ({exc}). "
            "Download ml-25m.zip elsewhere, unzip it, and pass --dataset PATH/ml-25m."
        ) from None
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(target)
    return out


@dataclass
class Demo:
    """One run of the workflow; every step is timed for the final summary."""

    dataset: Path
    work: Path
    console: Console
    fast: bool = False
    keep: bool = False
    seed: int = 42
    timings: list[tuple[str, float]] = field(default_factory=list)
    created: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.titles = movielens.titles(self.dataset / "movies.csv")
        self.rng = random.Random(self.seed)
        self.suffix = uuid.uuid4().hex[:6]

    # -- plumbing ------------------------------------------------------------
    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.console.rule(f"[bold]{title}")
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.timings.append((title, elapsed))
        self.console.print(f"[dim]{title}: {elapsed:.1f}s[/]")

    def wait_all(self, what: str, arns: dict[str, str], describe: Callable[[str], dict]) -> None:
        """Poll Describe* calls with a progress bar until every resource is ACTIVE."""
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            tasks = {name: progress.add_task(f"{what} {name}", total=1) for name in arns}
            pending = dict(arns)
            while pending:
                for name, arn in list(pending.items()):
                    res = describe(arn)
                    if res["status"] == "ACTIVE":
                        progress.update(tasks[name], completed=1)
                        del pending[name]
                    elif res["status"] == "CREATE FAILED":
                        raise DemoError(f"{what} {name} failed: {res.get('failureReason')}")
                time.sleep(0.2)

    def title(self, item_id: str) -> str:
        return self.titles.get(item_id, item_id)

    def table(self, title: str, columns: dict[str, list[str]]) -> None:
        table = Table(title=title, show_lines=False)
        for name in columns:
            table.add_column(name, overflow="fold")
        for row in zip(*columns.values(), strict=False):
            table.add_row(*row)
        self.console.print(table)

    # -- the workflow ----------------------------------------------------------
    def run(self, server: embedded.EmbeddedServer) -> None:
        self.p = server.client("personalize")
        self.rt = server.client("personalize-runtime")
        self.ev = server.client("personalize-events")
        self.import_data()
        self.train()
        self.deploy()
        self.show_sims()
        self.show_users()
        self.show_shelves()
        self.show_real_time()
        self.show_ranking()
        self.batch()
        if not self.keep:
            self.clean_up()

    def import_data(self) -> None:
        with self.step("01-02 Prepare and import interactions and item metadata"):
            ints = movielens.prepare_interactions(self.dataset / "ratings.csv")
            items = movielens.prepare_items(self.dataset / "movies.csv")
            ints_csv = movielens.write_csv(ints, self.work / "interactions.csv")
            items_csv = movielens.write_csv(items, self.work / "item-meta.csv")
            self.console.print(
                f"{ints.num_rows:,} interactions (click = rating > 1, watch = rating > 3), "
                f"{items.num_rows:,} items with GENRE and YEAR"
            )
            group = self.p.create_dataset_group(name=f"personalize-poc-movielens-{self.suffix}")["datasetGroupArn"]
            self.created["group"] = group
            jobs = {}
            for kind, schema, path in (
                ("INTERACTIONS", movielens.INTERACTIONS_SCHEMA, ints_csv),
                ("ITEMS", movielens.ITEMS_SCHEMA, items_csv),
            ):
                schema_arn = self.p.create_schema(name=f"poc-{kind.lower()}-{self.suffix}", schema=json.dumps(schema))[
                    "schemaArn"
                ]
                self.created.setdefault("schemas", []).append(schema_arn)
                dataset = self.p.create_dataset(
                    name=f"poc-{kind.lower()}-{self.suffix}",
                    datasetType=kind,
                    datasetGroupArn=group,
                    schemaArn=schema_arn,
                )["datasetArn"]
                self.created.setdefault("datasets", {})[kind] = dataset
                jobs[kind] = self.p.create_dataset_import_job(
                    jobName=f"poc-import-{kind.lower()}-{self.suffix}",
                    datasetArn=dataset,
                    dataSource={"dataLocation": path.as_uri()},
                )["datasetImportJobArn"]
            self.wait_all(
                "import",
                jobs,
                lambda arn: self.p.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"],
            )

    def train(self) -> None:
        with self.step("03 Train user-personalization, SIMS and personalized-ranking"):
            versions, seconds = {}, {}
            for recipe in PERSONALIZE_REPORTED:
                solution = self.p.create_solution(
                    name=f"poc-{recipe}-{self.suffix}",
                    datasetGroupArn=self.created["group"],
                    recipeArn=RECIPE + recipe,
                )["solutionArn"]
                self.created.setdefault("solutions", []).append(solution)
                versions[recipe] = self.p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
            self.wait_all(
                "training",
                versions,
                lambda arn: self.p.describe_solution_version(solutionVersionArn=arn)["solutionVersion"],
            )
            self.versions = versions
            table = Table(title="Offline metrics: openpersonalize vs what Personalize reported (same workflow)")
            table.add_column("recipe")
            table.add_column("by")
            for label, _ in METRICS:
                table.add_column(label, justify="right")
            table.add_column("training", justify="right")
            for recipe, arn in versions.items():
                metrics = self.p.get_solution_metrics(solutionVersionArn=arn)["metrics"]
                hours = self.p.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["trainingHours"]
                seconds[recipe] = hours * 3600
                table.add_row(recipe, "ours", *[f"{metrics[k]:.4f}" for _, k in METRICS], f"{seconds[recipe]:.1f}s")
                table.add_row("", "Personalize", *[f"{v:.4f}" for v in PERSONALIZE_REPORTED[recipe]], "hours")
            self.console.print(table)

    def deploy(self) -> None:
        with self.step("04 Deploy campaigns and create filters"):
            campaigns = {}
            for recipe, arn in self.versions.items():
                campaigns[recipe] = self.p.create_campaign(
                    name=f"poc-{recipe}-{self.suffix}",
                    solutionVersionArn=arn,
                    minProvisionedTPS=1,
                    campaignConfig={"enableMetadataWithRecommendations": True},
                )["campaignArn"]
            self.wait_all("campaign", campaigns, lambda arn: self.p.describe_campaign(campaignArn=arn)["campaign"])
            self.campaigns = campaigns
            self.created["campaigns"] = list(campaigns.values())
            expressions = {
                "Comedy": 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")',
                "Horror": 'INCLUDE ItemID WHERE Items.GENRE IN ("Horror")',
                "1970s": "INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980",
                "watched": 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
                "unwatched": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
            }
            self.filters = {
                name: self.p.create_filter(
                    name=f"poc-{name}-{self.suffix}", datasetGroupArn=self.created["group"], filterExpression=expr
                )["filterArn"]
                for name, expr in expressions.items()
            }
            self.created["filters"] = list(self.filters.values())
            for name, expr in expressions.items():
                self.console.print(f"filter [bold]{name}[/]: {expr}")

    def recs(self, recipe: str, n: int = 10, **kwargs: Any) -> list[str]:
        items = self.rt.get_recommendations(campaignArn=self.campaigns[recipe], numResults=n, **kwargs)["itemList"]
        return [i["itemId"] for i in items]

    def show_sims(self) -> None:
        with self.step("05 SIMS: movies similar to a movie"):
            seeds = [TERMINATOR_2] + self.rng.sample(sorted(self.titles), 2 if self.fast else 5)
            for item in seeds:
                self.table(
                    f"Similar to {self.title(item)}",
                    {
                        "#": [str(i + 1) for i in range(10)],
                        "movie": [self.title(i) for i in self.recs("aws-sims", itemId=item)],
                    },
                )

    def show_users(self) -> None:
        with self.step("05 User-personalization: recommendations for 3 users"):
            self.users = [str(u) for u in self.rng.sample(range(1, 611), 3)]
            self.table(
                "Recommendations",
                {
                    f"user {u}": [self.title(i) for i in self.recs("aws-user-personalization", userId=u)]
                    for u in self.users
                },
            )

    def show_shelves(self) -> None:
        with self.step("05 Filters: genre and decade shelves, watched / unwatched"):
            user = self.users[0]
            self.table(
                f"Shelves for user {user}",
                {
                    name: [
                        self.title(i)
                        for i in self.recs("aws-user-personalization", userId=user, filterArn=self.filters[name])
                    ]
                    for name in ("Comedy", "Horror", "1970s")
                },
            )
            self.table(
                f"Watched / unwatched for user {user}",
                {
                    name: [
                        self.title(i)
                        for i in self.recs("aws-user-personalization", userId=user, filterArn=self.filters[name])
                    ]
                    for name in ("watched", "unwatched")
                },
            )

    def show_real_time(self) -> None:
        with self.step("05 Real time: recommendations change after 3 clicks (no retraining)"):
            tracker = self.p.create_event_tracker(
                name=f"MovieTracker-{self.suffix}", datasetGroupArn=self.created["group"]
            )
            self.created["tracker"] = tracker["eventTrackerArn"]
            self.wait_all(
                "event tracker",
                {"MovieTracker": tracker["eventTrackerArn"]},
                lambda arn: self.p.describe_event_tracker(eventTrackerArn=arn)["eventTracker"],
            )
            user, session = self.users[1], str(uuid.uuid1())
            columns = {"before": [self.title(i) for i in self.recs("aws-user-personalization", userId=user)]}
            for item in self.rng.sample(sorted(self.titles), 3):
                self.ev.put_events(
                    trackingId=tracker["trackingId"],
                    userId=user,
                    sessionId=session,
                    eventList=[
                        {"sentAt": int(time.time()), "eventType": "click", "properties": json.dumps({"itemId": item})}
                    ],
                )
                columns[f"after {self.title(item)}"] = [
                    self.title(i) for i in self.recs("aws-user-personalization", userId=user)
                ]
            self.table(f"User {user}: recommendations after each click", columns)

    def show_ranking(self) -> None:
        with self.step("05 Personalized ranking: re-rank 25 movies for a user"):
            user = self.users[0]
            movies = self.rng.sample(sorted(self.titles), 25)
            ranked = self.rt.get_personalized_ranking(
                campaignArn=self.campaigns["aws-personalized-ranking"], userId=user, inputList=movies
            )["personalizedRanking"]
            self.table(
                f"Re-ranked for user {user}",
                {"original": [self.title(i) for i in movies], "re-ranked": [self.title(r["itemId"]) for r in ranked]},
            )

    def batch(self) -> None:
        with self.step("05 Batch inference job for the same 3 users"):
            batch_dir = self.work / "batch"
            batch_dir.mkdir(exist_ok=True)
            inp = batch_dir / "json_input.json"
            inp.write_text("".join(json.dumps({"userId": u}) + "\n" for u in self.users))
            job = self.p.create_batch_inference_job(
                jobName=f"poc-batch-{self.suffix}",
                solutionVersionArn=self.versions["aws-user-personalization"],
                roleArn="arn:aws:iam::000000000000:role/PersonalizeRolePOC",
                jobInput={"s3DataSource": {"path": inp.as_uri()}},
                jobOutput={"s3DataDestination": {"path": (batch_dir / "out").as_uri() + "/"}},
            )["batchInferenceJobArn"]
            self.wait_all(
                "batch",
                {"job": job},
                lambda arn: self.p.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"],
            )
            lines = [json.loads(x) for x in (batch_dir / "out" / "json_input.json.out").read_text().splitlines()]
            self.table(
                "Batch output (json_input.json.out)",
                {
                    f"user {line['input']['userId']}": [self.title(i) for i in line["output"]["recommendedItems"][:10]]
                    for line in lines
                },
            )

    def clean_up(self) -> None:
        with self.step("06 Clean up: delete everything the demo created"):
            for arn in self.created.get("campaigns", []):
                self.p.delete_campaign(campaignArn=arn)
            if self.created.get("tracker"):
                self.p.delete_event_tracker(eventTrackerArn=self.created["tracker"])
            for arn in self.created.get("filters", []):
                self.p.delete_filter(filterArn=arn)
            for arn in self.created.get("solutions", []):
                self.p.delete_solution(solutionArn=arn)
            for arn in self.created.get("datasets", {}).values():
                self.p.delete_dataset(datasetArn=arn)
            for arn in self.created.get("schemas", []):
                self.p.delete_schema(schemaArn=arn)
            self.p.delete_dataset_group(datasetGroupArn=self.created["group"])
            self.console.print("deleted campaigns, tracker, filters, solutions, datasets, schemas and the group")

    def summary(self) -> None:
        table = Table(title="Demo summary")
        table.add_column("step")
        table.add_column("time", justify="right")
        for title, seconds in self.timings:
            table.add_row(title, f"{seconds:.1f}s")
        table.add_row("[bold]total", f"[bold]{sum(s for _, s in self.timings):.1f}s")
        self.console.print(table)


def connect_hint(server: embedded.EmbeddedServer, data_dir: Path) -> str:
    """How to reach the kept server; the secret only by where it is (the variable, or the generated file)."""
    stored = data_dir / CREDENTIALS_FILE
    where = stored if stored.exists() else f"${SECRET_ACCESS_KEY_ENV}"
    return (
        f"\nThe server keeps running at [bold]{server.url}[/]. Connect with boto3:\n"
        f"  boto3.client('personalize', endpoint_url='{server.url}', region_name='us-east-1',\n"
        f"               aws_access_key_id='{server.access_key_id}',\n"
        f"               aws_secret_access_key=<see {where}>)\n"
        f"or open the web console at [bold]{server.url}/console[/] and sign in with the same pair.\n"
        "Press Ctrl+C to stop."
    )


def _start_server(data_dir: Path, allowed: list[Path], port: int) -> embedded.EmbeddedServer:
    """The embedded server, or DemoError saying why not (a data dir that cannot be made, a port in use)."""
    try:
        return embedded.start(data_dir, allowed, port=port)
    except OSError as exc:
        raise DemoError(f"cannot use the data dir {data_dir}: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # uvicorn has logged the reason, e.g. the address already in use
        raise DemoError(f"{exc} on port {port}") from None


def run_demo(
    console: Console,
    dataset: Path | None = None,
    full: bool = False,
    fast: bool = False,
    keep: bool = False,
    data_dir: Path | None = None,
    port: int = 0,
) -> None:
    """Run the whole workflow; with ``keep`` leave the server running and print how to connect."""
    root = Path(tempfile.mkdtemp(prefix="openpersonalize-demo-"))
    data_dir = data_dir or root / "data"
    work = root / "work"
    work.mkdir(parents=True)
    try:
        if dataset is None:
            dataset = download_ml25m(root) if full else bundled_movielens(root)
        if not (dataset / "ratings.csv").exists() or not (dataset / "movies.csv").exists():
            raise DemoError(f"{dataset} must contain MovieLens ratings.csv and movies.csv")
        server = _start_server(data_dir, [work, root], port)
        console.print(f"embedded server at {server.url} (data in {data_dir})")
        demo = Demo(dataset, work, console, fast=fast, keep=keep)
        demo.run(server)
        demo.summary()
        if keep:
            console.print(connect_hint(server, data_dir))
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        server.stop()
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
