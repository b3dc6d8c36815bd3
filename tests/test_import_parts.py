"""Large CSV imports as executor tasks (issue 15, "Jobs on Ray"): the same snapshot and failures as one pass.

Over boto3, servers on the local executor whose split size is forced down to 64 KiB
(``OPENPERSONALIZE_IMPORT_PART_BYTES``) import an unquoted file in byte ranges, a prefix of several
S3 objects (one split, one quoted and so imported whole after its ranges found a quote, one small)
into an S3 object store, a file with a bad value in a late range and one with a malformed row
there. Each snapshot is compared with what the single-process import (``import_csv``) makes of the
same files, row for row and in order; each failure with the one pass's message, row number included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from helpers import ROLE, s3_env
from openpersonalize.data import movielens
from openpersonalize.data.csv_import import CsvSource, ImportFailure, import_csv, read_snapshot
from openpersonalize.data.csv_parts import PART_BYTES_ENV
from openpersonalize.data.schema import parse_schema
from openpersonalize.store.metadata import MetadataStore
from openpersonalize.store.objects import ObjectStore, StoreLocation
from server_harness import Server, unique, wait_status

PART_BYTES = 64 * 1024
INTERACTIONS = parse_schema(json.dumps(movielens.INTERACTIONS_SCHEMA))
ITEMS = parse_schema(json.dumps(movielens.ITEMS_SCHEMA))


def write(table: pa.Table, path: Path, quoting: str = "none") -> Path:
    """``table`` as CSV; ``none`` quotes only the header (pyarrow always does), ``needed`` every string too."""
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style=quoting))
    return path


def file_source(path: Path) -> CsvSource:
    return CsvSource(path.name, lambda: open(path, "rb"))  # noqa: SIM115 - the importer closes it


def one_pass(paths: list[Path], schema: Any, kind: str, dest: Path, previous: Path | None = None, mode: str = "FULL"):  # noqa: ANN201
    return import_csv([file_source(p) for p in paths], schema, kind, dest, previous, mode)


def snapshot_key(server: Server, dataset: str) -> str | None:
    """The dataset's snapshot key as the server recorded it in SQL (None before a successful import)."""
    store = MetadataStore(server.database_url or f"sqlite:///{server.data_dir.resolve() / 'metadata.db'}")
    try:
        return store.get(dataset).doc.get("_snapshot")
    finally:
        store.engine.dispose()


def create_dataset(personalize: Any, kind: str, schema: dict) -> str:
    group = personalize.create_dataset_group(name=unique("parts"))["datasetGroupArn"]
    schema_arn = personalize.create_schema(name=unique(kind.lower()), schema=json.dumps(schema))["schemaArn"]
    return personalize.create_dataset(
        name=unique(kind.lower()), datasetType=kind, datasetGroupArn=group, schemaArn=schema_arn
    )["datasetArn"]


def run_import(personalize: Any, dataset: str, location: str, mode: str = "FULL") -> dict:
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": location}, importMode=mode, roleArn=ROLE
    )["datasetImportJobArn"]
    return wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)


@pytest.fixture(scope="module")
def ratings(movielens_dir: Path) -> pa.Table:
    return movielens.prepare_interactions(movielens_dir / "ratings.csv")


@pytest.fixture(scope="module")
def local_node(tmp_path_factory: pytest.TempPathFactory) -> Server:
    """A server on the local executor and a local object store, splitting inputs from 64 KiB."""
    root = tmp_path_factory.mktemp("parts-local")
    (root / "work").mkdir()
    server = Server(root / "data", None, [root / "work"], {PART_BYTES_ENV: str(PART_BYTES)}).start()
    server.work = root / "work"  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_byte_ranges_make_the_one_pass_snapshot(local_node: Server, ratings: pa.Table, tmp_path: Path) -> None:
    """An unquoted 4 MB file in 64 KiB ranges (FULL), then another appended (INCREMENTAL): the same rows."""
    work: Path = local_node.work  # type: ignore[attr-defined]
    first = write(ratings.slice(0, 120_000), work / "first.csv")
    second = write(ratings.slice(120_000), work / "second.csv")
    personalize = local_node.client()
    dataset = create_dataset(personalize, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA)

    done = run_import(personalize, dataset, str(first))
    assert done["status"] == "ACTIVE", done.get("failureReason")
    snapshot = local_node.data_dir / "objects" / snapshot_key(local_node, dataset)
    expected = one_pass([first], INTERACTIONS, "INTERACTIONS", tmp_path / "one")
    assert len(list(snapshot.glob("*.parquet"))) > 1, "the file was not imported in byte ranges"
    assert read_snapshot(snapshot).equals(read_snapshot(expected.snapshot))  # same rows, same order

    done = run_import(personalize, dataset, str(second), mode="INCREMENTAL")
    assert done["status"] == "ACTIVE", done.get("failureReason")
    both = read_snapshot(local_node.data_dir / "objects" / snapshot_key(local_node, dataset))
    appended = one_pass([second], INTERACTIONS, "INTERACTIONS", tmp_path / "one", expected.snapshot, "INCREMENTAL")
    assert _sorted(both).equals(_sorted(read_snapshot(appended.snapshot)))
    assert both.num_rows == ratings.num_rows


