"""No secret travels in a job task's arguments (Ray's dashboard and state API show them).

A batch inference job's workers open the metadata store themselves; the job used to hand them the
database URL, password included, as a task argument. They now get it without its password and take
the password from OPENPERSONALIZE_DATABASE_URL in their own environment (the server exports it for
its children; Ray machines are started with it). A worker-sized batch over boto3 against a
PostgreSQL server with a password is covered by tests/test_batch.py's postgres backend.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest

from openpersonalize.control.base import Settings
from openpersonalize.control.batch_jobs import inference_workers
from openpersonalize.store.database_url import DATABASE_URL_ENV, for_worker, shareable

PASSWORD = "hunter2-s3cret"
URL = f"postgresql+psycopg://op:{PASSWORD}@db.internal:5432/op?sslmode=require"
DOC = {"solutionVersionArn": "arn:aws:personalize:eu-west-3:000000000000:solution/s/abc", "numResults": 10}


def test_batch_task_arguments_carry_no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    control = SimpleNamespace(settings=Settings(data_dir=tmp_path), store=SimpleNamespace(url=URL))
    workers = inference_workers(control, DOC, 10)
    shipped = pickle.dumps((workers.factory, workers.kwargs))  # what RayExecutor.ordered_map ray.put()s
    assert PASSWORD.encode() not in shipped
    assert workers.kwargs["database"] == "postgresql+psycopg://op@db.internal:5432/op?sslmode=require"
    monkeypatch.setenv(DATABASE_URL_ENV, URL)
    assert for_worker(workers.kwargs["database"]) == URL  # the worker's own environment completes it


def test_worker_takes_the_environment_only_for_the_same_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, URL)
    other = "postgresql+psycopg://op@db.internal:5432/other?sslmode=require"
    assert for_worker(other) == other
    monkeypatch.delenv(DATABASE_URL_ENV)
    assert for_worker(shareable(URL)) == shareable(URL)


def test_sqlite_urls_pass_unchanged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    assert shareable(url) == url and for_worker(url) == url


def test_an_app_built_in_process_leaves_the_environment_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``openpersonalize serve`` (the process whose workers need it) exports the URL: an app built inside
    another program (tests, the embedded server) once set it there, and every server that program started
    afterwards opened that database (a test's deleted one) instead of its own."""
    from openpersonalize.server import ServerConfig, build_app

    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    build_app(ServerConfig(data_dir=str(tmp_path / "data")))
    assert DATABASE_URL_ENV not in os.environ
