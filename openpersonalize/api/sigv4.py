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
import time
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
# _AUTH in two parts: what comes before the signature is the same for a client's requests all day.
_AUTH_HEAD = re.compile(r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*")
_HEX = re.compile(r"[0-9a-fA-F]+")
_AMZ_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
MAX_CLOCK_SKEW_SECONDS = 15 * 60
_MAX_DATE_LENGTH = 32  # past anything _AMZ_DATE matches: longer values are refused before the parse cache


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


@dataclass(slots=True)
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
    parsed = _parse_authorization(authorization)
    if parsed is None:
        raise InvalidSignatureException("Authorization header is not a valid AWS4-HMAC-SHA256 signature")
    credential, signed_text, signature = parsed
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise InvalidSignatureException("Credential scope must be KEY/DATE/REGION/SERVICE/aws4_request")
    key_id, scope_date, region, service, _ = parts
    secret = credentials.get(key_id)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    signed_at = _signed_at(amz_date) if len(amz_date) <= _MAX_DATE_LENGTH else None
    if signed_at is None:
        raise InvalidSignatureException("X-Amz-Date header is missing or malformed")
    if not amz_date.startswith(scope_date):
        raise InvalidSignatureException("Credential scope date does not match X-Amz-Date")
    skew = abs((time.time() if now is None else now.timestamp()) - signed_at)
    if skew > MAX_CLOCK_SKEW_SECONDS:
        raise InvalidSignatureException("Signature expired: request time is more than 15 minutes from server time")
    signed = _signed_names(signed_text)
    for name in ALWAYS_SIGNED:
        if name not in signed:
            raise InvalidSignatureException(f"{_SHOWN[name]} must be a 'SignedHeader' in the AWS Authorization.")
    for name in SIGNED_WHEN_SENT:
        if name in headers and name not in signed:
            raise InvalidSignatureException(f"{_SHOWN[name]} must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed:
        if name not in headers:
            raise InvalidSignatureException(
                f"'{name}' is named as a SignedHeader, but it does not exist in the HTTP request."
            )
    return Authorization(key_id, secret, "/".join(parts[1:]), region, service, signed, signature.lower(), amz_date)


def _parse_authorization(text: str) -> tuple[str, str, str] | None:
    """The credential, SignedHeaders and signature of an Authorization header, read as ``_AUTH`` reads
    it; None when it does not match.

    ``_AUTH`` takes the last ``Signature=`` (hex digits follow it to the end), so the header is split
    there: the part before is parsed once per client and day (bounded cache), the signature checked alone.
    """
    head, found, signature = text.strip().rpartition("Signature=")
    if not found or _HEX.fullmatch(signature) is None:
        return None
    parsed = _parse_head_once(head) if len(head) <= _MEMO_MAX_LENGTH else _parse_head(head)
    return None if parsed is None else (*parsed, signature)


def _parse_head(head: str) -> tuple[str, str] | None:
    match = _AUTH_HEAD.fullmatch(head)
    return None if match is None else (match.group("cred"), match.group("signed"))


@lru_cache(maxsize=64)
def _signed_at(amz_date: str) -> float | None:
    """The epoch seconds of an ``X-Amz-Date`` (YYYYMMDDTHHMMSSZ), None when it is no such date.

    A client sends the same one for a second's worth of requests, so parsing it once each is enough.
    """
    stamp = _AMZ_DATE.match(amz_date)
    if stamp is None:
        return None
    try:
        return datetime(*(int(x) for x in stamp.groups()), tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _signed_names(text: str) -> tuple[str, ...]:
    """The SignedHeaders list, lower-cased; a short one (every real one) is parsed once."""
    return _parse_signed_names(text) if len(text) <= _MEMO_MAX_LENGTH else _split_names(text)


def _split_names(text: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in text.split(";"))


_MEMO_MAX_LENGTH = 512
_PLAIN_MAX_SIGNED = 32  # SDKs sign 3 to 6 headers
_parse_signed_names = lru_cache(maxsize=64)(_split_names)
_parse_head_once = lru_cache(maxsize=64)(_parse_head)


def check_signature(
    auth: Authorization, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> SignedIdentity:
    """Check the signature ``authorize`` parsed covers this method, path, query, signed headers and body."""
    payload_hash = hashlib.sha256(body).hexdigest()
    declared_hash = headers.get("x-amz-content-sha256")
    if declared_hash is not None and declared_hash.lower() != payload_hash:
        # botocore's canonical request takes this header for the body's hash: it must be the body's.
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
    signed = auth.signed
    fast = _plain_signature(method, path, query, headers, payload_hash, signed, auth.secret, auth.amz_date, auth.scope)
    if fast is not None and hmac.compare_digest(fast, auth.signature):
        return _identity(auth.access_key_id, auth.region, auth.service)
    url = f"http://{headers['host']}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body)
    for name in signed:
        request.headers[name] = headers[name]
    request.context["timestamp"] = auth.amz_date
    credentials = Credentials(auth.access_key_id, auth.secret)
    signer = _FixedHeadersSigner(credentials, auth.service, auth.region, list(signed))
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return _identity(auth.access_key_id, auth.region, auth.service)


@lru_cache(maxsize=64)
def _identity(access_key_id: str, region: str, service: str) -> SignedIdentity:
    return SignedIdentity(access_key_id, region, service)


def verify(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    now: datetime | None = None,
) -> SignedIdentity:
    """Check the request's SigV4 signature against ``credentials`` (key id -> secret)."""
    parts = urlsplit(url)
    return check_signature(authorize(headers, credentials, now), method, parts.path, parts.query, headers, body)


_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9\-._~/]*$")


@lru_cache(maxsize=64)
def _signing_key(secret: str, scope: str) -> bytes:
    """The SigV4 key for ``DATE/REGION/SERVICE/aws4_request`` (it changes once a day per scope)."""
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


@lru_cache(maxsize=256)
def _plain_path(path: str) -> bool:
    """A path botocore's canonical form leaves as it is: unreserved characters, no empty or dot segment."""
    return bool(_PLAIN_PATH.match(path)) and "//" not in path and "/." not in path


@lru_cache(maxsize=64)
def _in_canonical_order(signed: tuple[str, ...]) -> bool:
    return list(signed) == sorted(set(signed))


def _plain_signature(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    payload_hash: str,
    signed: tuple[str, ...],
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
    if query or len(path) > _MEMO_MAX_LENGTH or len(signed) > _PLAIN_MAX_SIGNED:
        return None  # what the caches below must not hold goes to botocore's signer
    if not _plain_path(path) or not _in_canonical_order(signed):
        return None
    canonical_headers = "".join([f"{name}:{' '.join(headers[name].split())}\n" for name in signed])
    canonical = f"{method}\n{path}\n\n{canonical_headers}\n{';'.join(signed)}\n{payload_hash}"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest}"
    return hmac.digest(_signing_key(secret, scope), to_sign.encode(), "sha256").hex()
