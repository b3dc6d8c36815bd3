"""What many suites share: where the data lives, AWS error parts, Avro schemas, metric keys, polling,
the POC data workflow (import, train, deploy), and skips that never hide a missing requirement in CI."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from openpersonalize.data.schema import avro_schema as avro_schema  # the one schema builder, for the suites
from openpersonalize.demo import bundled_movielens
from server_harness import Server, unique, wait_status

RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
HORROR_FAN = "horror-fan"  # a user of the shared POC group whose whole history is 40 horror movies
# The ml-latest-small copy the package ships, unpacked once per machine: the suites need nothing beside the repository.
MOVIELENS = bundled_movielens(Path(tempfile.gettempdir()) / "openpersonalize-test-data")
# GetSolutionMetrics' keys as Personalize reports them, written out rather than imported from
# openpersonalize.evaluation.metrics, so that a change there fails the tests instead of passing them.
METRIC_KEYS = frozenset(
    {
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
    }
)


def in_ci() -> bool:
    """CI=true (or 1/yes): a run where every requirement must be present."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` on a developer's machine; in CI a missing requirement fails the test instead."""
    if in_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def requires(condition: bool, reason: str) -> pytest.MarkDecorator:
    """A skipif mark that never skips in CI: there the test runs and fails if ``condition`` does not hold."""
    return pytest.mark.skipif(not condition and not in_ci(), reason=reason)


def error_code(exc_info: pytest.ExceptionInfo) -> str:
    """The AWS error code of a ``pytest.raises(ClientError)``."""
    return exc_info.value.response["Error"]["Code"]


def error_message(exc_info: pytest.ExceptionInfo) -> str:
    return exc_info.value.response["Error"]["Message"]


def s3_env(endpoint: str) -> dict[str, str]:
    """A server's environment for S3 on the test endpoint (moto) with moto's fixed credentials."""
    return {
        "OPENPERSONALIZE_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def wait_until(condition: Callable[[], Any], guard: float = 120.0, what: str = "condition") -> None:
    """Poll ``condition``; ``guard`` only stops a broken run from hanging, it measures nothing."""
    deadline = time.monotonic() + guard
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def import_dataset(
    personalize: Any, group: str, kind: str, schema: dict[str, Any], location: str, domain: str | None = None
) -> str:
    """Create a dataset of ``kind`` in ``group`` (its schema of ``domain``, if any) and import ``location`` into it;
    its ARN once ACTIVE."""
    extra = {"domain": domain} if domain else {}
    schema_arn = personalize.create_schema(name=unique(kind.lower()), schema=json.dumps(schema), **extra)["schemaArn"]
    dataset = personalize.create_dataset(
        name=unique(kind.lower()), datasetType=kind, datasetGroupArn=group, schemaArn=schema_arn
    )["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": location}
    )["datasetImportJobArn"]
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return dataset


def train(personalize: Any, group: str, recipes: Iterable[str]) -> dict[str, str]:
    """One solution per recipe name, all versions training at once; recipe name -> ACTIVE version ARN."""
    versions = {}
    for name in recipes:
        solution = personalize.create_solution(name=unique(name), datasetGroupArn=group, recipeArn=RECIPE + name)
        versions[name] = personalize.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    for name, arn in versions.items():
        done = wait_status(
            personalize.describe_solution_version, "solutionVersion", timeout=600, solutionVersionArn=arn
        )
        assert done["status"] == "ACTIVE", (name, done.get("failureReason"))
    return versions


def deploy(personalize: Any, versions: dict[str, str], **config: Any) -> dict[str, str]:
    """One campaign per version (``config`` passed to each CreateCampaign); name -> ACTIVE campaign ARN."""
    campaigns = {
        name: personalize.create_campaign(name=unique(name), solutionVersionArn=arn, minProvisionedTPS=1, **config)[
            "campaignArn"
        ]
        for name, arn in versions.items()
    }
    for arn in campaigns.values():
        done = wait_status(personalize.describe_campaign, "campaign", campaignArn=arn)
        assert done["status"] == "ACTIVE", done.get("failureReason")
    return campaigns


def export_dataset(personalize: Any, dataset: str, out: Path, mode: str = "BULK") -> list[Path]:
    """Export ``dataset`` (``ingestionMode`` ``mode``) into the folder ``out``; the CSV parts written (each with a
    header row, an empty file for no rows)."""
    job = personalize.create_dataset_export_job(
        jobName=out.name,
        datasetArn=dataset,
        roleArn=ROLE,
        ingestionMode=mode,
        jobOutput={"s3DataDestination": {"path": f"{out}/"}},
    )["datasetExportJobArn"]
    done = wait_status(personalize.describe_dataset_export_job, "datasetExportJob", datasetExportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return sorted((out / out.name).glob("*.csv"))


def concurrently(*calls: Callable[[], object]) -> list[object]:
    """Run the calls on threads released together; each result is its return value or its error code."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = calls[n]()
        except ClientError as exc:
            results[n] = exc.response["Error"]["Code"]
        except Exception as exc:  # anything else fails the test below
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@contextmanager
def own_server(root: Path, *args: str) -> Iterator[Server]:
    """A suite's own SQLite server started with extra ``serve`` arguments; its ``root/work`` is allowed."""
    work = root / "work"
    work.mkdir()
    srv = Server(root / "data", None, [work], args=list(args)).start()
    srv.work = work  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.stop()
