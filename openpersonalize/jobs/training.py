"""The training job body, run in a child process: read snapshots, train, save the artifact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..data.csv_import import read_snapshot
from ..data.tables import append_rows


def train_from_snapshots(
    recipe_arn: str,
    interactions: str,
    items: str | None,
    users: str | None,
    params: dict[str, str],
    event_type: str | None,
    perform_hpo: bool,
    hpo_config: dict[str, Any] | None,
    out_dir: str,
    previous_dir: str | None,
    progress: Callable[[float], None],
    live_events: str | None = None,
) -> dict[str, Any]:
    """Train a solution version from dataset snapshots plus live events; returns metrics and tuned params."""
    from ..recipes.pipeline import train_solution_version

    table = read_snapshot(Path(interactions))
    if live_events:
        table = append_rows(table, pq.read_table(live_events))
    result = train_solution_version(
        recipe_arn,
        table,
        read_snapshot(Path(items)) if items else None,
        read_snapshot(Path(users)) if users else None,
        params,
        event_type,
        perform_hpo,
        hpo_config,
        Path(out_dir),
        previous_dir=Path(previous_dir) if previous_dir else None,
        progress=progress,
    )
    return {
        "metrics": dict(result.metrics),
        "tuned_params": dict(result.tuned_params),
        "training_seconds": float(result.training_seconds),
    }
