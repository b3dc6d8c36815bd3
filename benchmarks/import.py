"""Benchmark CSV -> Parquet dataset import: time, rows/s and peak RSS.

(a) the ml-latest-small POC interactions (158,371 rows), (b) a synthetic ML-25M-shaped
CSV (25,000,095 rows by default; ``--rows N`` to scale down). Generation is timed
separately. Each import runs in a fresh child process so that the peak RSS reported
(``RUSAGE_CHILDREN.ru_maxrss``) is the import's alone.

    python benchmarks/import.py [--rows N] [--work-dir DIR] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

from openpersonalize.data import movielens, synthetic
from openpersonalize.data.csv_import import CsvSource, import_csv
from openpersonalize.data.schema import parse_schema

ML_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ml-latest-small"


def _opener(path: Path):  # noqa: ANN202 - tiny helper
    return lambda: open(path, "rb")  # noqa: SIM115 - the importer closes the stream


def _import_child(csv_path: str, dest: str, queue: mp.Queue) -> None:
    """Run one import (in a child process) and report (seconds, rows, total_rows)."""
    schema = parse_schema(json.dumps(movielens.INTERACTIONS_SCHEMA))
    path = Path(csv_path)
    start = time.perf_counter()
    result = import_csv([CsvSource(path.name, _opener(path))], schema, "INTERACTIONS", Path(dest), None, "FULL")
    queue.put((time.perf_counter() - start, result.rows, result.total_rows))


def measure(csv_path: Path, dest: Path) -> tuple[float, int, float]:
    """(seconds, rows, peak RSS MiB) of importing ``csv_path`` in a fresh child process."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_import_child, args=(str(csv_path), str(dest), queue))
    proc.start()
    seconds, rows, _total = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"import child failed with exit code {proc.exitcode}")
    # ru_maxrss is the largest RSS of any waited-for child (KiB on Linux); each run is one child.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, rows, peak_mib


def report(label: str, csv_path: Path, dest: Path) -> None:
    size_mib = csv_path.stat().st_size / 2**20
    seconds, rows, peak = measure(csv_path, dest)
    print(
        f"{label}: {rows:,} rows, {size_mib:,.0f} MiB CSV, import {seconds:.2f} s, "
        f"{rows / seconds:,.0f} rows/s, peak RSS {peak:,.0f} MiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=synthetic.ML25M_ROWS, help="synthetic CSV rows")
    parser.add_argument("--work-dir", type=Path, default=None, help="where CSVs and snapshots go")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()

    own_tmp = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="import-bench-")) if own_tmp else args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        poc_csv = work / "poc_interactions.csv"
        movielens.write_csv(movielens.prepare_interactions(ML_DIR / "ratings.csv"), poc_csv)
        # Runs are sequential children; ru_maxrss is a max over them, so run the small one first.
        report("(a) ml-latest-small POC interactions", poc_csv, work / "snap-poc")

        if not args.skip_synthetic:
            syn_csv = work / f"synthetic_{args.rows}.csv"
            if not syn_csv.exists():
                start = time.perf_counter()
                n_users = max(1, min(synthetic.ML25M_USERS, args.rows // 20))
                # Small user blocks: with pyarrow >= 26, pa.array() of a numpy str array above ~2M
                # values returns a ChunkedArray, which synthetic.interaction_batches cannot batch.
                kwargs = {"n_rows": args.rows, "batch_users": 2_000}
                if args.rows != synthetic.ML25M_ROWS:
                    kwargs["n_users"] = n_users
                partial = syn_csv.with_suffix(".partial")
                synthetic.write_interactions_csv(partial, **kwargs)
                partial.rename(syn_csv)
                print(f"    generated {syn_csv.name} in {time.perf_counter() - start:.1f} s (not counted)")
            shutil.rmtree(work / "snap-syn", ignore_errors=True)
            report(f"(b) synthetic {args.rows:,}-row interactions", syn_csv, work / "snap-syn")
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
