"""numba's on-disk cache of the scoring kernels, kept fresh across both kernel files.

numba keys a cached function by a hash of its own source file only, and compiles the functions it calls from
other files into its own entry ("Cache invalidation fails to recognize changes in symbols defined in another
file", numba's caching notes; numba#1833). ``personal_kernel.py``'s kernels call ``kernels.py``'s, so after an
upgrade or an edit that changes ``kernels.py`` alone they kept running its old code from the cache. Here every
function of either file is stamped with the hash of both: a change to either recompiles both, where numba
would have put them (``NUMBA_CACHE_DIR``), else in the user's cache folder: beside the sources (numba's default
when they are writable) only when that folder cannot be written, so that the kernels' compiled code stays out of
a checkout or an installed package.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from numba.core.caching import CacheImpl, InTreeCacheLocator, _CacheLocator

SOURCES = tuple(Path(__file__).resolve().with_name(name) for name in ("kernels.py", "personal_kernel.py"))


@functools.cache
def sources_stamp() -> str:
    """The hash of the kernel files together (read once a process, when the first kernel is defined)."""
    digest = hashlib.sha256()
    for path in SOURCES:
        digest.update(path.read_bytes())
    return digest.hexdigest()


class KernelSourcesLocator(_CacheLocator):
    """numba's own locator for a kernel, with the stamp of both kernel files instead of the kernel's own."""

    def __init__(self, inner: _CacheLocator) -> None:
        self._inner = inner

    def ensure_cache_path(self) -> None:
        self._inner.ensure_cache_path()

    def get_cache_path(self) -> str:
        return self._inner.get_cache_path()

    def get_source_stamp(self) -> str:
        return sources_stamp()

    def get_disambiguator(self) -> str:
        return self._inner.get_disambiguator()

    @classmethod
    def from_function(cls, py_func: Callable[..., Any], py_file: str) -> KernelSourcesLocator | None:
        if Path(py_file).resolve() not in SOURCES:
            return None
        in_tree_last = sorted(CacheImpl._locator_classes, key=lambda locator: locator is InTreeCacheLocator)
        for locator in in_tree_last:
            inner = None if locator is cls else locator.from_function(py_func, py_file)
            if inner is not None:
                return cls(inner)
        return None


def stamp_with_both_sources() -> None:
    """Make numba locate the kernel files' functions with ``KernelSourcesLocator`` (first; idempotent). Call it
    before their ``@njit(cache=True)`` decorators run: numba picks a function's locator when it is decorated."""
    if KernelSourcesLocator not in CacheImpl._locator_classes:
        CacheImpl._locator_classes.insert(0, KernelSourcesLocator)
