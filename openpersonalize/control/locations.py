"""Data locations from requests: s3://, file:// and absolute local paths.

Local paths are confined to the operator's allowed directories, minus the server's own
state (data directory, database), after resolving symlinks, when the request arrives and
again when a job opens each file (``store.local_files.Roots``), so a request can never read
or write arbitrary server files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import ParseResult, unquote, urlparse

from ..data.csv_import import CsvSource
from ..errors import InvalidInputException
from ..store.local_files import OUTSIDE, LocationError, Roots, list_files
from ..store.outputs import Destination
from ..store.outputs import s3_client as s3_client  # re-exported: the S3 client of job inputs too
from ..store.s3_errors import s3_failure
from ..store.sources import LocalFile, S3Object, file_size


def parse_s3(location: str, field: str = "dataLocation") -> tuple[str, str]:
    """(bucket, key) of an ``s3://`` location."""
    parsed = _parse_url(location, field)
    if not parsed.netloc:
        raise InvalidInputException(f"{field} {location!r} has no bucket name.")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(location: str, roots: Roots, field: str = "dataLocation") -> Path:
    """The resolved local path of ``location``; InvalidInputException unless ``roots`` lets jobs use it."""
    if location.startswith("file://"):
        parsed = _parse_url(location, field)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInputException(f"{field} {location!r}: file:// URLs must name a local absolute path.")
        raw = unquote(parsed.path)
    else:
        raw = location
    _refuse_nul(raw, location, field)
    if not raw.startswith("/"):
        raise InvalidInputException(
            f"{field} {location!r} must be s3://bucket/key, file:///abs/path or an absolute path."
        )
    resolved = Path(os.path.realpath(raw))
    if roots.root_of(resolved) is None:
        reason = roots.refusal(resolved)
        hint = ""
        if reason == OUTSIDE:
            hint = " (start the server with --allow-path DIR to allow one"
            hint += "; this server allows no local directory, only s3:// locations)" if not roots.allowed else ")"
        raise InvalidInputException(f"{field} {location!r} {reason}{hint}.")
    return resolved


def _parse_url(location: str, field: str) -> ParseResult:
    """``urlparse``, whose ValueError on a malformed host (an unbalanced ``[`` or ``]``) becomes a client error."""
    try:
        return urlparse(location)
    except ValueError as exc:
        raise InvalidInputException(f"{field} {location!r} is not a valid URL: {exc}.") from None


def _refuse_nul(text: str, location: str, field: str) -> None:
    if "\x00" in text:
        raise InvalidInputException(f"{field} {location!r} contains a NUL character.")


def check_location(location: str, roots: Roots, field: str = "dataLocation") -> None:
    """Validate a location's form (and confinement, for local paths) at request time."""
    if location.startswith("s3://"):
        _refuse_nul(location, location, field)
        parse_s3(location, field)
    else:
        local_path(location, roots, field)


def source_location(params: dict[str, Any], roots: Roots) -> str:
    """A request's ``dataSource.dataLocation``: required, and checked as ``check_location`` does."""
    location = (params.get("dataSource") or {}).get("dataLocation")
    if not location:
        raise InvalidInputException("dataSource.dataLocation is required.")
    check_location(location, roots, "dataSource.dataLocation")
    return location


def csv_sources(location: str, roots: Roots, s3_factory: Callable[[], Any]) -> list[CsvSource]:
    """Every CSV a location names: one file/object, or each CSV under a directory/prefix."""
    if location.startswith("s3://"):
        return _s3_sources(location, s3_factory())
    path, files = _local_files(location, roots, (".csv",), "CSV files")
    named = [(path.name if p == path else str(p.relative_to(path)), LocalFile(p, roots)) for p in files]
    return [CsvSource(name, file, file_size(file.path), file) for name, file in named]


def _local_files(location: str, roots: Roots, suffixes: tuple[str, ...], what: str) -> tuple[Path, list[Path]]:
    """The resolved local ``location`` and the files it names, listed without following links outside."""
    path = local_path(location, roots)
    files = list_files(path, roots, suffixes)
    if not files:
        raise LocationError(f"No {what} under {location}")
    return path, files


def _local_opener(path: Path, roots: Roots) -> Callable[[], BinaryIO]:
    """Opens ``path`` when called, checking it against the roots then (not only when listed)."""
    return LocalFile(path, roots)


def _s3_keys(client: Any, location: str, prefix: str, keep: Callable[[str], bool]) -> dict[str, int]:
    """The object ``location`` names when it exists, else the ``keep`` keys listed under ``prefix``; their sizes."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3(location)
    try:
        if key and not key.endswith("/"):
            try:
                return {key: client.head_object(Bucket=bucket, Key=key)["ContentLength"]}
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
        keys: dict[str, int] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.update((o["Key"], o["Size"]) for o in page.get("Contents", []) if keep(o["Key"]))
        return keys
    except (ClientError, BotoCoreError) as exc:
        raise LocationError(f"Cannot read {location}: {s3_failure(exc)}") from None


def _s3_sources(location: str, client: Any) -> list[CsvSource]:
    bucket, key = parse_s3(location)
    keys = _s3_keys(client, location, key, lambda k: k.lower().endswith(".csv"))
    if not keys:
        raise LocationError(f"No CSV objects at {location}")
    objects = [S3Object(bucket, k, client.meta.endpoint_url, client) for k in sorted(keys)]
    return [CsvSource(f"s3://{bucket}/{o.key}", o, keys[o.key], o) for o in objects]


def data_sources(
    location: str, roots: Roots, s3_factory: Callable[[], Any], suffixes: tuple[str, ...] = ()
) -> list[CsvSource]:
    """Every file a location names (any name when ``suffixes`` is empty): one file/object or those under it."""
    if location.startswith("s3://"):
        client = s3_factory()
        bucket, key = parse_s3(location)
        prefix = key if not key or key.endswith("/") else key + "/"
        keys = _s3_keys(
            client,
            location,
            prefix,
            lambda k: not k.endswith("/") and (not suffixes or k.lower().endswith(suffixes)),
        )
        if not keys:
            raise LocationError(f"Input path {location} does not exist")

        def opener(k: str) -> Callable[[], Any]:
            return lambda: client.get_object(Bucket=bucket, Key=k)["Body"]

        return [CsvSource(f"s3://{bucket}/{k}", opener(k)) for k in sorted(keys)]
    _, files = _local_files(location, roots, suffixes, "input files")
    return [CsvSource(str(p), _local_opener(p, roots)) for p in files]


def destination(
    location: str, roots: Roots, endpoint_url: str | None, field: str = "jobOutput.s3DataDestination.path"
) -> Destination:
    """The output directory or S3 prefix ``location`` (the request's ``field``, which refusals name).

    A local one is resolved and checked against the roots here, and again whenever a file is opened in it.
    """
    if location.startswith("s3://"):
        bucket, key = parse_s3(location, field)
        return Destination.s3(bucket, key, endpoint_url)
    return Destination.local(local_path(location, roots, field), roots)
