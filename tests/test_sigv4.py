"""SigV4 verification: the direct fast path agrees with botocore's signer, and falls back to it."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from openpersonalize.api import sigv4
from openpersonalize.errors import InvalidSignatureException

CREDS = {"AKIDTEST": "test-secret"}


def _signed(url: str, body: bytes, headers: dict[str, str], service: str = "personalize") -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials("AKIDTEST", "test-secret"), service, "eu-west-1").add_auth(request)
    out = {k.lower(): v for k, v in request.headers.items()}
    out["host"] = url.split("/")[2]
    return out


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/", {"X-Amz-Target": "AmazonPersonalize.ListCampaigns", "Content-Type": "application/x-amz-json-1.1"}),
        ("/recommendations", {"Content-Type": "application/json"}),
        ("/personalize-ranking", {"Content-Type": "application/json", "X-Custom": "a   b  c"}),
        ("/events", {}),
    ],
)
def test_fast_path_reproduces_botocore(path, extra):
    url = f"http://127.0.0.1:8080{path}"
    body = json.dumps({"campaignArn": "arn:aws:personalize:eu-west-1:1:campaign/c", "userId": "ü"}).encode()
    headers = _signed(url, body, extra)
    match = sigv4._AUTH.match(headers["authorization"])
    signed = match.group("signed").split(";")
    scope = "/".join(match.group("cred").split("/")[1:])
    payload = hashlib.sha256(body).hexdigest()
    fast = sigv4._plain_signature("POST", url, headers, payload, signed, "test-secret", headers["x-amz-date"], scope)
    assert fast == match.group("sig")
    assert sigv4.verify("POST", url, headers, body, CREDS).region == "eu-west-1"
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", url, headers, body + b" ", CREDS)
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", url, {**headers, "host": "127.0.0.1:8081"}, body, CREDS)


def test_requests_outside_the_fast_path_use_botocore():
    url = "http://127.0.0.1:8080/recommendations?b=2&a=1%20x"
    headers = _signed(url, b"{}", {})
    payload = hashlib.sha256(b"{}").hexdigest()
    assert sigv4._plain_signature("POST", url, headers, payload, ["host"], "s", "20260101T000000Z", "x") is None
    assert sigv4.verify("POST", url, headers, b"{}", CREDS).access_key_id == "AKIDTEST"
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", url.replace("b=2", "b=3"), headers, b"{}", CREDS)


def test_malformed_date_is_invalid_signature():
    url = "http://127.0.0.1:8080/recommendations"
    headers = _signed(url, b"{}", {})
    for bad in ("2026-01-01T00:00:00Z", "20261301T000000Z", ""):
        with pytest.raises(InvalidSignatureException, match="X-Amz-Date"):
            sigv4.verify("POST", url, {**headers, "x-amz-date": bad}, b"{}", CREDS)
