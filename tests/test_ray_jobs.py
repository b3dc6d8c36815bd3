"""Jobs on Ray (issue 15 item 3): the same results as the local executor, failures reported, never stuck.

A local two-node Ray cluster (one CPU each) is started for the module and stopped after it. Over
real HTTP with boto3, a server joined to it (``--executor ray``) trains user-personalization, its
Gram matrices and transitions in several user blocks sent to the cluster as tasks, and runs a
batch inference job large enough to go to the workers; the same data dir served with
``--executor local`` then answers the same batch job with the same lines, and a version it
trains itself (its blocks in its own process) recommends the same items. The executor's own
behaviour (order, a worker that dies, a step that raises, an unreachable cluster) is checked directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from job_children import sleep_in_child
from ray_cluster import RayCluster, ray_cluster

from helpers import RECIPE, ROLE, import_dataset, requires, wait_until
from openpersonalize.data import movielens
from openpersonalize.jobs import processes
from openpersonalize.jobs.child import Step
from openpersonalize.jobs.executors import LocalExecutor
from openpersonalize.recipes.blocks import BLOCK_ENV
from server_harness import Server, unique, wait_status

try:
    import ray

    from openpersonalize.jobs.child import JobError, JobStopped
    from openpersonalize.jobs.process_pool import WorkerError
    from openpersonalize.jobs.ray_executor import RayExecutor
except ImportError:  # the ray extra is missing: requires() below fails the module in CI, skips it elsewhere
    ray = None

pytestmark = requires(ray is not None, "Ray is not installed (pip install -e '.[ray]')")

BATCH_LINES = 4200  # above POOL_MIN_BLOCKS blocks of 1024 lines: the job goes to the executor's workers
SMALL_BLOCKS = {BLOCK_ENV: "20000"}  # ml-latest-small's 100k ratings in about 5 user blocks per partitioned step


@pytest.fixture(scope="module")
def cluster() -> RayCluster:
    started = ray_cluster(nodes=2, env=SMALL_BLOCKS)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def joined(cluster: RayCluster) -> RayExecutor:
    """This test process joined to the cluster (for the executor's own tests)."""
    executor = RayExecutor.join(cluster.address)
    yield executor
    ray.shutdown()


def _square_answerer(offset: int) -> Any:
    return lambda item: item * item + offset


def _dying_answerer(marker: str) -> Any:
    """Kills its worker process the first time it sees item 3 (the marker file records that it did)."""

    def answer(item: int) -> int:
        if item == 3 and not os.path.exists(marker):
            Path(marker).write_text("died once")
            os._exit(1)
        return item

    return answer


def _failing_step(progress: Any, value: int) -> int:
    raise ValueError(f"no model for {value}")


def _step(progress: Any, value: int) -> int:
    return value * 2


def test_ordered_map_equals_local(joined: RayExecutor) -> None:
    items = list(range(40))
    local = list(LocalExecutor().ordered_map(_square_answerer, {"offset": 1}, items, workers=2))
    on_ray = list(joined.ordered_map(_square_answerer, {"offset": 1}, items, workers=2))
    assert on_ray == local == [i * i + 1 for i in items]


def test_dead_worker_is_retried(joined: RayExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "died"
    assert list(joined.ordered_map(_dying_answerer, {"marker": str(marker)}, range(8), workers=2)) == list(range(8))
    assert marker.exists(), "the worker never died: the retry was not exercised"


def test_step_errors_come_back_with_their_message(joined: RayExecutor) -> None:
    assert joined.call(Step(_step, {"value": 21}, poll_seconds=0.2)) == 42
    with pytest.raises(JobError, match="no model for 7"):
        joined.call(Step(_failing_step, {"value": 7}, poll_seconds=0.2))
    with pytest.raises(WorkerError, match="unsupported operand"):
        list(joined.ordered_map(_square_answerer, {"offset": "x"}, range(3), workers=2))


def test_stopped_step_ends_its_child(joined: RayExecutor, tmp_path: Path) -> None:
    """StopSolutionVersionCreation on Ray: the step's task is killed, and the child training in it with it."""
    pid_file = tmp_path / "child.pid"
    with pytest.raises(JobStopped):
        joined.call(Step(sleep_in_child, {"pid_file": str(pid_file)}, pid_file.exists, poll_seconds=0.2))
    wait_until(lambda: pid_file.read_text(), what="child pid")
    child = int(pid_file.read_text())
    wait_until(lambda: not processes.alive(child), guard=30.0, what=f"the step's child {child} ending")


def test_unreachable_cluster_is_refused_at_start(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "openpersonalize.cli", "serve", "--data-dir", str(tmp_path / "data")]
    for executor, env in (("ray://127.0.0.1:1", {}), ("ray", {"RAY_ADDRESS": "127.0.0.1:1"})):
        done = subprocess.run(
            [*cmd, "--executor", executor], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        last = done.stderr.strip().splitlines()[-1]
        assert "cannot reach the Ray cluster at" in last and "127.0.0.1:1" in last, done.stderr


def _batch(personalize: Any, version: str, src: Path, dst: Path) -> list[dict[str, Any]]:
    arn = personalize.create_batch_inference_job(
        jobName=unique("batch"),
        solutionVersionArn=version,
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": str(src)}},
        jobOutput={"s3DataDestination": {"path": str(dst)}},
    )["batchInferenceJobArn"]
    done = wait_status(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return [json.loads(line) for line in (dst / f"{src.name}.out").read_text().splitlines()]


def _train(personalize: Any, solution: str) -> str:
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    done = wait_status(personalize.describe_solution_version, "solutionVersion", timeout=600, solutionVersionArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return arn


def _items(lines: list[dict[str, Any]]) -> list[list[str]]:
    return [line["output"]["recommendedItems"] for line in lines]


def test_training_and_batch_on_ray_equal_local(cluster: RayCluster, tmp_path: Path, movielens_dir: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    csv = movielens.write_csv(ratings, work / "interactions.csv")
    users = sorted(set(ratings["USER_ID"].to_pylist()))
    src = work / "users.json"
    src.write_text("".join(json.dumps({"userId": users[n % len(users)]}) + "\n" for n in range(BATCH_LINES)))

    def serve(*args: str, env: dict[str, str] | None = None) -> Server:
        return Server(tmp_path / "data", None, [work], env={**SMALL_BLOCKS, **(env or {})}, args=list(args)).start()

    before = cluster.task_counts()
    node = serve("--executor", "ray", env={"RAY_ADDRESS": cluster.address})
    try:
        personalize = node.client()
        group = personalize.create_dataset_group(name=unique("ray"))["datasetGroupArn"]
        wait_status(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=group)
        import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(csv))
        solution = personalize.create_solution(
            name=unique("up"), datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
        )["solutionArn"]
        on_ray = _train(personalize, solution)
        ray_lines = _batch(personalize, on_ray, src, work / "out-ray")
    finally:
        node.stop()
    ran = cluster.task_counts() - before
    assert ran["_run_step"] >= 1 and ran["_answer_item"] >= BATCH_LINES // 1024, ran
    # the Gram matrix and the transitions of both fits (offline metrics, final model), several blocks each
    assert ran["training_block"] >= 4 * 3, ran

    node = serve("--executor", "local")
    try:
        personalize = node.client()
        local_lines = _batch(personalize, on_ray, src, work / "out-local")
        locally = _train(personalize, solution)
        retrained_lines = _batch(personalize, locally, src, work / "out-retrained")
    finally:
        node.stop()

    assert len(ray_lines) == BATCH_LINES and all(line["error"] is None for line in ray_lines)
    assert ray_lines == local_lines
    assert _items(retrained_lines) == _items(ray_lines)
    assert cluster.task_counts() - before == ran, "the local executor sent work to Ray"


def _slow_answerer(seconds: float) -> Any:
    def answer(item: int) -> int:
        time.sleep(seconds)
        return item

    return answer


def test_items_of_a_dead_node_are_retried(cluster: RayCluster, joined: RayExecutor) -> None:
    """Last in this module: it kills the cluster's second node (SIGKILL, as when its machine dies)."""
    answers = joined.ordered_map(_slow_answerer, {"seconds": 0.5}, range(24), workers=2)
    results = [next(answers)]  # both nodes are busy with the next items now
    cluster.stop_node(1)
    results += list(answers)
    assert results == list(range(24))
