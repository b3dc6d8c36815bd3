"""Command line: ``openpersonalize serve``."""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
import uvicorn
from rich.console import Console

from .api.transport import DEFAULT_READ_TIMEOUT, uvicorn_options
from .control.dataset_export import PART_ROWS_ENV
from .data.csv_parts import PART_BYTES_ENV
from .jobs import executors
from .jobs.executors import LOCAL, ExecutorUnavailable
from .node import StartupError, start_node
from .recipes.blocks import BLOCK_ENV
from .server import CONFIG_ENV, S3_ENDPOINT_ENV, CredentialsError, ServerConfig, load_credentials, node_objects
from .store.database_url import DATABASE_URL_ENV, export_for_workers

app = typer.Typer(
    help="Self-hosted recommendation engine that speaks the Amazon Personalize API.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback never prints a database URL or key held in a local
)
console = Console(stderr=True)


class LogLevel(StrEnum):
    """The levels both ``logging`` and uvicorn know (an unknown one was a traceback)."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def _host(value: str) -> str:
    """``--host``, never empty: an empty one (``--host "$HOST"`` with HOST unset) bound every interface."""
    if not value.strip():
        raise typer.BadParameter("empty; give an address, e.g. 127.0.0.1 (this machine) or 0.0.0.0 (every interface)")
    return value


def _account_id(value: str) -> str:
    """``--account-id`` as ARNs need it: 12 ASCII digits (``a:b/c`` made ARNs no parser reads back)."""
    if not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise typer.BadParameter("an account id is 12 digits, e.g. 000000000000")
    return value


@app.callback()
def _root() -> None:
    """openpersonalize: serve the Personalize API, or run the end-to-end demo."""


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(callback=_host, help="Address to bind (loopback unless you mean to expose it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port for all three protocols.")] = 8080,
    data_dir: Annotated[Path, typer.Option(help="Where metadata, datasets and models live.")] = Path("./data"),
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar=DATABASE_URL_ENV,
            help="SQLAlchemy URL (default: SQLite in the data dir), e.g. postgresql+psycopg://…; Ray machines need "
            f"the same in {DATABASE_URL_ENV} (batch tasks are given it without its password).",
        ),
    ] = None,
    object_store: Annotated[
        str | None,
        typer.Option(
            help="Where snapshots and models live: s3://bucket/prefix (endpoint from OPENPERSONALIZE_S3_ENDPOINT_URL, "
            "credentials from the AWS variables) or a directory (default: DATA_DIR/objects). Several nodes need s3://."
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            help="Where training and batch inference steps run: local (this node's processes), ray (the Ray "
            "cluster of RAY_ADDRESS) or ray://HOST:PORT."
        ),
    ] = LOCAL,
    allow_path: Annotated[
        list[Path] | None,
        typer.Option(
            help="Local directory import, export and batch jobs may use (repeatable; default: none, "
            "only s3:// locations). The data dir and database are never usable, even inside one."
        ),
    ] = None,
    account_id: Annotated[
        str, typer.Option(callback=_account_id, help="Account id used in ARNs (12 digits).")
    ] = "000000000000",
    workers: Annotated[int, typer.Option(min=1, help="Server processes sharing the port.")] = 1,
    score_cache_mb: Annotated[
        int, typer.Option(min=0, help="Per-process memory for memoised user scores (0 turns the cache off).")
    ] = ServerConfig.score_cache_mb,
    read_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds a client has to send a request's headers; its body gets as long again, "
            "plus a second per 64 KiB. A request that misses it loses its connection.",
        ),
    ] = DEFAULT_READ_TIMEOUT,
    metrics_interval: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds between metric attribution reports of new events (docs/architecture.md)."),
    ] = ServerConfig.metrics_interval,
    auto_training_check: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds between this node's checks of the solutions' automatic training schedules "
            "(one node trains each due version however many check); 0: this node never starts one.",
        ),
    ] = ServerConfig.auto_training_check,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False, help="Logging level.")] = LogLevel.info,
) -> None:
    """Run the server (control plane, runtime and events APIs on one port)."""
    # the shell leaves a '~' after '=' as written (--data-dir=~/op): expanded here, as it would be after a space
    data_dir, allow_path = data_dir.expanduser(), [p.expanduser() for p in allow_path or []]
    object_store = os.path.expanduser(object_store) if object_store else None
    logging.basicConfig(level=log_level.value.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        data_dir=str(data_dir.resolve()),
        database_url=database_url,
        object_store=object_store,
        account_id=account_id,
        allowed_paths=[str(p.resolve()) for p in allow_path],
        score_cache_mb=score_cache_mb,
        metrics_interval=metrics_interval,
        auto_training_check=auto_training_check,
        executor=executor,
    )
    refusal = _location_refusal(object_store, allow_path) or _size_variable_refusal()
    if refusal:
        typer.echo(f"openpersonalize serve: {refusal}", err=True)
        raise typer.Exit(1)
    given_here = ctx.get_parameter_source("database_url").name == "COMMANDLINE"  # not from the environment
    if given_here and _holds_password(database_url):
        typer.echo(
            "warning: the password in --database-url is visible to every account on this "
            f"machine (ps); give the URL in {DATABASE_URL_ENV} instead",
            err=True,
        )
    try:
        _, cred_path = load_credentials(data_dir.resolve())
    except OSError as exc:
        typer.echo(f"openpersonalize serve: cannot use the data dir {data_dir}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except CredentialsError as exc:
        typer.echo(f"openpersonalize serve: {exc}", err=True)
        raise typer.Exit(1) from None
    if cred_path is not None:
        console.print(
            f"Credentials for clients (aws_access_key_id / aws_secret_access_key): [bold]{cred_path}[/]", soft_wrap=True
        )
    else:
        console.print("Credentials: from OPENPERSONALIZE_ACCESS_KEY_ID / OPENPERSONALIZE_SECRET_ACCESS_KEY")
    try:
        executors.connect(executor)
    except ExecutorUnavailable as exc:
        typer.echo(f"openpersonalize serve: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        node = start_node(config.resolved_database_url(), node_objects(config), data_dir.resolve(), f"{host}:{port}")
    except StartupError as exc:
        typer.echo(f"openpersonalize serve: {exc}", err=True)
        raise typer.Exit(1) from None
    console.print(f"Listening on http://{host}:{port} (endpoint_url for boto3)")
    os.environ[CONFIG_ENV] = config.to_env()
    export_for_workers(config.resolved_database_url())  # batch workers take the password from here, not their arguments
    try:
        uvicorn.run(
            "openpersonalize.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level.value,
            **uvicorn_options(read_timeout),
        )
    finally:
        node.leave()


def _location_refusal(object_store: str | None, allow_paths: list[Path]) -> str | None:
    """Why ``--object-store``, the S3 endpoint or an ``--allow-path`` cannot be meant, or None.

    A URL of another scheme than s3:// or file:// was taken for a relative directory (``gs://b/p`` became
    ./gs:/b/p); only its scheme is named, since the rest may hold credentials. The endpoint serves s3://
    imports and exports whatever the store, so credentials in it are refused even with a local store.
    """
    scheme, sep, rest = (object_store or "").partition("://")
    scheme = scheme if sep else ""  # a plain path (a directory named 'file' is no URL)
    if scheme not in ("", "s3", "file"):
        return f"--object-store takes s3://bucket/prefix or a directory, not a {scheme}:// URL"
    if scheme == "file" and not rest.startswith("/"):  # its host was dropped: file://relative/x became /x
        return f"--object-store {object_store} names a host; a local directory is file:///ABS/PATH or a plain path"
    if scheme != "s3" and "@" in urlsplit(os.environ.get(S3_ENDPOINT_ENV, "")).netloc:  # s3: the store check says
        return (
            f"credentials do not belong in {S3_ENDPOINT_ENV}; give them in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
            "(or the standard AWS credential chain)"
        )
    for allowed in allow_paths:
        if allowed.exists() and not allowed.is_dir():
            return f"--allow-path {allowed} is not a directory"
    return None


def _holds_password(url: str | None) -> bool:
    """Whether a database URL names a password (in its user part or as a query argument)."""
    try:
        parts = urlsplit(url or "")
    except ValueError:  # a URL this does not split fails at start anyway, naming none of it
        return False
    return parts.password is not None or "password=" in parts.query.lower()


def _size_variable_refusal() -> str | None:
    """Why a size variable jobs read cannot be meant, or None: read only when a job runs, a typo there failed
    every import, export or training much later with a Python exception for a reason."""
    for name in (PART_BYTES_ENV, PART_ROWS_ENV, BLOCK_ENV):
        value = os.environ.get(name, "")
        try:
            usable = not value or int(value) >= 1
        except ValueError:
            usable = False
        if not usable:
            return f"{name} must be a whole number of at least 1, not {value!r}"
    return None


@app.command()
def demo(
    dataset: Annotated[
        Path | None, typer.Option(help="A MovieLens directory (ratings.csv, movies.csv) instead of the bundled one.")
    ] = None,
    full: Annotated[bool, typer.Option(help="Use ml-25m, downloaded from GroupLens (needs the internet).")] = False,
    fast: Annotated[bool, typer.Option(help="Fewer example tables (for CI).")] = False,
    keep: Annotated[bool, typer.Option(help="Keep everything and leave the server running.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Server data dir (default: a temporary one).")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port for the embedded server (0 = any free port).")] = 0,
) -> None:
    """Run the Amazon Personalize POC workflow end to end on MovieLens (offline by default)."""
    from .demo import DemoError, run_demo

    dataset, data_dir = (p.expanduser() if p else None for p in (dataset, data_dir))  # as serve: --data-dir=~/op

    logging.basicConfig(level="WARNING")
    out = Console()
    try:
        run_demo(out, dataset=dataset, full=full, fast=fast, keep=keep, data_dir=data_dir, port=port)
    except (DemoError, CredentialsError) as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        raise typer.Exit(1) from None


if __name__ == "__main__":
    app()
