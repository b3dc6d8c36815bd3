"""Shared fixtures: MovieLens paths, an S3-compatible server, and real openpersonalize servers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from server_harness import Server, free_port

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ml-latest-small"
POSTGRES_ENV = "OPENPERSONALIZE_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    if not (DATASETS / "ratings.csv").exists():
        pytest.fail(f"MovieLens ml-latest-small not found at {DATASETS}")
    return DATASETS


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3-compatible server on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _postgres_database(admin_url: str) -> str:
    """A fresh database on the test PostgreSQL server, so runs never see each other's rows."""
    import sqlalchemy as sa

    name = f"op_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _backends() -> list:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=_backends())
def server(request, tmp_path_factory, s3_server, movielens_dir) -> Server:
    """A running server (SQLite, and PostgreSQL when OPENPERSONALIZE_TEST_POSTGRES_URL is set)."""
    database_url = None
    if request.param == "postgres":
        admin = os.environ.get(POSTGRES_ENV)
        if not admin:
            if os.environ.get("CI"):
                pytest.fail(f"{POSTGRES_ENV} must be set in CI")
            pytest.skip(f"{POSTGRES_ENV} not set")
        database_url = _postgres_database(admin)
    root = tmp_path_factory.mktemp(f"server-{request.param}")
    work = root / "work"
    work.mkdir()
    env = {
        "OPENPERSONALIZE_S3_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    srv = Server(root / "data", database_url, [work, movielens_dir], env).start()
    srv.work = work  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def personalize(server):
    return server.client("personalize")
