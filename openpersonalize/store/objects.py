"""The object store: where every artifact lives (dataset snapshots and models), local or on S3.

``serve --object-store URL`` names it: a local directory (default ``DATA_DIR/objects``) or
``s3://bucket/prefix`` on any S3-compatible endpoint (``OPENPERSONALIZE_S3_ENDPOINT_URL`` and
the standard AWS credential variables), both through ``pyarrow.fs``. The control plane keeps a
*key* on each resource (``datasets/<name>/snapshot-<token>``, ``models/<name>/<attempt>``); only
this module turns keys and ARNs into paths.

Artifacts are written whole on local disk and published once under a key that is never reused:
a snapshot or model key names one immutable directory. Reading works on a local copy: for a
local store the directory itself, for S3 a copy fetched once into this node's cache directory
(``DATA_DIR/object-cache``), which is laid out like the store, so models are memory-mapped from
local disk on every node. Work and scratch directories live under ``local_root`` (the store's
own directory, or the cache), so a local publish is one rename. A large import's snapshot is
written instead by its job workers, part by part, into a draft (``new_draft``: a work directory, or
on S3 the new key's prefix, unreferenced until its key is stored) and committed or discarded whole.

A key is a plain relative name under ``datasets/`` or ``models/``: an absolute key, a ``..`` segment
or a path that resolves out of ``local_root`` (a link planted in the cache) is refused, and so is a
stored file whose name would land outside the fetched directory. A failed fetch is remembered for
``FAILURE_MEMO_SECONDS``, so requests queued behind a fetch from an unreachable store fail at once
instead of each waiting out the store's timeouts. ``sweep_cache`` drops the cached copies of
resources deleted through another node.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from ..errors import ResourceNotFoundException, ServiceUnavailable

log = logging.getLogger(__name__)

DATASETS = "datasets"
MODELS = "models"
CACHE_DIR = "object-cache"  # a remote store's local copies, inside the node's data dir
FETCHING = ".fetching"  # transfers in progress, inside the cache: downloads (renamed into place when whole), uploads
PARTIAL_SNAPSHOTS = "*/.snapshot-*.tmp"  # new_snapshot's work directories, in each dataset's directory
PARTIAL_MODELS = ".*.tmp"  # training attempts' scratch directories, beside the models
STORE_ID = ".openpersonalize-store-id"  # the marker object naming a remote store, at its prefix
CONNECT_SECONDS = 5.0
REQUEST_SECONDS = 60.0  # a data transfer's idle limit
LISTING_SECONDS = 5.0  # a HEAD or a listing's: what a stalled store costs a fetch (three tries) before it fails
FAILURE_MEMO_SECONDS = 5.0
COPY_CHUNK = 1 << 20


class ObjectStoreError(ServiceUnavailable):
    """The object store cannot be used (unreachable endpoint, missing bucket, refused credentials).

    AWS-shaped (ServiceUnavailable, 503, which SDKs retry) wherever it reaches a client; jobs catch it
    and fail with its message.
    """


def failure_reason(exc: ObjectStoreError, job_arn: str, what: str) -> str:
    """What a job's caller reads when the server's object store failed it (``what`` could not be done).

    The store's endpoint and bucket are the operator's business: they go to the log, never to the caller.
    """
    log.error("%s: the object store failed: %s", job_arn, exc)
    return f"The server could not {what}; its log has the reason."


class ObjectMissing(ObjectStoreError):
    """A key the store does not hold (removed through another node, or not a key of this store at all)."""

    code = ResourceNotFoundException.code
    status = ResourceNotFoundException.status


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _plain_relative(name: str) -> bool:
    """Whether ``name`` is a relative POSIX path whose every segment is an ordinary name."""
    return not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..") for p in name.split("/"))


def new_snapshot(dataset_dir: Path) -> tuple[Path, Path, str]:
    """A new snapshot of a dataset: its work directory (made here), the final name it is renamed to, its token.

    Snapshots are written whole into the work directory and published by one rename, so a reader
    never sees a partial one; a killed writer leaves a work directory that matches PARTIAL_SNAPSHOTS.
    """
    token = uuid.uuid4().hex[:12]
    work = dataset_dir / f".snapshot-{token}.tmp"
    work.mkdir(parents=True)
    return work, dataset_dir / f"snapshot-{token}", token


def _without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (what messages and logs may show)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{slash}{path}"


def _safe_name(arn: str) -> str:
    """An ARN's resource part as one path segment."""
    return arn.split(":", 5)[-1].replace("/", "__")


