"""The serving floor: a bare Starlette endpoint doing the least a recommendation request must do.

It parses the JSON body, scores a dense 9,742 x 64 float32 item matrix against the user's
vector, takes the top 25 and answers JSON; no signature, no validation, no filters, no live
events. ``benchmarks/runtime.py`` runs it under uvicorn with the server's worker count and
drives it with the same load generator, so the ratio of the two is the cost of everything else.

    uvicorn floor_app:app --app-dir benchmarks --workers 2
"""

from __future__ import annotations

import zlib

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

N_ITEMS, FACTORS, N_USERS, TOP = 9_742, 64, 610, 25

_rng = np.random.default_rng(0)
ITEMS = _rng.standard_normal((N_ITEMS, FACTORS), dtype=np.float32)
USERS = _rng.standard_normal((N_USERS, FACTORS), dtype=np.float32)
ITEM_IDS = [str(i) for i in range(N_ITEMS)]


def top_items(user_id: str) -> list[dict[str, object]]:
    """The 25 best items for the user's vector, best first."""
    scores = ITEMS @ USERS[zlib.crc32(user_id.encode()) % N_USERS]
    best = np.argpartition(-scores, TOP)[:TOP]
    best = best[np.argsort(-scores[best])]
    return [{"itemId": ITEM_IDS[i], "score": s} for i, s in zip(best.tolist(), scores[best].tolist(), strict=True)]


async def recommendations(request: Request) -> Response:
    body = orjson.loads(await request.body())
    payload = {"itemList": top_items(str(body.get("userId", ""))), "recommendationId": "RID-floor"}
    return Response(orjson.dumps(payload), media_type="application/json")


app = Starlette(routes=[Route("/recommendations", recommendations, methods=["POST"])])
