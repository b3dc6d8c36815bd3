"""SigV4 verification: recompute the client's signature with botocore's signer.

Only the headers the client listed in ``SignedHeaders`` are signed, with the
client's own ``X-Amz-Date``, so the signature matches exactly what botocore
(or any AWS SDK) computed; that list must hold every header the server acts on.
Checks split in two: ``authorize`` needs only the headers (so a request can be
refused before its body is read), ``check_signature`` the body too. Secrets are
compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ..errors import (
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)
_AMZ_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
MAX_CLOCK_SKEW_SECONDS = 15 * 60


@dataclass(frozen=True)
class SignedIdentity:
    """Who signed the request and for which region/service."""

    access_key_id: str
    region: str
    service: str


class _FixedHeadersSigner(SigV4Auth):
    """botocore's SigV4 signer restricted to the client's SignedHeaders list."""

    def __init__(self, credentials: Credentials, service: str, region: str, signed: list[str]) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest):  # type: ignore[override]
        headers = super().headers_to_sign(request)
        for name in list(headers.keys()):
            if name.lower() not in self._signed:
                del headers[name]
        for name in self._signed:
            if name not in headers and name in request.headers:
                headers[name] = request.headers[name]
        return headers


# Headers the server acts on: a signature that leaves one out would let anyone who saw a request
# replay it with that header changed (another X-Amz-Target, say). Each SDK signs them by default.
# Content-Type is not among them: the server never reads it (every body is parsed as JSON).
ALWAYS_SIGNED = ("host", "x-amz-date")
SIGNED_WHEN_SENT = ("x-amz-target", "x-amz-content-sha256")
_SHOWN = {
    "host": "'Host' or ':authority'",
    "x-amz-date": "'X-Amz-Date'",
    "x-amz-target": "'X-Amz-Target'",
    "x-amz-content-sha256": "'X-Amz-Content-SHA256'",
}


@dataclass(frozen=True)
class Authorization:
    """A request's Authorization header, checked against everything but the body."""

    access_key_id: str
    secret: str = field(repr=False)
    scope: str  # DATE/REGION/SERVICE/aws4_request
    region: str
    service: str
    signed: tuple[str, ...]
    signature: str
    amz_date: str


def authorize(headers: Mapping[str, str], credentials: Mapping[str, str], now: datetime | None = None) -> Authorization:
    """Check all the headers can tell before the body is read: the Authorization header's form, a known
    key id, the date and its skew, and that every header the server acts on is signed and sent."""
    authorization = headers.get("authorization")
    if not authorization:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    match = _AUTH.match(authorization.strip())
    if not match:
        raise InvalidSignatureException("Authorization header is not a valid AWS4-HMAC-SHA256 signature")
    parts = match.group("cred").split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise InvalidSignatureException("Credential scope must be KEY/DATE/REGION/SERVICE/aws4_request")
    key_id, scope_date, region, service, _ = parts
    secret = credentials.get(key_id)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    stamp = _AMZ_DATE.match(amz_date)
    try:
        if stamp is None:
            raise ValueError(amz_date)
        signed_at = datetime(*(int(x) for x in stamp.groups()), tzinfo=UTC)
    except ValueError:
        raise InvalidSignatureException("X-Amz-Date header is missing or malformed") from None
    if not amz_date.startswith(scope_date):
        raise InvalidSignatureException("Credential scope date does not match X-Amz-Date")
    skew = abs(((now or datetime.now(UTC)) - signed_at).total_seconds())
    if skew > MAX_CLOCK_SKEW_SECONDS:
        raise InvalidSignatureException("Signature expired: request time is more than 15 minutes from server time")
    signed = tuple(h.strip().lower() for h in match.group("signed").split(";"))
    for name in ALWAYS_SIGNED + tuple(h for h in SIGNED_WHEN_SENT if h in headers):
        if name not in signed:
            raise InvalidSignatureException(f"{_SHOWN[name]} must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed:
        if name not in headers:
            raise InvalidSignatureException(
                f"'{name}' is named as a SignedHeader, but it does not exist in the HTTP request."
            )
    return Authorization(
        key_id, secret, "/".join(parts[1:]), region, service, signed, match.group("sig").lower(), amz_date
    )


def check_signature(
    auth: Authorization, method: str, url: str, headers: Mapping[str, str], body: bytes
) -> SignedIdentity:
    """Check the signature ``authorize`` parsed covers this method, URL, signed headers and body."""
    payload_hash = hashlib.sha256(body).hexdigest()
    declared_hash = headers.get("x-amz-content-sha256")
    if declared_hash is not None and declared_hash.lower() != payload_hash:
        # botocore's canonical request takes this header for the body's hash: it must be the body's.
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
    signed = list(auth.signed)
    fast = _plain_signature(method, url, headers, payload_hash, signed, auth.secret, auth.amz_date, auth.scope)
    if fast is not None and hmac.compare_digest(fast, auth.signature):
        return SignedIdentity(auth.access_key_id, auth.region, auth.service)
    request = AWSRequest(method=method, url=url, data=body)
    for name in signed:
        request.headers[name] = headers[name]
    request.context["timestamp"] = auth.amz_date
    signer = _FixedHeadersSigner(Credentials(auth.access_key_id, auth.secret), auth.service, auth.region, signed)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return SignedIdentity(auth.access_key_id, auth.region, auth.service)


def verify(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    now: datetime | None = None,
) -> SignedIdentity:
    """Check the request's SigV4 signature against ``credentials`` (key id -> secret)."""
    return check_signature(authorize(headers, credentials, now), method, url, headers, body)


_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9\-._~/]*$")


@lru_cache(maxsize=64)
def _signing_key(secret: str, scope: str) -> bytes:
    """The SigV4 key for ``DATE/REGION/SERVICE/aws4_request`` (it changes once a day per scope)."""
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _plain_signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_hash: str,
    signed: list[str],
    secret: str,
    amz_date: str,
    scope: str,
) -> str | None:
    """The signature of a plain request (no query, unreserved path), computed directly; None otherwise.

    Every request of the Personalize APIs is plain, and this is ~5x cheaper than building a
    botocore request. A request it does not cover, or whose signature it does not reproduce,
    is checked by botocore's signer instead, so it can only accept a signature botocore's
    canonical form also yields (tests compare the two).
    """
    parsed = urlsplit(url)
    if parsed.query or not _PLAIN_PATH.match(parsed.path) or "//" in parsed.path or "/." in parsed.path:
        return None
    if signed != sorted(set(signed)):
        return None
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)
    canonical = "\n".join([method, parsed.path, "", canonical_headers, ";".join(signed), payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(_signing_key(secret, scope), to_sign.encode(), hashlib.sha256).hexdigest()
