"""The README's main job (`openpersonalize demo`) and the example scripts, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server_harness import ACCESS_KEY, SECRET_KEY, Server

ROOT = Path(__file__).resolve().parents[1]


def test_demo_fast_runs_the_whole_workflow(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "openpersonalize.cli", "demo", "--fast"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "160"},
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    for expected in (
        "Offline metrics: openpersonalize vs what Personalize reported",
        "Similar to Terminator 2: Judgment Day (1991)",
        "Shelves for user",
        "recommendations after each click",
        "Re-ranked for user",
        "Batch output (json_input.json.out)",
        "deleted campaigns, tracker, filters, solutions, datasets, schemas and the group",
        "Demo summary",
    ):
        assert expected in out, expected


def test_example_scripts_against_a_server(tmp_path, movielens_dir):
    work = tmp_path / "work"
    work.mkdir()
    server = Server(tmp_path / "data", None, [work]).start()
    try:
        env = {
            **os.environ,
            "OPENPERSONALIZE_ENDPOINT": server.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "POC_STATE": str(work / "poc_state.json"),
            "POC_DATA_DIR": str(work / "poc_data"),
        }
        scripts = sorted(p.name for p in (ROOT / "examples").glob("0*.py"))
        assert len(scripts) == 6
        for script in scripts:
            args = [sys.executable, script] + ([str(movielens_dir)] if script.startswith("01") else [])
            result = subprocess.run(args, cwd=ROOT / "examples", env=env, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f"{script}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        assert "deleted" in result.stdout
        assert server.client().list_dataset_groups()["datasetGroups"] == []
    finally:
        server.stop()
