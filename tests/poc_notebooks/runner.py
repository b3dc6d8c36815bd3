"""Run the POC notebooks' code cells in order under IPython, as Jupyter would, and write a JSON report.

Runs under the notebooks' own environment (tests/cached_tools.py builds it from requirements.txt),
in the working directory the notebooks write to. Usage: ``runner.py NOTEBOOK_DIR DATASET_DIR REPORT_JSON``.
Every change to the cells and every addition around them is in adaptations.py. Stops at the first
failing cell, as "Run All" does. The report holds each cell (adapted source, output, error) and every
Personalize call the cells made.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

import adaptations
import boto3
import numpy
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


def build_download(dataset_dir: Path) -> None:
    """The zip GroupLens serves for ml-latest-small: the folder ml-latest-small/ and its files."""
    target = Path(adaptations.DOWNLOAD_DIR)
    target.mkdir()
    with zipfile.ZipFile(target / "ml-latest-small.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(dataset_dir.iterdir()):
            archive.write(path, f"ml-latest-small/{path.name}")


def record_personalize_calls(calls: list[dict[str, Any]]) -> None:
    """Append every Personalize call made through boto3's default session (the cells' clients) to ``calls``."""
    boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events

    def before(params: dict, context: dict, **_: Any) -> None:
        context["poc_params"] = dict(params)

    def after(http_response: Any, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        response = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
        calls.append(
            {
                "service": model.service_model.service_name,
                "operation": model.name,
                "params": context.get("poc_params", {}),
                "status": http_response.status_code,
                "response": json.loads(json.dumps(response, default=str)),
            }
        )

    for service in ("personalize", "personalize-runtime", "personalize-events"):
        events.register(f"before-parameter-build.{service}", before)
        events.register(f"after-call.{service}", after)


def prepare_kernel() -> InteractiveShell:
    """An IPython shell like a notebook kernel's, with the KERNEL changes of adaptations.py."""
    real_sleep = time.sleep
    time.sleep = lambda seconds: real_sleep(min(seconds, adaptations.SLEEP_CAP_S))
    seed = int(os.environ.get(adaptations.SEED_ENV, adaptations.DEFAULT_SEED))
    random.seed(seed)
    numpy.random.seed(seed)
    shell = InteractiveShell.instance(colors="NoColor")
    shell.extension_manager.load_extension("storemagic")
    system = shell.system

    def strict_system(cmd: str) -> None:
        system(cmd)
        if shell.user_ns.get("_exit_code"):
            raise RuntimeError(f"!{cmd} exited with status {shell.user_ns['_exit_code']}")

    shell.system = strict_system
    return shell


def print_adaptations() -> None:
    """Head the log with every change the run makes, so its output can be judged against the seed's."""
    print("Adaptations (tests/poc_notebooks/adaptations.py):")
    for sub in adaptations.SUBSTITUTIONS:
        print(f"- {sub.notebook}: {sub.old.strip()!r} -> {sub.new.strip()!r}\n  {sub.reason}")
    for change, reason in adaptations.KERNEL:
        print(f"- kernel: {change}\n  {reason}")


def run(notebook_dir: Path, dataset_dir: Path) -> dict[str, Any]:
    print_adaptations()
    notebooks = adaptations.adapted_cells(notebook_dir)
    build_download(dataset_dir)
    calls: list[dict[str, Any]] = []
    record_personalize_calls(calls)
    shell = prepare_kernel()
    cells: list[dict[str, Any]] = []
    report = {"cells": cells, "calls": calls, "seed": os.environ.get(adaptations.SEED_ENV, adaptations.DEFAULT_SEED)}
    for name, sources in notebooks:
        shell.reset(new_session=True)
        for index, source in enumerate(sources):
            started = datetime.datetime.now().isoformat(timespec="seconds")
            print(f"\n===== {name} cell {index} ({started}) =====\n{source}\n-----", flush=True)
            with capture_output(display=False) as captured:
                result = shell.run_cell(source, store_history=True)
            error = result.error_before_exec or result.error_in_exec
            cell = {"notebook": name, "index": index, "source": source, "output": captured.stdout + captured.stderr}
            if error is not None:
                cell["error"] = "".join(traceback.format_exception(error))
            cells.append(cell)
            print(cell["output"] + cell.get("error", ""), flush=True)
            if error is not None:
                return report
    return report


def main(argv: list[str]) -> int:
    notebook_dir, dataset_dir, report_path = (Path(arg).resolve() for arg in argv[1:4])
    report = run(notebook_dir, dataset_dir)
    report_path.write_text(json.dumps(report, indent=1))
    return 1 if "error" in report["cells"][-1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
