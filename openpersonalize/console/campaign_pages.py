"""Campaigns: status, version, config, deploy/update, and "Try it" with each item's reasons.

"Try it" is a GET form (its answer has a URL to bookmark and share). It calls the runtime exactly as
GetRecommendations / GetPersonalizedRanking do, then shows the ITEMS metadata of the answer, the
history it was scored on, and each item's reasons from the model's own scoring (``runtime.explanations``).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..control.kinds import CAMPAIGN, FILTER, SOLUTION_VERSION
from ..errors import InvalidInputException, ServiceError
from ..recipes.registry import PERSONALIZED_RANKING, RELATED_ITEMS, get_recipe
from ..runtime.explanations import campaign_target, explain, item_metadata
from ..runtime.requests import MAX_RESULTS, PromotionRequest, RankRequest, RecommendRequest
from .service import ConsoleService, region_of
from .web import Console, PageRequest, Rendered, arn_url, whole_number

PARAM = re.compile(r"\$([A-Za-z0-9_]{1,50})")
TITLE_COLUMNS = ("TITLE", "NAME", "ITEM_NAME", "PRODUCT_NAME")


def _filters(svc: ConsoleService, group_arn: str) -> list[dict[str, Any]]:
    """The group's filters with the $PARAMETERS their expressions take."""
    out = []
    for row in svc.listing(FILTER, group_arn):
        described = svc.describe(FILTER, row["filterArn"])
        expression = described.get("filterExpression", "")
        out.append({**described, "params": list(dict.fromkeys(PARAM.findall(expression)))})
    return out


def _values(query: dict[str, str], prefix: str, filt: dict[str, Any] | None) -> dict[str, str]:
    """filterValues for ``filt`` from fields named ``prefix`` + parameter."""
    if filt is None:
        return {}
    return {p: query[prefix + p] for p in filt["params"] if query.get(prefix + p, "") != ""}


def _number(text: str | None, default: int) -> int:
    value = whole_number(text)
    return default if value is None else value


def _tps(form: dict[str, str], default: int | None) -> int | None:
    """The form's minProvisionedTPS (``default`` when left empty); anything but a whole number is refused."""
    text = form.get("minProvisionedTPS", "").strip()
    if not text:
        return default
    value = whole_number(text)
    if value is None:
        raise InvalidInputException(f"minProvisionedTPS: {text[:40]!r} is not a whole number.")
    return value


def _try(console: Console, campaign: dict[str, Any], recipe_type: str, filters: list[dict[str, Any]], q: dict) -> dict:
    """Run the form's request through the runtime and explain the answer."""
    runtime = console.service.runtime
    by_arn = {f["filterArn"]: f for f in filters}
    filt = by_arn.get(q.get("filterArn", ""))
    arn = campaign["campaignArn"]
    user_id, item_id = q.get("userId") or None, q.get("itemId") or None
    if recipe_type == PERSONALIZED_RANKING:
        wanted = [i for i in re.split(r"[\s,]+", q.get("inputList", "")) if i]
        ranking = runtime.rank(RankRequest(arn, user_id, wanted, filt and filt["filterArn"], _values(q, "fv_", filt)))
        rows = [(r.item_id, r.score, None) for r in ranking.items]
    else:
        promo_filter = by_arn.get(q.get("promotionFilterArn", ""))
        promotions = ()
        if promo_filter is not None:
            percent = _number(q.get("promotionPercent"), 10)
            promotions = (
                PromotionRequest(
                    q.get("promotionName") or "promotion",
                    percent,
                    promo_filter["filterArn"],
                    _values(q, "pv_", promo_filter),
                ),
            )
        request = RecommendRequest(
            arn,
            user_id=user_id,
            item_id=item_id,
            num_results=min(_number(q.get("numResults"), 25), MAX_RESULTS),
            filter_arn=filt and filt["filterArn"],
            filter_values=_values(q, "fv_", filt),
            promotions=promotions,
        )
        rows = [(r.item_id, r.score, r.promotion) for r in runtime.recommend(request).items]
    ids = [i for i, _, _ in rows]
    explained = explain(runtime, arn, user_id, item_id, ids)
    target = campaign_target(runtime, arn)
    metadata = item_metadata(target, ids + [e.item_id for e in explained.history] + _reason_items(explained))
    columns = sorted({c for m in metadata.values() for c in m})
    title = next((c for c in TITLE_COLUMNS if c in columns), None)
    return {
        "rows": rows,
        "explained": explained,
        "metadata": metadata,
        "columns": [c for c in columns if c != title],
        "title_column": title,
    }


def _reason_items(explained: Any) -> list[str]:
    return [r.item_id for reasons in (explained.reasons or {}).values() for r in reasons if r.item_id]


def campaign_page(console: Console, page: PageRequest) -> Rendered:
    arn = page.path["arn"]
    svc = console.service
    campaign = svc.describe(CAMPAIGN, arn)
    version = svc.describe(SOLUTION_VERSION, campaign["solutionVersionArn"])
    info = get_recipe(version.get("recipeArn", ""))
    recipe_type = info.recipe_type if info else ""
    filters = _filters(svc, version["datasetGroupArn"])
    versions = [
        v["solutionVersionArn"]
        for v in svc.listing(SOLUTION_VERSION, version["solutionArn"])
        if v.get("status") == "ACTIVE"
    ]
    query = dict(page.query)
    params: dict[str, list[str]] = {}  # one field per parameter name, whichever filters take it
    for f in filters:
        for name in f["params"]:
            params.setdefault(name, []).append(f["name"])
    values: dict[str, Any] = {
        "params": params,
        "campaign": campaign,
        "version": version,
        "recipe_type": recipe_type,
        "related": recipe_type == RELATED_ITEMS,
        "ranking": recipe_type == PERSONALIZED_RANKING,
        "filters": filters,
        "versions": versions,
        "q": query,
        "result": None,
        "error": None,
    }
    if query.get("try") and campaign.get("status") == "ACTIVE":
        try:
            values["result"] = _try(console, campaign, recipe_type, filters, query)
        except ServiceError as exc:
            values["error"] = f"{exc.code}: {exc.message}"
    return Rendered("campaign.html", values)


def update_campaign(console: Console, page: PageRequest) -> Response:
    """UpdateCampaign from the campaign page (another version, another minimum TPS); the switch runs as a job."""
    arn = page.path["arn"]
    form = page.form
    params: dict[str, Any] = {
        "campaignArn": arn,
        "solutionVersionArn": form.get("solutionVersionArn") or None,
        "minProvisionedTPS": _tps(form, None),
    }
    console.service.call("UpdateCampaign", region_of(arn), **params)
    return RedirectResponse(arn_url(arn), 303)


def create_campaign(console: Console, page: PageRequest) -> Response:
    """CreateCampaign (deploy) for a solution version, from its solution's page."""
    form = page.form
    version = form.get("solutionVersionArn", "")
    campaign = console.service.call(
        "CreateCampaign",
        region_of(version),
        name=form.get("name", "").strip(),
        solutionVersionArn=version,
        minProvisionedTPS=_tps(form, 1),
        campaignConfig={"enableMetadataWithRecommendations": form.get("metadata") == "on"},
    )
    return RedirectResponse(arn_url(campaign["campaignArn"]), 303)


def routes(console: Console) -> list[Route]:
    return [
        Route("/console/campaigns", console.page(create_campaign), methods=["POST"]),
        Route("/console/campaign/{arn:path}/update", console.page(update_campaign), methods=["POST"]),
        Route("/console/campaign/{arn:path}", console.page(campaign_page)),
    ]
