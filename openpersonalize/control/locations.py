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


def data_sources(
    location: str, allowed: list[Path], s3_factory: Callable[[], Any], suffixes: tuple[str, ...] = ()
) -> list[CsvSource]:
    """Every file a location names (any name when ``suffixes`` is empty): one file/object or those under it."""
    if location.startswith("s3://"):
        client = s3_factory()
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = parse_s3(location)
        keys: list[str] = []
        try:
            if key and not key.endswith("/"):
                try:
                    client.head_object(Bucket=bucket, Key=key)
                    keys = [key]
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                        raise
            if not keys:
                prefix = key if not key or key.endswith("/") else key + "/"
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    keys.extend(
                        o["Key"]
                        for o in page.get("Contents", [])
                        if not o["Key"].endswith("/") and (not suffixes or o["Key"].lower().endswith(suffixes))
                    )
        except (ClientError, BotoCoreError) as exc:
            raise LocationError(f"Cannot read {location}: {exc}") from None
        if not keys:
            raise LocationError(f"Input path {location} does not exist")

        def opener(k: str) -> Callable[[], Any]:
            return lambda: client.get_object(Bucket=bucket, Key=k)["Body"]

        return [CsvSource(f"s3://{bucket}/{k}", opener(k)) for k in sorted(keys)]
    path = local_path(location, allowed)
    if path.is_file():
        return [CsvSource(str(path), lambda p=path: open(p, "rb"))]
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and (not suffixes or p.name.lower().endswith(suffixes))
        )
        if not files:
            raise LocationError(f"No input files under {location}")
        return [CsvSource(str(p), lambda p=p: open(p, "rb")) for p in files]
    raise LocationError(f"Input path {location} does not exist")


class OutputFile:
    """A file written under an output prefix: a local file, or a temp file uploaded to S3 on commit.

    Written to a temporary name first, so a failed job leaves no partial output behind.
    """

    def __init__(self, location: str, name: str, allowed: list[Path], s3_factory: Callable[[], Any]) -> None:
        import tempfile

        self.name = name
        self._s3: tuple[Any, str, str] | None = None
        if location.startswith("s3://"):
            bucket, key = parse_s3(location)
            if key and not key.endswith("/"):
                key += "/"
            self._s3 = (s3_factory(), bucket, key + name)
            fd, tmp = tempfile.mkstemp(suffix=".part")
            os.close(fd)
            self._tmp = Path(tmp)
            self.final: Path | str = f"s3://{bucket}/{key}{name}"
        else:
            root = local_path(location, allowed, "jobOutput.s3DataDestination.path")
            target = root / name
            parent = Path(os.path.realpath(target.parent))
            if not (parent == root or root in parent.parents):
                raise LocationError(f"Output name {name!r} escapes {location}")
            target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = target.with_name(f".{target.name}.part")
            self.final = target
        self.handle = open(self._tmp, "wb")  # noqa: SIM115

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> str:
        """Close and publish the file; returns its location."""
        self.handle.close()
        if self._s3 is not None:
            from botocore.exceptions import BotoCoreError, ClientError

            client, bucket, key = self._s3
            try:
                client.upload_file(str(self._tmp), bucket, key)
            except (ClientError, BotoCoreError) as exc:
                raise LocationError(f"Cannot write {self.final}: {exc}") from None
            finally:
                self._tmp.unlink(missing_ok=True)
            return str(self.final)
        os.replace(self._tmp, self.final)
        return str(self.final)

    def discard(self) -> None:
        """Close and remove the temporary file (on failure)."""
        if not self.handle.closed:
            self.handle.close()
        self._tmp.unlink(missing_ok=True)


def open_output(location: str, name: str, allowed: list[Path], s3_factory: Callable[[], Any]) -> OutputFile:
    """An ``OutputFile`` named ``name`` under the output directory or S3 prefix ``location``."""
    return OutputFile(location, name, allowed, s3_factory)
