"""The separate virtual environment the POC notebooks run in (pandas < 2), built once and cached.

The cache key is a hash of requirements.txt and the interpreter version, so editing the pins
builds a fresh environment; a half-built one (no marker file) is rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
CACHE_ENV = "OPENPERSONALIZE_POC_VENV_CACHE"


def _cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "openpersonalize"


def poc_venv() -> Path:
    """The root of a ready virtual environment with requirements.txt installed (built on first use)."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]
    root = _cache_root() / f"poc-venv-{key}"
    marker = root / ".complete"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"poc-venv-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            shutil.rmtree(root, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
            python = str(root / "bin" / "python")
            subprocess.run([python, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
            marker.write_text(REQUIREMENTS.read_text())
    return root
