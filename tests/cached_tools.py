"""Client tools the tests install on first use and cache: Python venvs pinned by a requirements file, npm modules.

Each cache entry is keyed by a hash of what it was built from (and the interpreter version for venvs), so
editing the pins builds a fresh one; a half-built entry (no marker) or one whose base Python is gone is
rebuilt. An exclusive file lock lets concurrent test runs install each tool once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CACHE_ENV = "OPENPERSONALIZE_TEST_CACHE"


def cache_root() -> Path:
    """Where built tools live: ``$OPENPERSONALIZE_TEST_CACHE``, else ``~/.cache/openpersonalize``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "openpersonalize"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _runs(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
    except OSError:
        return False


def install(cmd: list[str], cwd: Path | None = None) -> None:
    """Run an install step; a failure fails the test with the tool's own output."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def cached_venv(name: str, requirements: Path) -> Path:
    """The root of a ready venv with ``requirements`` installed, built on first use."""
    key = digest(requirements.read_bytes() + sys.version.encode())
    root = cache_root() / f"{name}-{key}"
    marker = root / ".complete"
    with locked(cache_root() / f"{name}-{key}.lock"):
        if not (marker.exists() and _runs([str(root / "bin" / "python"), "-c", "pass"])):
            shutil.rmtree(root, ignore_errors=True)
            install([sys.executable, "-m", "venv", str(root)])
            install([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)])
            marker.write_text(requirements.read_text())
    return root


def npm_modules(package_dir: Path) -> Path:
    """``package_dir/node_modules`` from ``npm ci``, reinstalled when package-lock.json changes."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm (Node 20) are needed for this test")
    modules = package_dir / "node_modules"
    marker = modules / ".openpersonalize-lock"
    lock_digest = digest((package_dir / "package-lock.json").read_bytes())
    with locked(cache_root() / "npm-ci.lock"):
        if not marker.exists() or marker.read_text() != lock_digest:
            install(["npm", "ci", "--no-audit", "--no-fund"], cwd=package_dir)
            marker.write_text(lock_digest)
    return modules
