"""One BLAS thread per process for serving and batch scoring.

A request's or a batch line's products are small, and the processes already use every core;
a BLAS thread pool on top only contends for them (one 150-row product took 4 ms instead of
0.2 ms). scipy ships its own OpenBLAS next to numpy's, loaded with ``scipy.linalg``: it is
imported first so that the limit reaches both.
"""

from __future__ import annotations

import scipy.linalg  # noqa: F401  (loads scipy's own BLAS, so the limit below covers it)
from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    """Limit every BLAS library loaded in this process (numpy's and scipy's) to one thread."""
    threadpool_limits(1, "blas")
