"""Assemble a server: settings, credentials, metadata store, job runner, ASGI app."""

from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from .api.app import PersonalizeApp
from .api.events_routes import events_routes
from .api.runtime_routes import runtime_routes
from .blas import single_threaded_blas
from .console import console_app
from .control.attribution_reports import DEFAULT_INTERVAL_SECONDS, MetricsClock
from .control.auto_training import CHECK_SECONDS, train_due
from .control.base import Control, Settings
from .control.live_data import LiveData
from .control.operations import job_handlers
from .control.resource_lookup import StoredResourceLookup
from .jobs import executors
from .jobs.executors import LOCAL
from .jobs.periodic import Periodic
from .jobs.runner import JobRunner
from .node import make_data_dir
from .runtime.service import DEFAULT_SCORE_CACHE_BYTES, RuntimeService
from .store.events import EventStore
from .store.metadata import MetadataStore
from .store.objects import ObjectStore, StoreLocation

log = logging.getLogger(__name__)

CONFIG_ENV = "OPENPERSONALIZE_SERVER_CONFIG"
CREDENTIALS_FILE = "credentials.json"
ACCESS_KEY_ID_ENV = "OPENPERSONALIZE_ACCESS_KEY_ID"
SECRET_ACCESS_KEY_ENV = "OPENPERSONALIZE_SECRET_ACCESS_KEY"
S3_ENDPOINT_ENV = "OPENPERSONALIZE_S3_ENDPOINT_URL"


@dataclass
class ServerConfig:
    """Everything ``openpersonalize serve`` is told; JSON-serialisable so worker processes share it."""

    data_dir: str
    database_url: str | None = None
    object_store: str | None = None  # s3://bucket/prefix or a local directory (default: DATA_DIR/objects)
    account_id: str = "000000000000"
    allowed_paths: list[str] = field(default_factory=list)
    job_workers: int = 2
    score_cache_mb: int = DEFAULT_SCORE_CACHE_BYTES >> 20
    metrics_interval: float = DEFAULT_INTERVAL_SECONDS  # seconds between metric attribution publications
    auto_training_check: float = CHECK_SECONDS  # seconds between this node's checks of training schedules (0: never)
    executor: str = LOCAL  # where job steps run: local, ray (RAY_ADDRESS) or ray://HOST:PORT

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'metadata.db'}"

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServerConfig:
        return cls(**json.loads(os.environ[CONFIG_ENV]))


class CredentialsError(Exception):
    """The credentials cannot be used; the message is one line that never holds a secret."""