def _sorted(table: pa.Table) -> pa.Table:
    """Rows in one order (an INCREMENTAL snapshot's files are ordered by their random tokens)."""
    return table.take(pc.sort_indices(table, [(name, "ascending") for name in table.column_names]))


def test_bad_value_in_a_late_range_names_its_row_in_the_file(
    local_node: Server, ratings: pa.Table, tmp_path: Path
) -> None:
    """Row 150,000 of a file split in 64 KiB ranges: the message the one pass gives, and no snapshot at all."""
    work: Path = local_node.work  # type: ignore[attr-defined]
    table = ratings.cast(pa.schema([(f.name, pa.string()) for f in ratings.schema]))
    stamps = table["TIMESTAMP"].to_pylist()
    stamps[149_999] = "soon"
    bad = write(table.set_column(3, "TIMESTAMP", pa.array(stamps)), work / "bad.csv")
    with pytest.raises(ImportFailure) as expected:
        one_pass([bad], INTERACTIONS, "INTERACTIONS", tmp_path / "one")
    assert "bad.csv row 150000, column TIMESTAMP" in str(expected.value)

    personalize = local_node.client()
    dataset = create_dataset(personalize, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA)
    done = run_import(personalize, dataset, str(bad))
    assert done["status"] == "CREATE FAILED"
    assert done["failureReason"] == str(expected.value)
    assert snapshot_key(local_node, dataset) is None
    written = ObjectStore.for_node(None, local_node.data_dir).dataset_dir(dataset)
    assert not written.exists() or list(written.iterdir()) == [], "the failed import left parts behind"


def test_malformed_row_in_a_late_range_is_found_by_a_whole_file_pass(
    local_node: Server, ratings: pa.Table, tmp_path: Path
) -> None:
    """Row 140,000 has a column too many: its range gives the file back to one task, which words it as the one pass."""
    work: Path = local_node.work  # type: ignore[attr-defined]
    lines = write(ratings, tmp_path / "rows.csv").read_bytes().split(b"\n")
    lines[140_000] += b",extra"
    bad = work / "malformed.csv"
    bad.write_bytes(b"\n".join(lines))
    with pytest.raises(ImportFailure) as expected:
        one_pass([bad], INTERACTIONS, "INTERACTIONS", tmp_path / "one")
    assert str(expected.value) == "malformed.csv row 140000: expected 4 columns as in the header, got 5"

    personalize = local_node.client()
    dataset = create_dataset(personalize, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA)
    done = run_import(personalize, dataset, str(bad))
    assert (done["status"], done["failureReason"]) == ("CREATE FAILED", str(expected.value))


def test_prefix_of_objects_into_an_s3_store(
    s3_server: str, movielens_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items from three S3 objects (split in ranges; quoted, so whole; small) into an S3 object store,
    the newest row per item winning, then the first again (INCREMENTAL, merged with the previous
    snapshot read from S3): the one pass's snapshots, read back from the store."""
    items = movielens.prepare_items(movielens_dir / "movies.csv")
    updated = items.slice(5000).set_column(
        1, "GENRE", pc.binary_join_element_wise(items.slice(5000)["GENRE"], "|New", "")
    )
    files = [
        write(items.slice(0, 6000), tmp_path / "a.csv"),
        write(updated, tmp_path / "b.csv", quoting="needed"),
        write(items.slice(100, 50), tmp_path / "c.csv"),
    ]
    assert files[0].stat().st_size > 2 * PART_BYTES and files[1].stat().st_size > PART_BYTES
    assert files[2].stat().st_size < PART_BYTES
    env = s3_env(s3_server)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=s3_server)
    bucket = unique("parts")
    s3.create_bucket(Bucket=bucket)
    for path in files:
        s3.upload_file(str(path), bucket, f"input/{path.name}")
    store_url = f"s3://{bucket}/store"
    args = ["--object-store", store_url]
    server = Server(tmp_path / "data", None, [], {**env, PART_BYTES_ENV: str(PART_BYTES)}, args=args).start()
    try:
        personalize = server.client()
        dataset = create_dataset(personalize, "ITEMS", movielens.ITEMS_SCHEMA)
        done = run_import(personalize, dataset, f"s3://{bucket}/input/")
        assert done["status"] == "ACTIVE", done.get("failureReason")
        key = snapshot_key(server, dataset)
        done = run_import(personalize, dataset, f"s3://{bucket}/input/a.csv", mode="INCREMENTAL")
        assert done["status"] == "ACTIVE", done.get("failureReason")
        merged_key = snapshot_key(server, dataset)
    finally:
        server.stop()
    reader = ObjectStore(StoreLocation(store_url, s3_server), tmp_path / "reader")
    expected = one_pass(files, ITEMS, "ITEMS", tmp_path / "one")
    assert read_snapshot(reader.local_path(key)).equals(read_snapshot(expected.snapshot))
    assert expected.total_rows == items.num_rows
    again = one_pass(files[:1], ITEMS, "ITEMS", tmp_path / "one", expected.snapshot, "INCREMENTAL")
    assert read_snapshot(reader.local_path(merged_key)).equals(read_snapshot(again.snapshot))
