"""Streaming CSV -> Parquet snapshot import."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import poc_notebook02
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import MOVIELENS as ML
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

INTERACTIONS = parse_schema(json.dumps(movielens.INTERACTIONS_SCHEMA))
ITEMS = parse_schema(json.dumps(movielens.ITEMS_SCHEMA))
NOTEBOOK02_ITEMS = parse_schema(json.dumps(poc_notebook02.ITEMS_SCHEMA))


def avro(record: str, fields: str, domain: str | None = None) -> DatasetSchema:
    """A schema from ``"NAME:type, NAME:type?, NAME:string!"`` (``?`` nullable, ``!`` categorical)."""
    specs = []
    for part in fields.split(","):
        name, kind = part.strip().split(":")
        spec = {"name": name, "type": ["null", kind.rstrip("?!")] if kind.endswith("?") else kind.rstrip("!")}
        if kind.endswith("!"):
            spec["categorical"] = True
        specs.append(spec)
    return parse_schema(json.dumps({"type": "record", "name": record, "fields": specs}), domain)


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


USERS = avro("Users", "USER_ID:string, AGE:int?, SCORE:double, VIP:boolean, VISITS:long")


def test_bad_metadata_values_are_stored_as_missing_and_counted(tmp_path: Path) -> None:
    data = (
        b"USER_ID,AGE,SCORE,VIP,VISITS\n"
        b"u1,,1.5,true,9223372036854775807\n"  # AGE is nullable: its empty value is not counted
        b"u2,+30,1e3,TRUE,-9223372036854775808\n"
        b"u3,x,abc,yes,9223372036854775808\n"  # every value bad; VISITS one past the long range
        b"u4,99999999999,,false,1.0\n"  # AGE past the int range, SCORE empty although required
        b"u5,-7,nan,,\n"
    )
    result = run([mem(data, "users.csv")], tmp_path, schema=USERS, dataset_type="USERS")
    assert result.rows == 5
    rows = {r.pop("USER_ID"): r for r in read_snapshot(result.snapshot).to_pylist()}
    assert rows == {
        "u1": {"AGE": None, "SCORE": 1.5, "VIP": True, "VISITS": 2**63 - 1},
        "u2": {"AGE": 30, "SCORE": 1000.0, "VIP": True, "VISITS": -(2**63)},
        "u3": {"AGE": None, "SCORE": None, "VIP": None, "VISITS": None},
        "u4": {"AGE": None, "SCORE": None, "VIP": False, "VISITS": None},
        "u5": {"AGE": -7, "SCORE": None, "VIP": None, "VISITS": None},
    }
    assert result.missing == {
        "AGE": {"invalid": 2},
        "SCORE": {"invalid": 2, "empty": 1},
        "VIP": {"invalid": 1, "empty": 1},
        "VISITS": {"invalid": 2, "empty": 1},
    }
    table = read_snapshot(result.snapshot)
    assert table.schema.field("SCORE").nullable and not table.schema.field("USER_ID").nullable
    clean = run(
        [mem(b"USER_ID,AGE,SCORE,VIP,VISITS\nu1,1,2,true,3\n", "users.csv")],
        tmp_path,
        schema=USERS,
        dataset_type="USERS",
    )
    assert clean.missing == {}


def test_missing_counts_add_up_over_sources(tmp_path: Path) -> None:
    a = mem(b"ITEM_ID,GENRE,YEAR\n1,Drama,1999\n2,Drama,soon\n", "a.csv")
    b = mem(b"ITEM_ID,GENRE,YEAR\n3,,2001\n4,Drama,1990s\n", "b.csv")
    schema = NOTEBOOK02_ITEMS
    result = run([a, b], tmp_path, schema=schema, dataset_type="ITEMS")
    assert result.missing == {"YEAR": {"invalid": 2}, "GENRE": {"empty": 1}}


def test_interaction_metadata_is_lenient_but_reserved_fields_are_not(tmp_path: Path) -> None:
    schema = avro(
        "Interactions", "USER_ID:string, ITEM_ID:string, TIMESTAMP:long, EVENT_VALUE:float?, RATING_DEVICE:int"
    )
    header = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE,RATING_DEVICE\n"
    result = run([mem(header + b"1,2,3,0.5,phone\n1,3,4,,7\n")], tmp_path, schema=schema)
    assert read_snapshot(result.snapshot)["RATING_DEVICE"].to_pylist() == [None, 7]
    assert read_snapshot(result.snapshot)["EVENT_VALUE"].to_pylist() == [0.5, None]
    assert result.missing == {"RATING_DEVICE": {"invalid": 1}}
    assert fail([mem(header + b"1,2,3,high,7\n")], tmp_path, schema=schema) == (
        "interactions.csv row 1, column EVENT_VALUE: 'high' is not a float"
    )
    assert "row 1, column TIMESTAMP: empty value" in fail([mem(header + b"1,2,,1,7\n")], tmp_path, schema=schema)


def test_items_creation_timestamp_may_be_missing_but_must_be_a_long(tmp_path: Path) -> None:
    schema = avro("Items", "ITEM_ID:string, GENRE:string!, CREATION_TIMESTAMP:long")
    kw = {"schema": schema, "dataset_type": "ITEMS"}
    result = run([mem(b"ITEM_ID,GENRE,CREATION_TIMESTAMP\n1,A,100\n2,B,\n", "items.csv")], tmp_path, **kw)
    assert read_snapshot(result.snapshot)["CREATION_TIMESTAMP"].to_pylist() == [100, None]
    assert result.missing == {"CREATION_TIMESTAMP": {"empty": 1}}
    msg = fail([mem(b"ITEM_ID,GENRE,CREATION_TIMESTAMP\n1,A,yesterday\n", "items.csv")], tmp_path, **kw)
    assert msg == "items.csv row 1, column CREATION_TIMESTAMP: 'yesterday' is not a long"


def test_domain_reserved_fields_stay_strict(tmp_path: Path) -> None:
    schema = avro(
        "Items", "ITEM_ID:string, PRICE:float, CATEGORY_L1:string!, CREATION_TIMESTAMP:long, STOCK:int", "ECOMMERCE"
    )
    kw = {"schema": schema, "dataset_type": "ITEMS"}
    header = b"ITEM_ID,PRICE,CATEGORY_L1,CREATION_TIMESTAMP,STOCK\n"
    result = run([mem(header + b"1,9.5,shoes,100,lots\n", "items.csv")], tmp_path, **kw)
    assert result.missing == {"STOCK": {"invalid": 1}}
    assert "row 1, column PRICE: 'free' is not a float" in fail(
        [mem(header + b"1,free,shoes,100,3\n", "items.csv")], tmp_path, **kw
    )


def test_categorical_values_over_1000_characters_still_fail(tmp_path: Path) -> None:
    schema = NOTEBOOK02_ITEMS
    data = b"ITEM_ID,GENRE,YEAR\n1," + b"g" * 1001 + b",1999\n"
    msg = fail([mem(data, "items.csv")], tmp_path, schema=schema, dataset_type="ITEMS")
    assert msg == "items.csv row 1, column GENRE: value is longer than 1000 characters"


def test_notebook02_item_meta_imports_with_bad_years_missing(tmp_path: Path) -> None:
    """The notebook's own file and schema (YEAR a plain int): 13 titles have no plain year."""
    path = poc_notebook02.write_item_meta(ML / "movies.csv", tmp_path / "item-meta.csv")
    bad = poc_notebook02.bad_years(ML / "movies.csv")
    assert len(bad) == 13 and bad["171749"] == "2006\u20132007" and bad["40697"] == ""
    schema = NOTEBOOK02_ITEMS
    result = run([file_source(path)], tmp_path, schema=schema, dataset_type="ITEMS")
    assert result.rows == result.total_rows == 9742
    assert result.missing == {"YEAR": {"empty": 12, "invalid": 1}}
    # the schema live rows (PutItems) are shaped with too, so a snapshot and live rows export as one table
    assert pq.read_schema(next(result.snapshot.glob("*.parquet"))).equals(schema.arrow_schema())
    years = dict(zip(*read_snapshot(result.snapshot).select(["ITEM_ID", "YEAR"]).to_pydict().values(), strict=True))
    assert {item for item, year in years.items() if year is None} == set(bad)
    assert years["1"] == 1995 and sum(1970 <= (y or 0) < 1980 for y in years.values()) > 200


