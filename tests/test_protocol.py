"""Wire-level behaviour: SigV4, malformed requests, unknown targets, limits, runtime placeholders."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from helpers import error_code
from server_harness import ACCESS_KEY, REGION, SECRET_KEY


def _signed_post(
    server, body: bytes, target: str | None, path: str = "/", secret: str = SECRET_KEY, method: str = "POST"
):
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method=method, url=server.url + path, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, secret), "personalize", REGION).add_auth(request)
    http = urllib.request.Request(server.url + path, data=body, headers=dict(request.headers), method=method)
    try:
        with urllib.request.urlopen(http, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), {k.lower(): v for k, v in exc.headers.items()}


def test_wrong_secret_is_invalid_signature(server):
    client = server.client(secret="wrong-secret")
    with pytest.raises(ClientError) as err:
        client.list_dataset_groups()
    assert error_code(err) == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_key_is_unrecognized_client(server):
    client = server.client(key="AKIDUNKNOWN")
    with pytest.raises(ClientError) as err:
        client.list_dataset_groups()
    assert error_code(err) == "UnrecognizedClientException"


def test_unsigned_request_is_refused(server):
    req = urllib.request.Request(
        server.url + "/", data=b"{}", method="POST", headers={"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 403
    assert json.loads(err.value.read())["__type"] == "MissingAuthenticationTokenException"


def test_tampered_body_fails_signature(server):
    body = b'{"name": "a"}'
    request = AWSRequest(
        method="POST", url=server.url + "/", data=body, headers={"X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "personalize", REGION).add_auth(request)
    http = urllib.request.Request(server.url + "/", data=b'{"name": "b"}', headers=dict(request.headers), method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(http, timeout=10)
    assert json.loads(err.value.read())["__type"] == "InvalidSignatureException"


def test_malformed_json_is_a_400(server):
    status, body, headers = _signed_post(server, b"{not json", "AmazonPersonalize.ListDatasetGroups")
    assert status == 400 and body["__type"] == "SerializationException"
    assert headers.get("x-amzn-errortype") == "SerializationException"


def test_unknown_target_is_a_400(server):
    status, body, _ = _signed_post(server, b"{}", "AmazonPersonalize.StealEverything")
    assert status == 400 and body["__type"] == "UnknownOperationException"


def test_oversized_body_is_refused(server):
    status, body, _ = _signed_post(
        server, b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}', "AmazonPersonalize.CreateDatasetGroup"
    )
    assert status == 413 and body["__type"] == "RequestEntityTooLargeException"


def test_missing_required_member(server):
    status, body, _ = _signed_post(server, b"{}", "AmazonPersonalize.CreateDatasetGroup")
    assert status == 400 and body["__type"] == "InvalidInputException" and "'name'" in body["message"]


def test_runtime_and_events_answer_aws_errors(server):
    runtime = server.client("personalize-runtime")
    with pytest.raises(ClientError) as err:
        runtime.get_recommendations(campaignArn="arn:aws:personalize:eu-west-3:000000000000:campaign/none", userId="1")
    assert error_code(err) == "ResourceNotFoundException"
    events = server.client("personalize-events")
    with pytest.raises(ClientError) as err:
        events.put_events(trackingId="nope", sessionId="s", eventList=[{"eventType": "click", "sentAt": 1}])
    assert error_code(err) == "ResourceNotFoundException"


def test_unknown_path_is_an_aws_error(server):
    status, body, _ = _signed_post(server, b"{}", None, path="/nothing-here")
    assert status == 400 and body["__type"] == "UnknownOperationException"


def test_each_protocol_frames_answers_as_aws_does(server, personalize):
    """JSON 1.1 answers every client error with 400; REST-JSON uses the model's status and application/json."""
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset-group/never-created"
    with pytest.raises(ClientError) as err:
        personalize.describe_dataset_group(datasetGroupArn=arn)
    meta = err.value.response["ResponseMetadata"]
    assert error_code(err) == "ResourceNotFoundException"
    assert (meta["HTTPStatusCode"], meta["HTTPHeaders"]["content-type"]) == (400, "application/x-amz-json-1.1")
    ok = personalize.list_dataset_groups()["ResponseMetadata"]["HTTPHeaders"]["content-type"]
    assert ok == "application/x-amz-json-1.1"

    campaign = "arn:aws:personalize:us-east-1:000000000000:campaign/never-created"
    with pytest.raises(ClientError) as err:
        server.client("personalize-runtime").get_recommendations(campaignArn=campaign, userId="1")
    meta = err.value.response["ResponseMetadata"]
    assert error_code(err) == "ResourceNotFoundException"
    assert (meta["HTTPStatusCode"], meta["HTTPHeaders"]["content-type"]) == (404, "application/json")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_operations_answer_post_only(server, method):
    """A signed non-POST request naming an operation runs nothing (it listed campaigns before)."""
    status, body, _ = _signed_post(server, b"{}", "AmazonPersonalize.ListCampaigns", method=method)
    assert status == 400 and body["__type"] == "UnknownOperationException"


def test_null_members_are_members_not_sent(server):
    """JSON null reads as absent, as AWS reads it: handlers never see a None where the model allows a value."""
    status, body, _ = _signed_post(
        server, b'{"maxResults": null, "nextToken": null}', "AmazonPersonalize.ListDatasetGroups"
    )
    assert status == 200 and isinstance(body["datasetGroups"], list)
    status, body, _ = _signed_post(server, b'{"name": null}', "AmazonPersonalize.CreateDatasetGroup")
    assert status == 400 and "'name'" in body["message"]
