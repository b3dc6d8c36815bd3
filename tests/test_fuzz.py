"""The fuzz suite: every operation of the three Personalize models, over real HTTP, must never answer 5xx.

A fresh server gets at least 2,000 requests (``OPENPERSONALIZE_FUZZ_REQUESTS`` raises the count) built
from the botocore shapes (valid and one mutation off, with real resources mixed in) plus malformed
ones; each must answer under 500 with an AWS error shape when 4xx, within a second, and the server
must still serve plain boto3 calls afterwards. The generator is tests/fuzz_requests.py (runnable alone
for longer sessions).
"""

from __future__ import annotations

import os

import hypothesis
import hypothesis.strategies as st
import pytest
from fuzz_cases import catalog
from fuzz_malformed import FAULTS
from fuzz_requests import CI_REQUESTS, REQUESTS_ENV, Target, client, fuzz_server, healthy, run
from fuzz_shapes import mutate, valid
from fuzz_world import seed_world

from openpersonalize.api.shapes import validate_input
from openpersonalize.errors import InvalidInputException
from server_harness import ACCESS_KEY, REGION, SECRET_KEY

OPERATIONS = catalog()
# Mutations the models allow: a null optional member, a member the shape does not define.
_HARMLESS = ("null", "unknown member")


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


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
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
        yield server, target, requests, report
    finally:
        server.stop()


def test_fuzz_answers_every_request_properly(fuzzed) -> None:
    server, target, requests, report = fuzzed
    print(report.summary())
    assert not report.stuck, report.summary()
    assert report.requests >= requests
    assert report.server_errors == 0, report.summary()
    assert report.slow == 0, report.summary()
    assert not report.failures, report.summary()


def test_fuzz_reaches_every_operation(fuzzed) -> None:
    """Each operation got valid and mutated inputs, every kind of malformed request was sent, some succeeded."""
    _, _, _, report = fuzzed
    names = {op.name for op in OPERATIONS}
    assert names - (report.operations["valid"] | report.operations["realistic"]) == set()
    assert names - report.operations["mutated"] == set()
    assert report.faults == set(FAULTS)
    assert report.statuses[200] > 0


def test_server_healthy_after_fuzzing(fuzzed) -> None:
    server, target, _, _ = fuzzed
    healthy(target)
    assert server.proc.poll() is None
