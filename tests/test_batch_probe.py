"""Batch jobs fed as Personalize users write their inputs, over boto3 (an outside probe's findings).

A catalogue whose users are predictable (60 users, each with 20 consecutive items of 25) trained with
User-Personalization and Item-Affinity: batch scores stay on Personalize's scale, 0 to 1, where the
rank-1 hit rate fitted during training overshot 1 (1.13 seen); an Item-Affinity line as Personalize
documents it, ``{"itemId": "105"}``, is answered; an input file written on Windows (a BOM, CRLF line
ends, blank lines, no final newline) is answered line by line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from test_file_confinement import _batch
from test_job_input_bounds import _segment

from helpers import import_dataset, train
from openpersonalize.data import movielens
from server_harness import unique

HEADER = "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n"


@pytest.fixture(scope="module")
def predictable(server, personalize) -> dict[str, str]:
    """User u watches items u*7 .. u*7+19 (mod 25) in order: the next item is easy to guess."""
    rows = "".join(f"u{u},i{(u * 7 + k) % 25},click,{u * 100 + k}\n" for u in range(60) for k in range(20))
    data = server.work / f"{unique('predictable')}.csv"
    data.write_text(HEADER + rows)
    group = personalize.create_dataset_group(name=unique("predictable"))["datasetGroupArn"]
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(data))
    return train(personalize, group, ["aws-user-personalization", "aws-item-affinity"])


def _input(server, name: str) -> Path:
    """Where a test writes its job's input: a file in a directory of its own."""
    folder = server.work / unique("in")
    folder.mkdir()
    return folder / name


def _answers(run: Callable[..., dict], personalize, version: str, src: Path) -> list[dict]:
    """Run a batch job (``_batch`` or ``_segment``) over ``src``; the lines of its output."""
    job = run(personalize, version, src, src.parent.with_name(unique("out")))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    out = Path(job["jobOutput"]["s3DataDestination"]["path"]) / f"{src.name}.out"
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_scores_of_a_predictable_catalogue_stay_within_0_and_1(server, personalize, predictable):
    src = _input(server, "users.json")
    users = [f"u{u}" for u in range(0, 60, 3)]
    src.write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
    lines = _answers(_batch, personalize, predictable["aws-user-personalization"], src)
    assert [line["input"]["userId"] for line in lines] == users
    for line in lines:
        scores = line["output"]["scores"]
        assert len(scores) == 25 and all(0.0 <= s <= 1.0 for s in scores), (line["input"], scores[:3])
        assert scores == sorted(scores, reverse=True)


def test_an_item_affinity_line_as_personalize_documents_it(server, personalize, predictable):
    src = _input(server, "items.json")
    inputs = [{"itemId": "i1"}, {"itemIds": ["i1"]}, {"itemId": "nope"}, {"itemId": ""}]
    src.write_text("".join(json.dumps(line) + "\n" for line in inputs))
    lines = _answers(_segment, personalize, predictable["aws-item-affinity"], src)
    assert [line["input"] for line in lines] == inputs
    assert lines[0]["error"] is None and len(lines[0]["output"]["usersList"]) == 5
    assert lines[0]["output"] == lines[1]["output"]
    assert lines[2]["output"] is None and "known" in lines[2]["error"]
    assert lines[3]["output"] is None and "itemId" in lines[3]["error"]


def test_a_windows_written_input_is_answered_line_by_line(server, personalize, predictable):
    """UTF-8 with a BOM, CRLF line ends, blank lines and no newline after the last line, as Notepad saves it;
    a file whose first line is left empty held only the BOM there, answered with an error line."""
    src = _input(server, "users.json")
    src.write_bytes(b'\xef\xbb\xbf{"userId": "u1"}\r\n\r\n{"userId": "u2"}\r\n   \r\n{"userId": "u3"}')
    lines = _answers(_batch, personalize, predictable["aws-user-personalization"], src)
    assert [line["input"] for line in lines] == [{"userId": "u1"}, {"userId": "u2"}, {"userId": "u3"}]
    assert all(line["error"] is None and len(line["output"]["recommendedItems"]) == 25 for line in lines)
    src.write_bytes(b'\xef\xbb\xbf\r\n{"userId": "u1"}\r\n')  # the first line left empty: no error line for it
    lines = _answers(_batch, personalize, predictable["aws-user-personalization"], src)
    assert [(line["input"], line["error"]) for line in lines] == [({"userId": "u1"}, None)]
