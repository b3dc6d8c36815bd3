"""Job input files that a worker on another machine can open itself: a confined local file or an S3 object.

Each opener is a small picklable value (no open client or file inside), called with the byte
offset to start from, so an import task reads its own byte range of a large file: a local file is
opened (confined to the roots again, as when it was listed) and seeked, an S3 object is read with a
``Range`` request on the endpoint named at the server, with the worker's standard AWS credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .local_files import LocationError, Roots, open_read
from .s3_errors import s3_failure


@dataclass(frozen=True)
class LocalFile:
    """A local file inside the roots, opened when called."""

    path: Path
    roots: Roots

    def __call__(self, start: int = 0) -> BinaryIO:
        stream = open_read(self.path, self.roots)
        if start:
            stream.seek(start)
        return stream


@dataclass
class S3Object:
    """``s3://bucket/key`` on ``endpoint_url``, read from ``start`` when called (its client made on first use)."""

    bucket: str
    key: str
    endpoint_url: str | None
    _client: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def __call__(self, start: int = 0) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
        extra = {"Range": f"bytes={start}-"} if start else {}
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self.key, **extra)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise LocationError(f"Cannot read s3://{self.bucket}/{self.key}: {s3_failure(exc)}") from None


def file_size(path: Path) -> int | None:
    """A local file's size in bytes, None when it cannot be read now (opening it will say why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None
