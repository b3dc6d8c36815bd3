"""What the notebooks' first cells set up: clients pointed at openpersonalize, and %store-like state.

The only change from code written for Amazon Personalize is ``endpoint_url`` and the
credentials (from OPENPERSONALIZE_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import boto3

ENDPOINT = os.environ.get("OPENPERSONALIZE_ENDPOINT", "http://127.0.0.1:8080")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
STATE = Path(os.environ.get("POC_STATE", "poc_state.json"))
DATA_DIR = Path(os.environ.get("POC_DATA_DIR", "poc_data")).resolve()


def client(service: str):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION)


def store(**values) -> None:
    """Like the notebooks' %store: keep values for the next script."""
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    state.update(values)
    STATE.write_text(json.dumps(state, indent=2))


def restore() -> dict:
    return json.loads(STATE.read_text())


def wait(describe, key: str, **kwargs) -> dict:
    """The notebooks' polling loop (every second instead of every minute)."""
    max_time = time.time() + 3 * 60 * 60
    while time.time() < max_time:
        res = describe(**kwargs)[key]
        print(f"{key}: {res['status']}")
        if res["status"] in ("ACTIVE", "CREATE FAILED"):
            return res
        time.sleep(1)
    raise TimeoutError(key)
