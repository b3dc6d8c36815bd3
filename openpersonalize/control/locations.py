"""Data locations from requests: s3://, file:// and absolute local paths.

Local paths are confined to the operator's allowed directories after resolving
symlinks, so a request can never read or write arbitrary server files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..data.csv_import import CsvSource
from ..errors import InvalidInputException


class LocationError(Exception):
    """A location that exists in form but cannot be read (reported as a job failure)."""


def s3_client(endpoint_url: str | None) -> Any:
    """A boto3 S3 client for the configured S3-compatible endpoint and standard AWS credentials."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or os.environ.get("OPENPERSONALIZE_S3_ENDPOINT_URL"))


def parse_s3(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    if not parsed.netloc:
        raise InvalidInputException(f"dataLocation {location!r} has no bucket name.")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(location: str, allowed: list[Path], field: str = "dataLocation") -> Path:
    """The resolved local path of ``location``; InvalidInputException unless inside an allowed directory."""
    if location.startswith("file://"):
        parsed = urlparse(location)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInputException(f"{field} {location!r}: file:// URLs must name a local absolute path.")
        raw = unquote(parsed.path)
    else:
        raw = location
    if not raw.startswith("/"):
        raise InvalidInputException(
            f"{field} {location!r} must be s3://bucket/key, file:///abs/path or an absolute path."
        )
    resolved = Path(os.path.realpath(raw))
    for root in allowed:
        root_resolved = Path(os.path.realpath(root))
        if resolved == root_resolved or root_resolved in resolved.parents:
            return resolved
    raise InvalidInputException(
        f"{field} {location!r} is outside the directories this server may access "
        "(start the server with --allow-path DIR to allow one)."
    )


def check_location(location: str, allowed: list[Path], field: str = "dataLocation") -> None:
    """Validate a location's form (and confinement, for local paths) at request time."""
    if location.startswith("s3://"):
        parse_s3(location)
    else:
        local_path(location, allowed, field)


def csv_sources(location: str, allowed: list[Path], s3_factory: Callable[[], Any]) -> list[CsvSource]:
    """Every CSV a location names: one file/object, or each CSV under a directory/prefix."""
    if location.startswith("s3://"):
        return _s3_sources(location, s3_factory())
    path = local_path(location, allowed)
    if path.is_file():
        return [CsvSource(path.name, lambda p=path: open(p, "rb"))]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")
        if not files:
            raise LocationError(f"No CSV files under {location}")
        return [CsvSource(str(p.relative_to(path)), lambda p=p: open(p, "rb")) for p in files]
    raise LocationError(f"Input path {location} does not exist")


def _s3_sources(location: str, client: Any) -> list[CsvSource]:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3(location)
    try:
        keys: list[str] = []
        if key and not key.endswith("/"):
            try:
                client.head_object(Bucket=bucket, Key=key)
                keys = [key]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
        if not keys:
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].lower().endswith(".csv"))
    except (ClientError, BotoCoreError) as exc:
        raise LocationError(f"Cannot read {location}: {exc}") from None
    if not keys:
        raise LocationError(f"No CSV objects at {location}")

    def opener(k: str) -> Callable[[], Any]:
        def open_object() -> Any:
            try:
                return client.get_object(Bucket=bucket, Key=k)["Body"]
            except (ClientError, BotoCoreError) as exc:
                raise LocationError(f"Cannot read s3://{bucket}/{k}: {exc}") from None

        return open_object

    return [CsvSource(f"s3://{bucket}/{k}", opener(k)) for k in sorted(keys)]
