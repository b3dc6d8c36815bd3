"""``openpersonalize serve`` at start (node.py): an unreachable database or object store, or a second node on
SQLite, ends with one line naming the problem and a non-zero exit, before the port is opened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import own_server
from server_harness import ACCESS_KEY, SECRET_KEY, free_port


def _serve(data_dir: Path, *args: str, **env: str) -> tuple[int, list[str]]:
    """Run ``serve`` expecting it to refuse; its exit code and its ``openpersonalize serve:`` lines."""
    cmd = [sys.executable, "-m", "openpersonalize.cli", "serve", "--port", str(free_port())]
    cmd += ["--data-dir", str(data_dir)]
    full_env = {
        **os.environ,
        "OPENPERSONALIZE_ACCESS_KEY_ID": ACCESS_KEY,
        "OPENPERSONALIZE_SECRET_ACCESS_KEY": SECRET_KEY,
        **env,
    }
    done = subprocess.run([*cmd, *args], env=full_env, capture_output=True, text=True, timeout=120)
    return done.returncode, [line for line in done.stderr.splitlines() if line.startswith("openpersonalize serve:")]


def test_unreachable_postgresql_is_named(tmp_path):
    code, lines = _serve(tmp_path / "data", "--database-url", "postgresql+psycopg://op:hunter2@127.0.0.1:1/op")
    assert code == 1 and len(lines) == 1
    assert "cannot reach the database postgresql+psycopg://op:***@127.0.0.1:1/op" in lines[0]
    assert "hunter2" not in lines[0]


def test_unreachable_s3_endpoint_is_named(tmp_path):
    code, lines = _serve(
        tmp_path / "data",
        "--object-store",
        "s3://bucket/prefix",
        OPENPERSONALIZE_S3_ENDPOINT_URL="http://127.0.0.1:1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    assert code == 1 and len(lines) == 1
    assert "cannot reach the object store s3://bucket/prefix (endpoint http://127.0.0.1:1)" in lines[0]


def test_a_second_node_on_one_sqlite_database_or_data_dir_is_refused(tmp_path):
    with own_server(tmp_path) as first:
        code, lines = _serve(tmp_path / "second", "--database-url", f"sqlite:///{first.data_dir / 'metadata.db'}")
        assert code == 1 and len(lines) == 1
        assert "refusing to start" in lines[0] and "SQLite" in lines[0] and f":{first.port}" in lines[0]
        code, lines = _serve(first.data_dir)
        assert code == 1 and len(lines) == 1
        assert "refusing to start" in lines[0] and f"already uses the data dir {first.data_dir}" in lines[0]
    first.start()  # a node stopped cleanly left the registry: the same data dir starts again
    first.stop()
