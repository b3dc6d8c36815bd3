"""Solutions and solution versions: recipe, training status and progress, offline metrics compared, HPO."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..control.kinds import CAMPAIGN, SOLUTION, SOLUTION_VERSION
from ..evaluation.metrics import METRIC_KEYS
from .service import ConsoleService, region_of
from .web import FINISHED, Console, PageRequest, Rendered, arn_url

POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
ABBREVIATIONS = {
    "mean_reciprocal_rank_at_": "MRR@",
    "normalized_discounted_cumulative_gain_at_": "NDCG@",
    "precision_at_": "P@",
}


def _label(key: str) -> str:
    """A metric's short name for table headers and the chart (NDCG@10 for normalized_..._at_10)."""
    return next((short + key[len(long) :] for long, short in ABBREVIATIONS.items() if key.startswith(long)), key)


METRICS = tuple((key, _label(key)) for key in METRIC_KEYS)  # GetSolutionMetrics' keys, in Personalize's order


def _metrics(svc: ConsoleService, version: dict[str, Any]) -> dict[str, float]:
    if version.get("status") != "ACTIVE":
        return {}
    arn = version["solutionVersionArn"]
    return svc.call("GetSolutionMetrics", region_of(arn), solutionVersionArn=arn).get("metrics", {})


def _baseline(svc: ConsoleService, group_arn: str, exclude: str) -> tuple[str, dict[str, float]] | None:
    """The newest ACTIVE aws-popularity-count version of the group (not ``exclude``'s own) and its metrics."""
    for solution in svc.listing(SOLUTION, group_arn):
        if solution["solutionArn"] == exclude or solution.get("recipeArn") != POPULARITY:
            continue
        for version in svc.listing(SOLUTION_VERSION, solution["solutionArn"]):
            if version.get("status") == "ACTIVE":
                return solution["name"], _metrics(svc, version)
    return None


def _chart(rows: list[tuple[str, dict[str, float]]]) -> dict[str, Any] | None:
    """Grouped bars (an SVG the server draws): one group per metric, one bar per version (and the baseline)."""
    rows = [(name, m) for name, m in rows if m]
    if not rows:
        return None
    top = max(float(m.get(k, 0.0)) for _, m in rows for k, _ in METRICS) or 1.0
    width, left, height = 800.0, 40.0, 200.0
    group = (width - left) / len(METRICS)
    bar = group * 0.8 / len(rows)
    bars = [
        {
            "series": s,
            "x": left + i * group + group * 0.1 + s * bar,
            "w": bar,
            "h": height * float(m.get(key, 0.0)) / top,
            "value": float(m.get(key, 0.0)),
            "label": f"{name}: {label} {float(m.get(key, 0.0)):.4f}",
        }
        for i, (key, label) in enumerate(METRICS)
        for s, (name, m) in enumerate(rows)
    ]
    labels = [{"x": left + (i + 0.5) * group, "text": label} for i, (_, label) in enumerate(METRICS)]
    return {"bars": bars, "labels": labels, "series": [n for n, _ in rows], "top": top, "height": height}


def solution_page(console: Console, page: PageRequest) -> Rendered:
    arn = page.path["arn"]
    svc = console.service
    solution = svc.describe(SOLUTION, arn)
    versions = []
    for row in svc.listing(SOLUTION_VERSION, arn):
        version = svc.describe(SOLUTION_VERSION, row["solutionVersionArn"])
        version["progress"] = svc.progress(version["solutionVersionArn"])
        version["metrics"] = _metrics(svc, version)
        versions.append(version)
    baseline = _baseline(svc, solution["datasetGroupArn"], arn)
    compared = [(v["solutionVersionArn"].rsplit("/", 1)[-1], v["metrics"]) for v in versions[:6]]
    if baseline:
        compared.append((f"baseline: {baseline[0]}", baseline[1]))
    running = any(v["status"] not in FINISHED for v in versions)
    values = {
        "solution": solution,
        "versions": versions,
        "metrics": METRICS,
        "chart": _chart(compared),
        "baseline": baseline,
        "running": running,
        "campaigns": svc.listing(CAMPAIGN, arn),
    }
    return Rendered("solution.html", values)


def version_page(console: Console, page: PageRequest) -> Rendered:
    arn = page.path["arn"]
    svc = console.service
    version = svc.describe(SOLUTION_VERSION, arn)
    values = {
        "version": version,
        "fraction": svc.progress(arn),
        "finished": version["status"] in FINISHED,
        "metrics": METRICS,
        "values": _metrics(svc, version),
    }
    return Rendered("version_status.html" if page.partial else "version.html", values)


def create_version(console: Console, page: PageRequest) -> Response:
    """CreateSolutionVersion from the solution page; then the version's page, where training progress shows."""
    arn = page.path["arn"]
    mode = page.form.get("trainingMode") or "FULL"
    version = console.service.call("CreateSolutionVersion", region_of(arn), solutionArn=arn, trainingMode=mode)
    return RedirectResponse(arn_url(version["solutionVersionArn"]), 303)


def routes(console: Console) -> list[Route]:
    return [
        Route("/console/solution/{arn:path}/versions", console.page(create_version), methods=["POST"]),
        Route("/console/solution/{arn:path}", console.page(solution_page)),
        Route("/console/solution-version/{arn:path}", console.page(version_page)),
    ]
