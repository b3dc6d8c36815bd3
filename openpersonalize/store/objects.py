"""Where every artifact lives: dataset snapshots and solution versions' models, under one root.

The control plane names artifacts by resource ARN and keeps a key (a path relative to the root)
on the resource; only this module joins keys and ARNs into file-system paths, so a later object
store backend replaces one class.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

DATASETS = "datasets"
MODELS = "models"
PARTIAL_SNAPSHOTS = "*/.snapshot-*.tmp"  # new_snapshot's work directories, in each dataset's directory
PARTIAL_MODELS = ".*.tmp"  # training attempts' scratch directories, beside the models


def new_snapshot(dataset_dir: Path) -> tuple[Path, Path, str]:
    """A new snapshot of a dataset: its work directory (made here), the final name it is renamed to, its token.

    Snapshots are written whole into the work directory and published by one rename, so a reader
    never sees a partial one; a killed writer leaves a work directory that matches PARTIAL_SNAPSHOTS.
    """
    token = uuid.uuid4().hex[:12]
    work = dataset_dir / f".snapshot-{token}.tmp"
    work.mkdir(parents=True)
    return work, dataset_dir / f"snapshot-{token}", token


def _safe_name(arn: str) -> str:
    """An ARN's resource part as one path segment."""
    return arn.split(":", 5)[-1].replace("/", "__")


class ObjectStore:
    """The artifact root (``DATA_DIR/objects``) and the location of each artifact in it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def datasets_root(self) -> Path:
        """The directory holding every dataset's snapshots."""
        return self.root / DATASETS

    @property
    def models_root(self) -> Path:
        """The directory holding every solution version's model."""
        return self.root / MODELS

    def dataset_dir(self, dataset_arn: str) -> Path:
        """Where a dataset's immutable snapshots live."""
        return self.datasets_root / _safe_name(dataset_arn)

    def model_dir(self, version_arn: str) -> Path:
        """Where a solution version's immutable model artifact lives."""
        return self.models_root / _safe_name(version_arn)

    def scratch_model_dir(self, version_arn: str, attempt: str) -> Path:
        """A training attempt's scratch directory, published to ``model_dir`` by one rename."""
        out = self.model_dir(version_arn)
        return out.parent / f".{out.name}.{attempt}.tmp"

    @staticmethod
    def scratch_owner(scratch: Path) -> str:
        """The model directory name a scratch directory (``scratch_model_dir``) was made for."""
        return scratch.name[1:].rsplit(".", 2)[0]

    def publish_model(self, model: Path, version_arn: str) -> Path:
        """Make a finished model the version's artifact in one rename (replacing an unpublished earlier one)."""
        out = self.model_dir(version_arn)
        shutil.rmtree(out, ignore_errors=True)
        os.rename(model, out)
        return out

    def remove_model(self, version_arn: str) -> None:
        """Forget a solution version's model (deleted or stopped)."""
        shutil.rmtree(self.model_dir(version_arn), ignore_errors=True)

    def remove_dataset(self, dataset_arn: str) -> None:
        """Forget every snapshot of a deleted dataset."""
        shutil.rmtree(self.dataset_dir(dataset_arn), ignore_errors=True)

    def path(self, key: str | None) -> Path | None:
        """The path of a stored key (as kept on a resource), or None for no key."""
        return self.root / key if key else None

    def key(self, path: Path) -> str:
        """The key a path under the root is kept as on its resource."""
        return path.relative_to(self.root).as_posix()
