"""Job outputs at user-named destinations: an S3 prefix on the configured endpoint, or a confined local directory.

Dataset exports, batch inference and batch segment outputs and metric attribution reports are
written here and nowhere else. A file is written whole under a temporary name and only then
given its final name (``LocalOutput``: a rename; ``S3Output``: one upload), so a reader never
meets a half-written file. An output of several files (an export's parts, written by several
workers) goes further: each file is written into ``<folder>/.staging-<token>/`` and the set is
moved into ``<folder>/`` only once every file is there (``Staging``), so a failed part leaves
nothing that looks complete. ``Staging.clear`` removes the staging areas a failed or killed run
left. A ``Destination`` is picklable: a job's workers (local processes or Ray tasks) write to
it themselves, with the same confinement, checked again when each file is opened.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .local_files import LocalOutput, LocationError, Roots, open_directory
from .s3_errors import s3_failure

S3_ENDPOINT_ENV = "OPENPERSONALIZE_S3_ENDPOINT_URL"
STAGING = ".staging-"
_STAGING_NAME = re.compile(r"\.staging-[0-9a-f]{16}")
DELETE_BATCH = 1000  # keys per S3 DeleteObjects request (its limit)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def s3_client(endpoint_url: str | None) -> Any:
    """A boto3 S3 client for the configured S3-compatible endpoint and standard AWS credentials."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or os.environ.get(S3_ENDPOINT_ENV))


class S3Output:
    """A temporary local file uploaded to ``s3://bucket/key`` on commit, so a failed job leaves no partial output.

    The file has no name (``tempfile.TemporaryFile``): the system frees it when the process ends, even
    killed, so a job killed mid-output leaves nothing behind in the temporary directory.
    """

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self.final = f"s3://{bucket}/{key}"
        self.handle: BinaryIO = tempfile.TemporaryFile(suffix=".part")

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        """Upload the file, then close it."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        self.handle.flush()
        self.handle.seek(0)
        try:
            self._client.upload_fileobj(self.handle, self._bucket, self._key)
        except (ClientError, BotoCoreError) as exc:
            raise LocationError(f"Cannot write {self.final}: {s3_failure(exc)}") from None
        except S3UploadFailedError as exc:  # boto3 wraps S3's answer in a message naming the local temporary file
            cause = exc.__context__
            reason = s3_failure(cause) if isinstance(cause, ClientError | BotoCoreError) else "the upload failed"
            raise LocationError(f"Cannot write {self.final}: {reason}") from None
        finally:
            self.handle.close()

    def discard(self) -> None:
        """Close the temporary file, which removes it (on failure)."""
        self.handle.close()


Output = LocalOutput | S3Output


@dataclass
class Destination:
    """An output directory: ``bucket`` and ``prefix`` (ending in ``/`` or empty) on S3, else the resolved local
    ``directory`` (confined to ``roots`` whenever a file is opened). Build it with ``s3`` or ``local``."""

    roots: Roots
    endpoint_url: str | None = None
    bucket: str = ""
    prefix: str = ""
    directory: Path | None = None
    _client: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def s3(cls, bucket: str, key: str, endpoint_url: str | None) -> Destination:
        """The S3 prefix ``s3://bucket/key`` (a key not ending in ``/`` names a folder all the same)."""
        prefix = key if not key or key.endswith("/") else key + "/"
        return cls(Roots(()), endpoint_url, bucket, prefix)

    @classmethod
    def local(cls, directory: Path, roots: Roots) -> Destination:
        """The local directory ``directory`` (already resolved and checked against ``roots`` by the caller)."""
        return cls(roots, directory=directory)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    @property
    def client(self) -> Any:
        """This destination's S3 client, made on first use (one per process)."""
        if self._client is None:
            self._client = s3_client(self.endpoint_url)
        return self._client

    def open(self, name: str) -> Output:
        """A new file ``name`` (a relative path) under the destination, in place once committed."""
        if self.directory is None:
            return S3Output(self.client, self.bucket, self.prefix + name)
        return LocalOutput(self.directory, name, self.roots)

    def staging(self, folder: str) -> Staging:
        """A new staging area for a set of files that appear in ``folder`` together (see ``Staging``)."""
        return Staging(self, folder, secrets.token_hex(8))