def _declared_not_null(schema: DatasetSchema) -> pa.Schema:
    """The snapshot schema of an older import: every field not nullable in the Avro schema declared not null."""
    return pa.schema([pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in schema.fields])


def test_incremental_over_a_snapshot_that_declared_metadata_not_null(tmp_path: Path) -> None:
    """Snapshots written before metadata could be missing declared YEAR/DEVICE not null; they still merge."""
    items_schema = NOTEBOOK02_ITEMS
    old_items = tmp_path / "old-items"
    old_items.mkdir()
    pq.write_table(
        pa.table({"ITEM_ID": ["1"], "GENRE": ["A"], "YEAR": [1990]}, _declared_not_null(items_schema)),
        old_items / "part-old.parquet",
    )
    merged = run(
        [mem(b"ITEM_ID,GENRE,YEAR\n2,B,later\n", "items.csv")],
        tmp_path,
        schema=items_schema,
        dataset_type="ITEMS",
        previous=old_items,
        mode="INCREMENTAL",
    )
    assert read_snapshot(merged.snapshot).to_pylist() == [
        {"ITEM_ID": "1", "GENRE": "A", "YEAR": 1990},
        {"ITEM_ID": "2", "GENRE": "B", "YEAR": None},
    ]
    ints_schema = avro("Interactions", "USER_ID:string, ITEM_ID:string, TIMESTAMP:long, DEVICE:string!")
    old_ints = tmp_path / "old-ints"
    old_ints.mkdir()
    row = {"USER_ID": ["u"], "ITEM_ID": ["1"], "TIMESTAMP": [5], "DEVICE": ["tv"]}
    pq.write_table(pa.table(row, _declared_not_null(ints_schema)), old_ints / "part-old.parquet")
    appended = run(
        [mem(b"USER_ID,ITEM_ID,TIMESTAMP,DEVICE\nv,2,6,\n")],
        tmp_path,
        schema=ints_schema,
        previous=old_ints,
        mode="INCREMENTAL",
    )
    schemas = {pq.read_schema(f) for f in appended.snapshot.glob("*.parquet")}
    assert len(schemas) == 1  # one schema for every file, so a snapshot reads (and exports) as one table
    rows = read_snapshot(appended.snapshot).select(["USER_ID", "DEVICE"]).to_pylist()
    assert sorted(rows, key=lambda r: r["USER_ID"]) == [
        {"USER_ID": "u", "DEVICE": "tv"},
        {"USER_ID": "v", "DEVICE": None},
    ]


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
    assert "not supported" in fail([mem(HEADER + b"1,2,a,3\n")], tmp_path, dataset_type="BANANAS")


