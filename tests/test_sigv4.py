"""SigV4 verification: the direct fast path agrees with botocore's signer, and falls back to it."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

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
    fast = sigv4._plain_signature(
        "POST", path, "", headers, payload, tuple(signed), "test-secret", headers["x-amz-date"], scope
    )
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
    query = "b=2&a=1%20x"
    assert sigv4._plain_signature("POST", "/recommendations", query, headers, payload, ("host",), "s", "x", "x") is None
    assert sigv4.verify("POST", url, headers, b"{}", CREDS).access_key_id == "AKIDTEST"
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", url.replace("b=2", "b=3"), headers, b"{}", CREDS)


def test_malformed_date_is_invalid_signature():
    url = "http://127.0.0.1:8080/recommendations"
    headers = _signed(url, b"{}", {})
    for bad in ("2026-01-01T00:00:00Z", "20261301T000000Z", ""):
        with pytest.raises(InvalidSignatureException, match="X-Amz-Date"):
            sigv4.verify("POST", url, {**headers, "x-amz-date": bad}, b"{}", CREDS)


def test_headers_alone_are_checked_before_the_body():
    url = "http://127.0.0.1:8080/"
    body = b'{"maxResults": 5}'
    headers = _signed(url, body, {"X-Amz-Target": "AmazonPersonalize.ListCampaigns"})
    auth = sigv4.authorize(headers, CREDS)
    assert auth.access_key_id == "AKIDTEST" and "x-amz-target" in auth.signed and "secret" not in repr(auth)
    assert sigv4.check_signature(auth, "POST", "/", "", headers, body).region == "eu-west-1"


@pytest.mark.parametrize(
    ("signed", "message"),
    [(["host", "x-amz-date"], "'X-Amz-Target' must be"), (["x-amz-date", "x-amz-target"], "'Host' or ':authority'")],
)
def test_headers_the_server_acts_on_must_be_signed(signed, message):
    url = "http://127.0.0.1:8080/"
    request = AWSRequest(method="POST", url=url, data=b"{}", headers={"X-Amz-Target": "AmazonPersonalize.X"})
    credentials = Credentials("AKIDTEST", "test-secret")
    sigv4._FixedHeadersSigner(credentials, "personalize", "eu-west-1", signed).add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()} | {"host": "127.0.0.1:8080"}
    with pytest.raises(InvalidSignatureException, match=message):
        sigv4.authorize(headers, CREDS)


def test_a_signed_header_must_be_sent():
    url = "http://127.0.0.1:8080/recommendations"
    headers = _signed(url, b"{}", {"X-Custom": "a"})
    del headers["x-custom"]
    with pytest.raises(InvalidSignatureException, match="'x-custom' is named as a SignedHeader"):
        sigv4.authorize(headers, CREDS)


def test_content_sha256_must_be_the_body_hash():
    url = "http://127.0.0.1:8080/events"
    body = b'{"trackingId": "t"}'
    good = _signed(url, body, {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    assert sigv4.verify("POST", url, good, body, CREDS).access_key_id == "AKIDTEST"
    unsigned_payload = _signed(url, b"{}", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        sigv4.verify("POST", url, unsigned_payload, body, CREDS)


def _mostly(valid: list[str], invalid: list[str]) -> st.SearchStrategy[str]:
    """One of ``valid`` or ``invalid``, each valid one three times as likely (a third of the headers match)."""
    return st.sampled_from(valid * 3 + invalid)


_SPACES = _mostly([" ", "  ", "\t", "\u2003"], ["", "\n", ","])
_COMMAS = _mostly([",", ", ", ",\t", ",\u2003"], ["", " ", " ,"])
_WORDS = _mostly(["AKIDTEST/20260101/r/s/aws4_request", "host;x-amz-date"], ["a,b", "Signature=ab", "", "x y"])
_AUTHORIZATIONS = st.tuples(
    _mostly(["AWS4-HMAC-SHA256"], ["AWS4-HMAC-SHA25", " AWS4-HMAC-SHA256"]),
    _SPACES,
    _mostly(["Credential="], ["Credential"]),
    _WORDS,
    _COMMAS,
    _mostly(["SignedHeaders="], [""]),
    _WORDS,
    _COMMAS,
    _mostly(["Signature="], ["Signature", "Signature=Signature="]),
    _mostly(["0123abcdef", "ABCDEF"], ["xyz", "", "ab Signature=cd", "beef ", "ab\n", "ab, Signature=cd"]),
    _mostly(["", " ", "\n"], ["x"]),
).map("".join)


@settings(max_examples=1500, deadline=None, database=None)
@given(_AUTHORIZATIONS)
def test_authorization_parse_reads_what_the_whole_pattern_reads(text):
    """The split parse (its head cached) accepts exactly what ``_AUTH`` matches, with the same groups."""
    match = sigv4._AUTH.match(text.strip())
    expected = None if match is None else (match.group("cred"), match.group("signed"), match.group("sig"))
    assert sigv4._parse_authorization(text) == expected
    assert sigv4._parse_authorization(text) == expected  # the second read comes from the cache


def test_a_well_formed_authorization_parses():
    text = "AWS4-HMAC-SHA256 Credential=K/20260101/r/s/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab12"
    assert sigv4._parse_authorization(text) == ("K/20260101/r/s/aws4_request", "host;x-amz-date", "ab12")


def test_a_request_signing_many_headers_is_checked_by_botocore():
    """The direct path (and its caches) takes only the few headers SDKs sign; more still verify, by botocore."""
    url = "http://127.0.0.1:8080/recommendations"
    headers = _signed(url, b"{}", {f"X-Extra-{i:02d}": str(i) for i in range(40)})
    auth = sigv4.authorize(headers, CREDS)
    assert len(auth.signed) > sigv4._PLAIN_MAX_SIGNED
    payload = hashlib.sha256(b"{}").hexdigest()
    fast = sigv4._plain_signature(
        "POST", "/recommendations", "", headers, payload, auth.signed, "test-secret", auth.amz_date, auth.scope
    )
    assert fast is None
    assert sigv4.verify("POST", url, headers, b"{}", CREDS).access_key_id == "AKIDTEST"
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", url, {**headers, "x-extra-07": "8"}, b"{}", CREDS)