@dataclass(frozen=True)
class StoreLocation:
    """Where a store is: ``s3://bucket/prefix`` (with the endpoint) or a local directory."""

    url: str
    endpoint_url: str | None = None

    @property
    def remote(self) -> bool:
        return self.url.startswith("s3://")

    @property
    def local_dir(self) -> Path:
        """The local store's directory (``file://`` URLs and plain paths)."""
        return Path(urlparse(self.url).path if self.url.startswith("file://") else self.url).resolve()

    def describe(self) -> str:
        """The store as an error message names it (credentials in either URL shown as ``***``)."""
        if self.remote:
            endpoint = _without_userinfo(self.endpoint_url) if self.endpoint_url else "AWS default"
            return f"{_without_userinfo(self.url)} (endpoint {endpoint})"
        return str(self.local_dir)


@dataclass(frozen=True)
class SnapshotDraft:
    """A dataset snapshot being written by several workers, each a part file straight into the store.

    ``path`` is where the parts go in the store's ``filesystem``: a local store's work directory
    (``new_snapshot``), or on S3 the final key's prefix itself, which nothing refers to until the
    key is stored in SQL (``ObjectStore.commit_draft``). Picklable, so workers on other machines write
    to it; ``part(name)`` is a part's path.
    """

    store: ObjectStore
    key: str
    path: str
    token: str

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self.store.filesystem

    def part(self, name: str) -> str:
        return f"{self.path}/{name}"

    def scratch(self, name: str) -> Path:
        """Where a worker writes part ``name`` before ``put``: in place (local store), or a new file among the
        cache's transfers, which the node clears at its start (a killed task's part does not stay for good)."""
        if not self.store.remote:
            return Path(self.path) / name
        transfers = self.store.local_root / FETCHING
        transfers.mkdir(parents=True, exist_ok=True)
        return transfers / f"part-{uuid.uuid4().hex}-{name}"

    def put(self, name: str, scratch: Path) -> str:
        """Make the file written at ``scratch(name)`` part ``name`` of the draft (uploaded whole); its path."""
        if not self.store.remote:
            return str(scratch)
        try:
            pafs.copy_files(str(scratch), self.part(name), pafs.LocalFileSystem(), self.filesystem)
        except OSError as exc:
            where = self.store.location.describe()
            raise ObjectStoreError(f"object store {where}: uploading {self.key}/{name} failed: {exc}") from exc
        finally:
            scratch.unlink(missing_ok=True)
        return self.part(name)


