"""The fuzz suite: every operation of the three Personalize models, over real HTTP, must never answer 5xx.

A fresh server gets at least 2,000 requests (``OPENPERSONALIZE_FUZZ_REQUESTS`` raises the count) built
from the botocore shapes (valid and one mutation off, with real resources mixed in) plus malformed
ones; each must answer under 500 with an AWS error shape when 4xx, within a second, and the server
must still serve plain boto3 calls afterwards. The generator is tests/fuzz_requests.py (runnable alone
for longer sessions).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import hypothesis
import hypothesis.strategies as st
import pytest
from botocore.exceptions import ClientError
from fuzz_cases import World, catalog
from fuzz_malformed import FAULTS
from fuzz_requests import CI_REQUESTS, REQUESTS_ENV, Report, Target, client, fuzz_server, healthy, run
from fuzz_shapes import mutate, valid
from fuzz_world import seed_world

from openpersonalize.api.validation import validate_input
from openpersonalize.errors import InvalidInputException
from server_harness import ACCESS_KEY, REGION, SECRET_KEY, Server

OPERATIONS = catalog()


@hypothesis.settings(max_examples=300, derandomize=True, database=None, deadline=None)
@hypothesis.given(st.data())
def test_valid_inputs_pass_validation_and_required_drops_fail(data) -> None:
    """The generator's valid inputs are valid for the server too; dropping a required member is not."""
    op = data.draw(st.sampled_from(OPERATIONS)).model
    value = data.draw(valid(op.input_shape, {}))
    validate_input(op, value)
    broken, what = mutate(data.draw, op.input_shape, value)
    if not what.startswith("map key") and what.endswith(("dropped required member", "wrong type list")):
        with pytest.raises(InvalidInputException):
            validate_input(op, broken)


@dataclass
class Fuzzed:
    """The module's fuzzed server, the requests it was due, what they got, and the seeded resources."""

    server: Server
    target: Target
    requests: int
    report: Report
    world: World


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Fuzzed:
    """A fresh server of its own (the fuzzer creates and alters resources) and the session's report."""
    root = tmp_path_factory.mktemp("fuzz")
    work = root / "work"
    work.mkdir()
    server = fuzz_server(root, work)
    try:
        target = Target(server.url, ACCESS_KEY, SECRET_KEY, REGION)
        world = seed_world(client(target), work)
        requests = max(CI_REQUESTS, int(os.environ.get(REQUESTS_ENV, CI_REQUESTS)))
        report = run(target, requests, world)
        yield Fuzzed(server, target, requests, report, world)
    finally:
        server.stop()


def test_fuzz_answers_every_request_properly(fuzzed: Fuzzed) -> None:
    report, requests = fuzzed.report, fuzzed.requests
    print(report.summary())
    assert not report.stuck, report.summary()
    assert report.requests >= requests
    assert report.server_errors == 0, report.summary()
    assert report.slow == 0, report.summary()
    assert not report.failures, report.summary()


def test_fuzz_reaches_every_operation(fuzzed: Fuzzed) -> None:
    """Each operation got valid and mutated inputs, every kind of malformed request was sent, some succeeded."""
    report = fuzzed.report
    names = {op.name for op in OPERATIONS}
    assert names - (report.operations["valid"] | report.operations["realistic"]) == set()
    assert names - report.operations["mutated"] == set()
    assert report.faults == set(FAULTS)
    assert report.statuses[200] > 0


def test_server_healthy_after_fuzzing(fuzzed: Fuzzed) -> None:
    healthy(fuzzed.target)
    assert fuzzed.server.proc.poll() is None


@pytest.mark.parametrize("location", ["s3://bucket]/data.csv", "s3://[bucket/data.csv", "file://[host/data.csv"])
def test_malformed_url_host_is_a_client_error(fuzzed: Fuzzed, location: str) -> None:
    """Found by the fuzzer: a location whose host has an unbalanced bracket (urlparse raises) answered 500."""
    dataset = fuzzed.world.values["datasetArn"][0]
    with pytest.raises(ClientError) as caught:
        client(fuzzed.target).create_dataset_import_job(
            jobName="bad-url", datasetArn=dataset, dataSource={"dataLocation": location}
        )
    assert caught.value.response["Error"]["Code"] == "InvalidInputException"
    assert "not a valid URL" in caught.value.response["Error"]["Message"]