PASSWD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def test_failure_reasons_never_echo_file_content(tmp_path: Path) -> None:
    """A file that is not a dataset (a password file, say) discloses nothing of itself in failureReason."""
    cases = {
        PASSWD: "passwd: required column USER_ID is missing from the header "
        "(the schema's columns: USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP)",
        HEADER + b"1,2,click,3\n" + PASSWD: "passwd row 2: expected 4 columns as in the header, got 1",
        # a row the diagnosis cannot parse either (a field past the csv module's limit): Arrow's
        # message quotes the row, the failure reason does not
        HEADER + b"1,2,click,3\n" + b"root:x:0:0" * 20_000 + b"\n": "passwd: not a valid CSV file "
        "(a row could not be parsed)",
        b"\x89PNG\r\n\x1a\n\x00\x00root\xff": "passwd: header is not valid UTF-8 (invalid start byte)",
    }
    for data, expected in cases.items():
        assert fail([mem(data, "passwd")], tmp_path) == expected


def test_an_offending_value_is_shown_trimmed(tmp_path: Path) -> None:
    msg = fail([mem(HEADER + b"1,2,click," + b"root:x:0:0:" * 50 + b"\n")], tmp_path)
    assert (
        msg == "interactions.csv row 1, column TIMESTAMP: " + repr(("root:x:0:0:" * 5)[:50] + "...") + " is not a long"
    )