class ObjectStore:
    """One artifact store: keys of snapshots and models, their publication, local copies and removal.

    Picklable (it rebuilds its file system on first use), so a job worker on another machine opens
    the same store from the same ``StoreLocation`` and a cache directory of its own.
    """

    def __init__(self, location: StoreLocation, cache_dir: Path) -> None:
        self.location = location
        self.local_root = cache_dir if location.remote else location.local_dir
        self._fs: pafs.FileSystem | None = None
        self._listing_fs: pafs.FileSystem | None = None
        self._base = location.url[len("s3://") :].strip("/") if location.remote else ""  # bucket/prefix
        self._failures: dict[str, tuple[float, ObjectStoreError]] = {}  # key -> (when, why its fetch failed)
        self._lock = threading.Lock()

    @classmethod
    def for_node(cls, url: str | None, data_dir: Path, endpoint_url: str | None = None) -> ObjectStore:
        """The store a node serves from: ``url``, or ``DATA_DIR/objects``; a remote one caches in the data dir."""
        return cls(StoreLocation(url or str(data_dir / "objects"), endpoint_url), data_dir / CACHE_DIR)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fs": None, "_listing_fs": None, "_failures": {}, "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    @property
    def remote(self) -> bool:
        """Whether artifacts live on S3 (several nodes can share them) rather than in a local directory."""
        return self.location.remote

    @property
    def filesystem(self) -> pafs.FileSystem:
        """The store's pyarrow file system; keys live under ``arrow_path(key)`` in it."""
        if self._fs is None:
            self._fs = self._open(REQUEST_SECONDS)
        return self._fs

    @property
    def _listing(self) -> pafs.FileSystem:
        """The same store with a short request limit, for a fetch's HEAD and listing (see LISTING_SECONDS)."""
        if self._listing_fs is None:
            self._listing_fs = self._open(LISTING_SECONDS)
        return self._listing_fs

    def _open(self, request_seconds: float) -> pafs.FileSystem:
        if not self.remote:
            return pafs.LocalFileSystem()
        return pafs.S3FileSystem(
            endpoint_override=self.location.endpoint_url,
            connect_timeout=CONNECT_SECONDS,
            request_timeout=request_seconds,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        )

    def arrow_path(self, key: str) -> str:
        """A key's path in ``filesystem`` (``bucket/prefix/key`` on S3), e.g. for ``pyarrow.dataset``."""
        return f"{self._base}/{key}" if self.remote else str(self.local_root / key)

    def check(self) -> None:
        """Raise ObjectStoreError (one line, naming the store) unless the store can be listed; make a local one."""
        if not self.remote:
            try:
                self.local_root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ObjectStoreError(f"object store {self.local_root}: cannot make it: {exc.strerror}") from None
            if not os.access(self.local_root, os.W_OK | os.X_OK):
                raise ObjectStoreError(f"object store {self.local_root}: this process may not write in it")
            return
        bucket = self._base.split("/", 1)[0]
        if not bucket:
            raise ObjectStoreError(f"object store {self.location.url}: no bucket named (s3://bucket/prefix)")
        endpoint = self.location.endpoint_url or ""
        if "@" in bucket or _without_userinfo(endpoint) != endpoint:
            raise ObjectStoreError(
                f"object store {self.location.describe()}: credentials do not belong in its URL or endpoint; "
                "give them in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the standard AWS credential chain)"
            )
        try:
            info = self.filesystem.get_file_info(bucket)
        except ValueError as exc:  # pyarrow's ArrowInvalid: not a bucket name
            raise ObjectStoreError(f"object store {self.location.describe()}: {_first_line(exc)}") from None
        except OSError as exc:
            reason = _first_line(exc)
            raise ObjectStoreError(f"cannot reach the object store {self.location.describe()}: {reason}") from None
        if info.type != pafs.FileType.Directory:
            raise ObjectStoreError(f"object store {self.location.describe()}: bucket {bucket} does not exist")

    def fingerprint(self) -> str:
        """What nodes compare to know they share one store: its normalised URL and, for S3, the id its marker
        object holds (written by the first node to look), so the same bucket name on another endpoint differs.

        Two nodes starting at the same moment on a store without a marker may both write one: the later
        to look then sees the other under another fingerprint and is refused once (a restart reads the
        marker that stayed).
        """
        if not self.remote:
            return str(self.location.local_dir)
        marker = self.arrow_path(STORE_ID)
        try:
            if self.filesystem.get_file_info(marker).type != pafs.FileType.File:
                written = self.local_root / FETCHING / uuid.uuid4().hex
                written.parent.mkdir(parents=True, exist_ok=True)
                written.write_text(uuid.uuid4().hex)
                try:
                    pafs.copy_files(str(written), marker, pafs.LocalFileSystem(), self.filesystem)
                finally:
                    written.unlink()
            with self.filesystem.open_input_stream(marker) as stored:
                store_id = stored.read(64).decode("ascii", "replace")
        except OSError as exc:
            raise ObjectStoreError(f"object store {self.location.describe()}: its id: {_first_line(exc)}") from None
        return f"s3://{self._base} (store {store_id})"

    # -- where things are (local) --------------------------------------------------
    @property
    def datasets_root(self) -> Path:
        """The local directory holding dataset snapshots (and import work directories)."""
        return self.local_root / DATASETS

    @property
    def models_root(self) -> Path:
        """The local directory holding models (and training scratch directories)."""
        return self.local_root / MODELS

    def dataset_dir(self, dataset_arn: str) -> Path:
        """Where a dataset's snapshots are written (``new_snapshot``) and copied to."""
        return self.datasets_root / _safe_name(dataset_arn)

    def scratch_model_dir(self, version_arn: str, attempt: str) -> Path:
        """A training attempt's scratch directory; ``publish_model`` makes its model the version's."""
        return self.models_root / f".{_safe_name(version_arn)}.{attempt}.tmp"

    def training_inputs_dir(self, version_arn: str, attempt: str) -> Path:
        """Where an attempt writes its own inputs (live events, actions) before ``publish``: inside its scratch."""
        return self.scratch_model_dir(version_arn, attempt) / "inputs"

    def remove_scratch(self, version_arn: str, attempt: str) -> None:
        """Remove a training attempt's scratch directory, here and (what it published of it) in the store."""
        self._remove(self.scratch_model_dir(version_arn, attempt).relative_to(self.local_root).as_posix())

    @staticmethod
    def scratch_owner(scratch: Path) -> str:
        """The model name a scratch directory (``scratch_model_dir``) was made for (see ``model_name``)."""
        return scratch.name[1:].rsplit(".", 2)[0]

    @staticmethod
    def model_name(version_arn: str) -> str:
        """The name a version's models and scratch directories carry."""
        return _safe_name(version_arn)

    # -- publishing ----------------------------------------------------------------
    def publish(self, path: Path) -> str:
        """Publish a finished directory lying at its final place under ``local_root``; its key.

        Local store: it already is the artifact. S3: it is uploaded under the same key and stays as
        this node's cached copy. Only the key's return makes it visible (the caller stores the key).
        """
        key = path.relative_to(self.local_root).as_posix()
        if self.remote:
            self._upload(path, key)
        return key

    def publish_model(self, model: Path, version_arn: str, attempt: str) -> str:
        """Make a finished model (a local directory) the attempt's immutable model; its key."""
        out = self.models_root / _safe_name(version_arn) / attempt
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rename(model, out)
        return self.publish(out)

    def _upload(self, path: Path, key: str) -> None:
        try:
            pafs.copy_files(str(path), self.arrow_path(key), pafs.LocalFileSystem(), self.filesystem, use_threads=True)
        except OSError as exc:
            raise ObjectStoreError(f"object store {self.location.describe()}: uploading {key} failed: {exc}") from exc

    def new_draft(self, dataset_arn: str) -> SnapshotDraft:
        """A new snapshot of a dataset that job workers write part files into themselves (``SnapshotDraft``)."""
        if self.remote:
            token = uuid.uuid4().hex[:12]
            key = f"{DATASETS}/{_safe_name(dataset_arn)}/snapshot-{token}"
            return SnapshotDraft(self, key, self.arrow_path(key), token)
        work, final, token = new_snapshot(self.dataset_dir(dataset_arn))
        return SnapshotDraft(self, final.relative_to(self.local_root).as_posix(), str(work), token)

    def commit_draft(self, draft: SnapshotDraft) -> str:
        """The finished draft's key (a local one is renamed into place first); storing the key publishes it."""
        if not self.remote:
            os.rename(draft.path, self.local_root / draft.key)
        return draft.key

    def discard_draft(self, draft: SnapshotDraft) -> None:
        """Remove what a failed draft wrote (a failure to do so is logged: nothing refers to it)."""
        if not self.remote:
            shutil.rmtree(draft.path, ignore_errors=True)
            return
        try:
            self.filesystem.delete_dir(draft.path)
        except FileNotFoundError:
            pass
        except OSError:
            log.warning("object store %s: removing draft %s failed", self.location.describe(), draft.key, exc_info=True)

    def snapshot_files(self, key: str | None) -> list[str]:
        """The Parquet files of a stored snapshot as ``filesystem`` paths, in name order (none for no key)."""
        if not key:
            return []
        path = self._confined(key)
        if not self.remote:
            if not path.is_dir():
                raise ObjectMissing(f"object store {self.location.describe()}: {key} does not exist")
            return [str(f) for f in sorted(path.glob("*.parquet"))]
        try:
            listed = self.filesystem.get_file_info(pafs.FileSelector(self.arrow_path(key)))
        except OSError as exc:
            raise ObjectStoreError(f"object store {self.location.describe()}: listing {key} failed: {exc}") from exc
        return sorted(i.path for i in listed if i.type == pafs.FileType.File and i.path.endswith(".parquet"))

    # -- reading -------------------------------------------------------------------
    def local_path(self, key: str | None) -> Path | None:
        """A local copy of a stored key (None for no key): the directory itself, or one fetched into the cache.

        Keys name immutable directories, so a cached copy is never stale. A fetch lands in a private
        directory and is renamed into place whole; concurrent fetches of one key keep the first.
        ObjectMissing when the store does not hold the key, ObjectStoreError when it cannot be read.
        """
        if not key:
            return None
        path = self._confined(key)
        if path.is_dir():
            return path
        if not self.remote:
            raise ObjectMissing(f"object store {self.location.describe()}: {key} does not exist")
        with self._lock:
            failed, failure = self._failures.get(key, (0.0, None))
        if failure is not None and time.monotonic() - failed < FAILURE_MEMO_SECONDS:
            raise failure
        try:
            self._fetch(key, path)
        except ObjectStoreError as exc:
            with self._lock:
                self._failures[key] = (time.monotonic(), exc)
            raise
        with self._lock:
            self._failures.pop(key, None)
        return path

    def _confined(self, key: str) -> Path:
        """``key``'s place under ``local_root``; ObjectMissing for a key no publish makes, ObjectStoreError
        when the place resolves out of ``local_root`` (a link planted there)."""
        if not _plain_relative(key) or key.split("/", 1)[0] not in (DATASETS, MODELS):
            raise ObjectMissing(f"object store {self.location.describe()}: {key!r} is not an artifact key")
        return self._inside(self.local_root / key)

    def _inside(self, path: Path) -> Path:
        """``path`` if it resolves inside ``local_root`` (links followed), else ObjectStoreError."""
        root = self.local_root.resolve()
        if not path.resolve().is_relative_to(root):
            raise ObjectStoreError(f"{path} resolves outside {root} (a link in it?): refused")
        return path

    def _fetch(self, key: str, path: Path) -> None:
        """Copy ``key``'s files into a private directory, then rename it to ``path``.

        Every stored file's name is checked before anything is written: one that would land outside
        the directory (``..``, an absolute name) refuses the whole key. Files are created exclusively.
        """
        source = self.arrow_path(key)
        temp = self._inside(self.local_root / FETCHING) / uuid.uuid4().hex
        temp.mkdir(parents=True)
        where = f"object store {self.location.describe()}: fetching {key}"
        try:
            if self._listing.get_file_info(source).type != pafs.FileType.Directory:
                raise ObjectMissing(f"object store {self.location.describe()}: {key} does not exist")
            listed = self._listing.get_file_info(pafs.FileSelector(source, recursive=True))
            files = {info.path[len(source) + 1 :]: info.path for info in listed if info.type == pafs.FileType.File}
            odd = sorted(name for name in files if not _plain_relative(name))
            if odd:
                raise ObjectStoreError(f"{where} refused: it holds {odd[0]!r}, which names a place outside it")
            for name, stored in files.items():
                target = temp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                with self.filesystem.open_input_stream(stored) as src, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, COPY_CHUNK)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(temp, path)
            except OSError:  # another thread or process fetched it first
                if not path.is_dir():
                    raise
        except ObjectStoreError:
            raise
        except OSError as exc:
            raise ObjectStoreError(f"{where} failed: {exc}") from exc
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def clear_fetches(self) -> None:
        """Remove unfinished transfers (downloads, parts to upload); only while no process uses this cache (a node's
        start)."""
        shutil.rmtree(self.local_root / FETCHING, ignore_errors=True)

    def sweep_cache(self, listed: Iterable[Path], existing_arns: Iterable[str]) -> list[str]:
        """Drop cached copies of deleted resources' models and snapshots (another node deleted them); their keys.

        ``listed`` comes from ``cached_resources``, called *before* ``existing_arns`` was read: a
        resource's row is written before anything is published under its name, so a copy listed
        first and named by no ARN read after belongs to a deleted resource. Only a remote store's
        cache is swept (a local store is the artifacts themselves, removed by the deleting node).
        """
        names = {_safe_name(arn) for arn in existing_arns}
        gone = [entry for entry in listed if entry.name not in names]
        for entry in gone:
            self._remove_local(entry)
        return [entry.relative_to(self.local_root).as_posix() for entry in gone]

    def cached_resources(self) -> list[Path]:
        """The cache's per-resource directories (``models/<name>``, ``datasets/<name>``); none for a local store."""
        if not self.remote:
            return []
        roots = [self.local_root / top for top in (MODELS, DATASETS)]
        return [e for root in roots if root.is_dir() for e in root.iterdir() if not e.name.startswith(".")]

    # -- removal -------------------------------------------------------------------
    def remove_model(self, version_arn: str) -> None:
        """Forget every model of a solution version (deleted or stopped), here and in the store, and what training
        attempts killed half way left under their scratch prefixes (their inputs: the group's live events)."""
        name = _safe_name(version_arn)
        self._remove(f"{MODELS}/{name}")
        for scratch in self._scratch_names(name):
            self._remove(f"{MODELS}/{scratch}")

    def _scratch_names(self, name: str) -> list[str]:
        """The scratch directories (``scratch_model_dir``) of model ``name``'s training attempts, here and in the
        store (a listing that fails is logged: they break nothing)."""
        prefix = f".{name}."
        names = {path.name for path in self.models_root.glob(PARTIAL_MODELS) if path.name.startswith(prefix)}
        if self.remote:
            try:
                top = pafs.FileSelector(self.arrow_path(MODELS), allow_not_found=True)
                listed = self._listing.get_file_info(top)
            except OSError:
                log.warning("object store %s: listing %s failed", self.location.describe(), MODELS, exc_info=True)
                listed = []
            names |= {i.base_name for i in listed if i.base_name.startswith(prefix) and i.base_name.endswith(".tmp")}
        return sorted(names)

    def remove_dataset(self, dataset_arn: str) -> None:
        """Forget every snapshot of a deleted dataset, here and in the store."""
        self._remove(f"{DATASETS}/{_safe_name(dataset_arn)}")

    def remove_snapshot(self, key: str) -> None:
        """Forget one snapshot of a dataset (a build that lost its switch, or one no longer referenced), here and in
        the store; a key that is no snapshot's is refused (ObjectMissing)."""
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != DATASETS:
            raise ObjectMissing(f"object store {self.location.describe()}: {key!r} is not a snapshot key")
        self._confined(key)
        self._remove(key)

    def _remove_local(self, path: Path) -> None:
        """Remove a directory under ``local_root``: a link there is unlinked, never followed; a failure is logged."""
        try:
            if path.is_symlink():
                path.unlink()
            else:
                shutil.rmtree(self._inside(path), ignore_errors=True)
        except (OSError, ObjectStoreError) as exc:
            log.warning("not removing %s: %s", path, exc)

    def _remove(self, prefix: str) -> None:
        """Remove a prefix; a failure is logged, not raised: the resource is gone, its leftovers break nothing."""
        self._remove_local(self.local_root / prefix)
        if self.remote:
            try:
                self.filesystem.delete_dir(self.arrow_path(prefix))
            except FileNotFoundError:
                pass
            except OSError:
                log.warning("object store %s: removing %s failed", self.location.describe(), prefix, exc_info=True)