@dataclass(frozen=True)
class Staging:
    """Files written into ``folder/.staging-<token>/`` and moved into ``folder`` together by ``publish``."""

    destination: Destination
    folder: str
    token: str

    @property
    def area(self) -> str:
        return f"{self.folder}/{STAGING}{self.token}"

    def open(self, name: str) -> Output:
        """A new file ``name`` in the staging area (commit it when written whole)."""
        return self.destination.open(f"{self.area}/{name}")

    def publish(self, names: list[str]) -> None:
        """Move the staged ``names`` into ``folder``, replacing files (never following links) of the same names.

        A failure part way removes the files already moved, so the folder never holds part of the set. The
        staging area is removed afterwards as far as it can be (what stays is hidden and cleared by the next run).
        """
        dest = self.destination
        moved: list[str] = []
        try:
            for name in names:
                if dest.directory is None:
                    _s3_move(dest, f"{self.area}/{name}", f"{self.folder}/{name}")
                else:
                    _local_move(dest, self.folder, f"{STAGING}{self.token}", name)
                moved.append(name)
        except BaseException:
            with contextlib.suppress(LocationError, OSError):
                self._remove(moved)
            raise
        with contextlib.suppress(LocationError, OSError):
            self.clear()

    def _remove(self, names: list[str]) -> None:
        dest = self.destination
        if dest.directory is None:
            _s3_delete(dest, [f"{dest.prefix}{self.folder}/{name}" for name in names])
            return
        with contextlib.suppress(LocationError, FileNotFoundError), _folder(dest, self.folder) as fd:
            for name in names:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=fd)

    def clear(self) -> None:
        """Remove every staging area in ``folder``: this one's and those a failed or killed run left.

        LocationError when the folder is a place jobs may not use (nothing is removed there).
        """
        dest = self.destination
        if dest.directory is None:
            top = f"{dest.prefix}{self.folder}/"
            keys = _s3_keys(dest, top + STAGING)
            _s3_delete(dest, [k for k in keys if _STAGING_NAME.fullmatch(k[len(top) :].split("/", 1)[0])])
            return
        try:
            with _folder(dest, self.folder) as fd:
                for entry in _entries(fd):
                    if _STAGING_NAME.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                        _remove_flat_directory(fd, entry.name)
        except FileNotFoundError:
            return


@contextlib.contextmanager
def _folder(dest: Destination, folder: str) -> Iterator[int]:
    """A descriptor of the local ``directory/folder``, reached without following links, checked against the roots."""
    if dest.directory is None:
        raise ValueError("an S3 destination has no local folder")
    fd = open_directory(dest.directory / folder, dest.roots)
    try:
        yield fd
    finally:
        os.close(fd)


def _entries(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as entries:
        return list(entries)


def _remove_flat_directory(parent: int, name: str) -> None:
    """Unlink the files of ``parent/name`` (not following links; subdirectories are left) and the directory."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    try:
        for entry in _entries(fd):
            if not stat.S_ISDIR(entry.stat(follow_symlinks=False).st_mode):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=parent)


def _local_move(dest: Destination, folder: str, area: str, name: str) -> None:
    """Rename ``folder/area/name`` to ``folder/name`` through descriptors (a link at the target is replaced)."""
    final = f"{dest.directory}/{folder}/{name}"
    with _folder(dest, folder) as fd:
        try:
            src = os.open(area, _DIR_FLAGS, dir_fd=fd)
            try:
                os.replace(name, name, src_dir_fd=src, dst_dir_fd=fd)
            finally:
                os.close(src)
        except IsADirectoryError:
            raise LocationError(f"{final} is a directory; the output cannot replace it.") from None
        except OSError as exc:
            raise LocationError(f"{final}: {exc.strerror or type(exc).__name__}") from None


@contextlib.contextmanager
def _s3_errors(dest: Destination, what: str) -> Iterator[None]:
    """S3 client failures as LocationError naming the destination (reported as the job's failure)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise LocationError(f"Cannot {what} s3://{dest.bucket}/{dest.prefix}: {s3_failure(exc)}") from None


def _s3_move(dest: Destination, src: str, dst: str) -> None:
    """Copy ``prefix+src`` to ``prefix+dst`` inside the bucket (a server-side copy, multipart when large)."""
    with _s3_errors(dest, "write"):
        dest.client.copy({"Bucket": dest.bucket, "Key": dest.prefix + src}, dest.bucket, dest.prefix + dst)


def _s3_keys(dest: Destination, prefix: str) -> list[str]:
    with _s3_errors(dest, "list"):
        pages = dest.client.get_paginator("list_objects_v2").paginate(Bucket=dest.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _s3_delete(dest: Destination, keys: list[str]) -> None:
    with _s3_errors(dest, "clean up"):
        for lo in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[lo : lo + DELETE_BATCH]]
            dest.client.delete_objects(Bucket=dest.bucket, Delete={"Objects": batch, "Quiet": True})
