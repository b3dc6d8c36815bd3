"""Shared fixtures: MovieLens paths, an S3-compatible server, real openpersonalize servers, and the POC
dataset group trained once per server with every recipe the runtime and batch suites deploy."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from helpers import HORROR_FAN, MOVIELENS, import_dataset, s3_env, skip_or_fail, train
from openpersonalize.data import movielens
from server_harness import Server, free_port, unique

POSTGRES_ENV = "OPENPERSONALIZE_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    if not (MOVIELENS / "ratings.csv").exists():
        pytest.fail(f"MovieLens ml-latest-small not found at {MOVIELENS}")
    return MOVIELENS


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


@pytest.fixture(scope="module")
def postgres_url() -> str:
    """A fresh database on the test PostgreSQL server (OPENPERSONALIZE_TEST_POSTGRES_URL; fails in CI without one)."""
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        skip_or_fail(f"{POSTGRES_ENV} not set: no PostgreSQL server to run against")
    return _postgres_database(admin)


def _backends() -> list:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=_backends())
def server(request, tmp_path_factory, s3_server, movielens_dir) -> Server:
    """A running server (SQLite, and PostgreSQL when OPENPERSONALIZE_TEST_POSTGRES_URL is set)."""
    database_url = None
    if request.param == "postgres":
        admin = os.environ.get(POSTGRES_ENV)
        if not admin:
            skip_or_fail(f"{POSTGRES_ENV} not set: no PostgreSQL server to run against")
        database_url = _postgres_database(admin)
    root = tmp_path_factory.mktemp(f"server-{request.param}")
    work = root / "work"
    work.mkdir()
    env = s3_env(s3_server)
    srv = Server(root / "data", database_url, [work, movielens_dir], env).start()
    srv.work = work  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def personalize(server):
    return server.client("personalize")


@pytest.fixture(scope="session")
def horror_history(movielens_dir) -> list[str]:
    """40 pure horror movies (no comedy), lowest ids first: the horror fan's whole history."""
    items = movielens.prepare_items(movielens_dir / "movies.csv").to_pylist()
    horror = (r["ITEM_ID"] for r in items if "Horror" in r["GENRE"] and "Comedy" not in r["GENRE"])
    return sorted(horror, key=int)[:40]


POC_RECIPES = (
    "aws-user-personalization",
    "aws-sims",
    "aws-personalized-ranking",
    "aws-popularity-count",
    "aws-item-affinity",
)


@pytest.fixture(scope="session")
def poc_group(server, personalize, movielens_dir, horror_history) -> dict:
    """The POC data (ml-latest-small interactions plus one horror fan, and the items) in one dataset group,
    trained once per server with every recipe in POC_RECIPES: the runtime and batch suites deploy these versions.

    Suites deploy their own campaigns and may add to the group's data (events, items, users, filters) but delete
    nothing from it, so each suite sees the trained state whatever ran before it.
    """
    ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    fan = pa.table(
        {
            "USER_ID": [HORROR_FAN] * len(horror_history),
            "ITEM_ID": horror_history,
            "EVENT_TYPE": ["watch"] * len(horror_history),
            "TIMESTAMP": list(range(1_500_000_000, 1_500_000_000 + len(horror_history))),
        }
    )
    ints = movielens.write_csv(pa.concat_tables([ratings, fan]), server.work / f"{unique('ints')}.csv")
    items = movielens.write_csv(
        movielens.prepare_items(movielens_dir / "movies.csv"), server.work / f"{unique('items')}.csv"
    )
    group = personalize.create_dataset_group(name=unique("poc"))["datasetGroupArn"]
    datasets = {
        "INTERACTIONS": import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(ints)),
        "ITEMS": import_dataset(personalize, group, "ITEMS", movielens.ITEMS_SCHEMA, str(items)),
    }
    return {"group": group, "datasets": datasets, "versions": train(personalize, group, POC_RECIPES)}


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright, for the console's browser suites (tests/console_browser.py).

    One per module: Playwright's sync API runs an event loop in the test thread while it is open, so a
    session-wide browser would leave later suites unable to ``asyncio.run``."""
    from console_browser import chromium

    with chromium() as b:
        yield b
