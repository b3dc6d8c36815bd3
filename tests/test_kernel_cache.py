"""numba's on-disk cache of the scoring kernels after ``kernels.py`` changes (an upgrade, an edit): the kernels of
``personal_kernel.py``, which compile ``kernels.py``'s into their cache entries, must run the new code.

numba stamps an entry with its own file only (numba#1833): without ``recipes/kernel_cache.py`` the second run
below loads ``personal_kernel._weights`` from the cache with the old ``_rank_weights`` inside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openpersonalize.recipes as recipes

FILES = ("kernels.py", "personal_kernel.py", "kernel_cache.py")
WEIGHTS = """
import json, numpy as np
from kernels_copy import kernels, personal_kernel as pk
rank, counts = np.arange(5, dtype=np.int64), np.ones(5, np.int64)
print(json.dumps({
    "personal_kernel": pk._weights(rank, counts, pk.Recency(10.0, 0.1, 100.0, True)).tolist(),
    "kernels": kernels._rank_weights(rank, counts, 10.0, 0.1, 100.0, True).tolist(),
}))
"""


def _weights(root: Path, cache: Path | None, **more_env: str) -> dict[str, list[float]]:
    """The kernels' weights computed in a fresh process (numba's cache in ``cache``, else where it chooses)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"PYTHONPATH": str(root), **more_env}
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    done = subprocess.run([sys.executable, "-c", WEIGHTS], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _copy_kernels(root: Path) -> Path:
    package = root / "kernels_copy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in FILES:
        shutil.copy(Path(recipes.__file__).with_name(name), package / name)
    return package


def test_a_changed_kernels_file_recompiles_the_kernels_calling_it(tmp_path):
    package = _copy_kernels(tmp_path)
    kernels = package / "kernels.py"
    source = kernels.read_text()
    weight = "        out[i] = w * (1.0 + 0.1 * log_counts[i])\n"
    assert source.count(weight) == 1
    kernels.write_text(source.replace(weight, "        out[i] = 7.0\n"))  # the old version, cached first
    assert _weights(tmp_path, tmp_path / "cache") == {"personal_kernel": [7.0] * 5, "kernels": [7.0] * 5}
    kernels.write_text(source)  # the new version, on the same cache
    new = _weights(tmp_path, tmp_path / "cache")
    assert new["kernels"] != [7.0] * 5
    assert new["personal_kernel"] == new["kernels"]


def test_compiled_kernels_stay_out_of_the_source_tree(tmp_path):
    """Without NUMBA_CACHE_DIR the kernels are cached in the user's cache folder, not in ``__pycache__`` beside a
    writable checkout (numba's default there): the package's folders hold no compiled code."""
    package = _copy_kernels(tmp_path)
    user_cache = tmp_path / "user-cache"
    _weights(tmp_path, None, XDG_CACHE_HOME=str(user_cache))
    assert list(user_cache.rglob("kernels.*.nbi")) and list(user_cache.rglob("personal_kernel.*.nbi"))
    assert not list(package.rglob("*.nbi")) and not list(package.rglob("*.nbc"))