def load_credentials(data_dir: Path) -> tuple[dict[str, str], Path | None]:
    """The accepted key pair: from the environment, else generated once into the data dir (mode 0600). The data
    dir is made here if new (``make_data_dir``), whichever the source: every server start reads the pair first.

    One of the two variables without the other is refused (CredentialsError): generating a pair then
    left a node of a deployment refusing every client signing with the deployment's keys.
    """
    make_data_dir(data_dir)
    key_id = os.environ.get(ACCESS_KEY_ID_ENV)
    secret = os.environ.get(SECRET_ACCESS_KEY_ENV)
    if key_id and secret:
        return {key_id: secret}, None
    if key_id or secret:
        raise CredentialsError(
            f"set both {ACCESS_KEY_ID_ENV} and {SECRET_ACCESS_KEY_ENV}, or neither (a key pair is then generated "
            "into the data dir)"
        )
    path = data_dir / CREDENTIALS_FILE
    if not path.exists():
        pair = {
            "aws_access_key_id": "OP" + secrets.token_hex(9).upper(),
            "aws_secret_access_key": secrets.token_urlsafe(30),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(pair, handle, indent=2)
    return _stored_pair(path), path


def _stored_pair(path: Path) -> dict[str, str]:
    """The pair in ``path``, or CredentialsError naming the file but none of its content, or its mode when other
    accounts may use it (made 0600, it was restored or copied looser: refused, as ssh refuses such a key)."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise CredentialsError(f"{path} is open to other accounts (mode {mode:04o}); chmod 600 it")
    try:
        pair = json.loads(path.read_text())
        key_id, secret = pair["aws_access_key_id"], pair["aws_secret_access_key"]
    except (ValueError, KeyError, TypeError):
        key_id = secret = None
    if not (isinstance(key_id, str) and isinstance(secret, str) and key_id and secret):
        raise CredentialsError(
            f"{path} is not a JSON object with aws_access_key_id and aws_secret_access_key; "
            "repair it, or remove it to have a new pair generated"
        )
    return {key_id: secret}


def server_state_paths(config: ServerConfig) -> list[Path]:
    """What jobs may never read or write: the data dir (credentials, snapshots, models), a local object store
    and a SQLite database.

    The credentials file and the database (with its journal, WAL and shared-memory files, wherever it
    lives) are also named by themselves, so a job opening a hard link to one of them is recognised.
    """
    data_dir = Path(config.data_dir).resolve()
    paths = [data_dir, data_dir / CREDENTIALS_FILE]
    location = StoreLocation(config.object_store or str(data_dir / "objects"))
    if not location.remote:
        paths.append(location.local_dir)
    url = make_url(config.resolved_database_url())
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database).resolve()
        paths += [database] + [database.with_name(database.name + s) for s in ("-journal", "-wal", "-shm")]
    for allowed in config.allowed_paths:
        if any(Path(allowed).resolve().is_relative_to(p) for p in paths):
            log.warning("--allow-path %s lies inside the server's own data: jobs may not use it", allowed)
    return paths


def build_app(config: ServerConfig) -> PersonalizeApp:
    """A ready ASGI app for ``config``; its job runner starts with the ASGI lifespan.

    BLAS runs single-threaded in server processes (``single_threaded_blas``). Job steps run on the
    configured executor (``jobs/executors.py``): spawned children, which keep their own setting, or
    Ray tasks. At startup the process preloads deployed
    campaigns in the background (``RuntimeService.warm_campaigns``).
    """
    single_threaded_blas()
    executors.install(executors.connect(config.executor))
    data_dir = Path(config.data_dir).resolve()
    make_data_dir(data_dir)
    allowed = [Path(p).resolve() for p in config.allowed_paths]
    settings = Settings(
        data_dir=data_dir,
        account_id=config.account_id,
        allowed_paths=allowed,
        denied_paths=server_state_paths(config),
        s3_endpoint_url=os.environ.get(S3_ENDPOINT_ENV),
        object_store=config.object_store,
    )
    store = MetadataStore(config.resolved_database_url())
    control = Control(settings, store, EventStore(store))
    live = LiveData(control)
    control.forget_tracking_id = live.forget
    runtime = RuntimeService(
        StoredResourceLookup(control),
        control.events,
        score_cache_bytes=max(0, config.score_cache_mb) << 20,
        sources=control.attribution,
    )
    runner = JobRunner(store, job_handlers(control, runtime), workers=config.job_workers)
    control.wake_jobs = runner.wake
    clock = MetricsClock(control, config.metrics_interval)
    trainer = Periodic("automatic-training", config.auto_training_check, lambda: train_due(control))
    credentials, _ = load_credentials(data_dir)

    def startup() -> None:
        runner.start()
        clock.start()
        if config.auto_training_check > 0:
            trainer.start()
        gc.freeze()
        threading.Thread(target=_warm_then_freeze, args=(runtime,), name="openpersonalize-warm", daemon=True).start()

    def shutdown() -> None:
        clock.stop()
        trainer.stop()
        runner.stop()

    runtime_ops = runtime_routes(runtime)
    return PersonalizeApp(
        control,
        credentials,
        rest_handlers={**runtime_ops, **events_routes(live)},
        on_startup=startup,
        on_shutdown=shutdown,
        inline_operations=runtime_ops.keys(),
        preshaped_operations=runtime_ops.keys(),
        mounts={"/console": console_app(control, runtime, credentials)},
    )


def node_objects(config: ServerConfig) -> ObjectStore:
    """The object store ``config`` names, as the node's start checks open it."""
    return ObjectStore.for_node(config.object_store, Path(config.data_dir).resolve(), os.environ.get(S3_ENDPOINT_ENV))


def _warm_then_freeze(runtime: RuntimeService) -> None:
    """Preload the deployed campaigns, then move every object alive (modules, botocore's models, the loaded
    deployments) out of the garbage collector's reach: a full collection walked them all, ~60 ms that a
    request allocating a lot (a 500-item ranking) paid now and then, the p99 of a paced load."""
    runtime.warm_campaigns()
    gc.freeze()


def app_from_env() -> PersonalizeApp:
    """Factory for uvicorn worker processes (``--workers N``)."""
    return build_app(ServerConfig.from_env())
