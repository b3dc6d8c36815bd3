"""Streaming CSV -> Parquet snapshot import."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openpersonalize.data import movielens
from openpersonalize.data.csv_import import (
    CsvSource,
    ImportFailure,
    import_csv,
    iter_snapshot_batches,
    read_snapshot,
    snapshot_rows,
)
from openpersonalize.data.schema import DatasetSchema, parse_schema

ML = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"
INTERACTIONS = parse_schema(json.dumps(movielens.INTERACTIONS_SCHEMA))
ITEMS = parse_schema(json.dumps(movielens.ITEMS_SCHEMA))
HEADER = b"USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n"


def mem(data: bytes, name: str = "interactions.csv") -> CsvSource:
    return CsvSource(name, lambda: io.BytesIO(data))


def file_source(path: Path) -> CsvSource:
    return CsvSource(path.name, lambda: open(path, "rb"))  # noqa: SIM115 - importer closes it


def run(sources: list[CsvSource], tmp_path: Path, schema: DatasetSchema = INTERACTIONS, **kw):  # noqa: ANN201
    kw.setdefault("previous", None)
    kw.setdefault("mode", "FULL")
    kw.setdefault("dataset_type", "INTERACTIONS")
    return import_csv(sources, schema, kw["dataset_type"], tmp_path / "snaps", kw["previous"], kw["mode"])


def fail(sources: list[CsvSource], tmp_path: Path, **kw) -> str:
    with pytest.raises(ImportFailure) as err:
        run(sources, tmp_path, **kw)
    return str(err.value)


@pytest.fixture(scope="module")
def ml_csvs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pa.Table, pa.Table]:
    d = tmp_path_factory.mktemp("ml")
    inter = movielens.prepare_interactions(ML / "ratings.csv")
    items = movielens.prepare_items(ML / "movies.csv")
    return movielens.write_csv(inter, d / "interactions.csv"), movielens.write_csv(items, d / "items.csv"), inter, items


def test_movielens_interactions(ml_csvs, tmp_path: Path) -> None:
    path, _, expected, _ = ml_csvs
    result = run([file_source(path)], tmp_path)
    assert result.rows == result.total_rows == 158_371
    assert result.snapshot.parent == tmp_path / "snaps" and result.snapshot.is_dir()
    table = read_snapshot(result.snapshot)
    assert table.schema.names == ["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"]
    assert table.schema.field("TIMESTAMP").type == pa.int64()
    assert table.schema.field("USER_ID").type == pa.string()
    assert table.equals(expected.cast(table.schema))
    assert snapshot_rows(result.snapshot) == 158_371
    assert read_snapshot(result.snapshot, columns=["ITEM_ID"]).column_names == ["ITEM_ID"]
    assert sum(b.num_rows for b in iter_snapshot_batches(result.snapshot)) == 158_371
    assert read_snapshot(None) is None


def test_movielens_items(ml_csvs, tmp_path: Path) -> None:
    _, path, _, expected = ml_csvs
    result = run([file_source(path)], tmp_path, schema=ITEMS, dataset_type="ITEMS")
    assert result.rows == result.total_rows == expected.num_rows == 9742
    table = read_snapshot(result.snapshot)
    assert table.schema.field("YEAR").type == pa.int32()
    rows = {r["ITEM_ID"]: r for r in table.to_pylist()}
    assert rows["1"]["GENRE"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert rows["1"]["YEAR"] == 1995
    assert table["YEAR"].null_count == expected["YEAR"].null_count > 0


def test_incremental_interactions_appends_and_links(tmp_path: Path) -> None:
    first = run([mem(HEADER + b"1,10,click,100\n2,20,watch,200\n")], tmp_path)
    before = {p.name: p.read_bytes() for p in first.snapshot.iterdir()}
    second = run([mem(HEADER + b"3,30,click,300\n")], tmp_path, previous=first.snapshot, mode="INCREMENTAL")
    assert (second.rows, second.total_rows) == (1, 3)
    assert sorted(read_snapshot(second.snapshot)["USER_ID"].to_pylist()) == ["1", "2", "3"]
    # previous files are reused (same inode where hard links work), never rewritten
    for name in before:
        assert os.path.samefile(first.snapshot / name, second.snapshot / name) or (
            (second.snapshot / name).read_bytes() == before[name]
        )
    assert {p.name: p.read_bytes() for p in first.snapshot.iterdir()} == before
    full = run([mem(HEADER + b"4,40,click,400\n")], tmp_path, previous=second.snapshot, mode="FULL")
    assert full.total_rows == 1 and read_snapshot(full.snapshot)["USER_ID"].to_pylist() == ["4"]


def test_incremental_items_upsert(tmp_path: Path) -> None:
    kw = {"schema": ITEMS, "dataset_type": "ITEMS"}
    first = run([mem(b"ITEM_ID,GENRE,YEAR\n1,Comedy,1995\n2,Drama,\n", "items.csv")], tmp_path, **kw)
    second = run(
        [mem(b"item_id,genre,year\n2,Drama|Crime,2001\n3,Horror,1980\n3,Horror|Gore,1981\n", "items.csv")],
        tmp_path,
        previous=first.snapshot,
        mode="INCREMENTAL",
        **kw,
    )
    assert (second.rows, second.total_rows) == (3, 3)
    rows = {r["ITEM_ID"]: (r["GENRE"], r["YEAR"]) for r in read_snapshot(second.snapshot).to_pylist()}
    assert rows == {"1": ("Comedy", 1995), "2": ("Drama|Crime", 2001), "3": ("Horror|Gore", 1981)}
    assert read_snapshot(first.snapshot).num_rows == 2


def test_header_case_order_extra_columns_and_missing_nullable(tmp_path: Path) -> None:
    data = b"timestamp,Extra,item_id,user_id,event_type\n5,zzz,0589,abc,click\n"
    table = read_snapshot(run([mem(data)], tmp_path).snapshot)
    assert table.to_pylist() == [{"USER_ID": "abc", "ITEM_ID": "0589", "EVENT_TYPE": "click", "TIMESTAMP": 5}]
    items = read_snapshot(run([mem(b"ITEM_ID,GENRE\n7,A|B\n")], tmp_path, schema=ITEMS, dataset_type="ITEMS").snapshot)
    assert items.to_pylist() == [{"ITEM_ID": "7", "GENRE": "A|B", "YEAR": None}]


def test_multiple_sources(tmp_path: Path) -> None:
    result = run(
        [mem(HEADER + b"1,2,click,3\n", "a.csv"), mem(HEADER + b"4,5,watch,6\n7,8,click,9\n", "b.csv")], tmp_path
    )
    assert (result.rows, result.total_rows) == (3, 3)


def test_crlf_and_bom(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfUSER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\r\n1,2,click,3\r\n4,5,watch,6\r\n"
    table = read_snapshot(run([mem(data)], tmp_path).snapshot)
    assert table["EVENT_TYPE"].to_pylist() == ["click", "watch"]
    assert table["TIMESTAMP"].to_pylist() == [3, 6]


def test_missing_required_column(tmp_path: Path) -> None:
    msg = fail([mem(b"USER_ID,ITEM_ID,EVENT_TYPE\n1,2,click\n")], tmp_path)
    assert "TIMESTAMP" in msg and "interactions.csv" in msg


def test_bad_long_exact_row(tmp_path: Path) -> None:
    rows = b"".join(b"%d,%d,click,%d\n" % (i, i, i) for i in range(100_000))
    msg = fail([mem(HEADER + rows + b"9,9,click,abc\n" + rows)], tmp_path)
    assert msg == "interactions.csv row 100001, column TIMESTAMP: 'abc' is not a long"
    assert "row 2, column TIMESTAMP: '1.0' is not a long" in fail([mem(HEADER + b"1,2,a,3\n1,2,a,1.0\n")], tmp_path)


def test_bad_values_other_types(tmp_path: Path) -> None:
    schema = parse_schema(
        json.dumps(
            {
                "type": "record",
                "name": "Users",
                "fields": [
                    {"name": "USER_ID", "type": "string"},
                    {"name": "AGE", "type": ["null", "int"]},
                    {"name": "SCORE", "type": "double"},
                    {"name": "VIP", "type": "boolean"},
                ],
            }
        )
    )
    kw = {"schema": schema, "dataset_type": "USERS"}
    ok = run([mem(b"USER_ID,AGE,SCORE,VIP\nu1,,1.5,true\nu2,30,2,false\n", "users.csv")], tmp_path, **kw)
    assert read_snapshot(ok.snapshot).to_pylist()[0] == {"USER_ID": "u1", "AGE": None, "SCORE": 1.5, "VIP": True}
    cases = [
        (b"u1,x,1.5,true\n", "row 1, column AGE: 'x' is not an int"),
        (b"u1,99999999999,1.5,true\n", "row 1, column AGE"),
        (b"u1,1,abc,true\n", "row 1, column SCORE: 'abc' is not a double"),
        (b"u1,1,1,yes\n", "row 1, column VIP: 'yes' is not a boolean"),
        (b"u1,1,,true\n", "row 1, column SCORE: empty value"),
    ]
    for line, needle in cases:
        assert needle in fail([mem(b"USER_ID,AGE,SCORE,VIP\n" + line, "users.csv")], tmp_path, **kw)


def test_empty_required_value_and_long_id(tmp_path: Path) -> None:
    assert "row 2, column USER_ID: empty value" in fail([mem(HEADER + b"1,2,a,3\n,2,a,3\n")], tmp_path)
    long_id = b"x" * 257
    assert "row 1, column ITEM_ID: value is longer than 256" in fail(
        [mem(HEADER + b"1," + long_id + b",a,3\n")], tmp_path
    )
    run([mem(HEADER + b"1," + b"y" * 256 + b",a,3\n")], tmp_path)


def test_empty_and_header_only(tmp_path: Path) -> None:
    assert "empty" in fail([mem(b"")], tmp_path)
    assert "no data rows" in fail([mem(HEADER)], tmp_path)
    assert "no data rows" in fail([mem(HEADER.rstrip())], tmp_path)


def test_undecodable_bytes(tmp_path: Path) -> None:
    msg = fail([mem(HEADER + b"1,2,click,3\n1,\xff\xfe,click,3\n")], tmp_path)
    assert "interactions.csv row 2, column ITEM_ID" in msg and "UTF-8" in msg


def test_wrong_column_count(tmp_path: Path) -> None:
    msg = fail([mem(HEADER + b"1,2,click,3\n1,2,click,3,4\n")], tmp_path)
    assert "row 2" in msg and "columns" in msg


def test_unreadable_source(tmp_path: Path) -> None:
    def broken() -> io.BytesIO:
        raise OSError("connection reset by peer")

    assert "connection reset by peer" in fail([CsvSource("s3://b/k.csv", broken)], tmp_path)


def test_failure_leaves_previous_intact_and_no_partial_dir(tmp_path: Path) -> None:
    first = run([mem(HEADER + b"1,10,click,100\n")], tmp_path)
    snapshot_files = {p.name: p.read_bytes() for p in first.snapshot.iterdir()}
    bad = [mem(HEADER + b"2,20,click,200\n", "a.csv"), mem(HEADER + b"3,30,click,oops\n", "b.csv")]
    assert "b.csv row 1, column TIMESTAMP" in fail(bad, tmp_path, previous=first.snapshot, mode="INCREMENTAL")
    assert list((tmp_path / "snaps").iterdir()) == [first.snapshot]
    assert {p.name: p.read_bytes() for p in first.snapshot.iterdir()} == snapshot_files
    assert pq.read_table(next(first.snapshot.iterdir())).num_rows == 1


def test_bad_mode_and_type(tmp_path: Path) -> None:
    assert "mode" in fail([mem(HEADER + b"1,2,a,3\n")], tmp_path, mode="PARTIAL")
    assert "not supported" in fail([mem(HEADER + b"1,2,a,3\n")], tmp_path, dataset_type="ACTIONS")
