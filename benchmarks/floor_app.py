"""The serving floors: bare Starlette endpoints doing the least a recommendation request must do.

``/recommendations`` (the dense floor) parses the JSON body, scores a dense 9,742 x 64 float32
item matrix against the user's vector, takes the top 25 and answers JSON.

``/model-recommendations`` (the model floor) parses the body and answers with the trained model
the campaign serves, doing that model's own work for the user: ``best_items`` of the user's
training history (``score_user``'s whole row when it gives no head of 25), the top 25 (ties by
lower index, the runtime's ``top_k``) and JSON. The models come from ``FLOOR_MODELS``, a JSON
object of campaign ARN -> model artifact directory, loaded by the project's own loader; the
request's ``campaignArn`` picks one.

Neither does a signature, validation, filters or live events. ``benchmarks/runtime.py`` runs both
under uvicorn with the server's worker count and drives them with the same load generator: the
ratio to the dense floor is the cost of everything else, the ratio to the model floor the cost
of the server beyond its model.

    FLOOR_MODELS='{"arn:...": "/path/to/model"}' uvicorn floor_app:app --app-dir benchmarks --workers 2
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openpersonalize.recipes.artifacts import load_model
from openpersonalize.recipes.protocol import Model
from openpersonalize.runtime.scoring import Ranked, top_k, top_k_of

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


class ServedModel:
    """A trained model as the floor serves it: its item ids, and the model's own top 25 for a user."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.item_ids = [str(i) for i in model.item_ids.tolist()]
        if len(model.user_ids):  # load the compiled kernels now, as the server's deploy does, not on a request
            self.top_items(str(model.user_ids[0]))

    def best(self, user_id: str) -> Ranked:
        """The user's 25 best items by the model: its ranking head when it holds 25, else the whole row."""
        history = self.model.training_history(user_id)
        head = self.model.best_items(history)
        if head is not None and len(head[0]) >= TOP:
            return top_k_of(*head, TOP)
        return top_k(self.model.score_user(history), TOP)

    def top_items(self, user_id: str) -> list[dict[str, object]]:
        """The 25 best items for the user, best first, with their scores."""
        best = self.best(user_id)
        ids = self.item_ids
        return [
            {"itemId": ids[i], "score": s} for i, s in zip(best.indices.tolist(), best.scores.tolist(), strict=True)
        ]


MODELS = {
    arn: ServedModel(load_model(path)) for arn, path in orjson.loads(os.environ.get("FLOOR_MODELS", "{}")).items()
}


async def recommendations(request: Request) -> Response:
    body = orjson.loads(await request.body())
    payload = {"itemList": top_items(str(body.get("userId", ""))), "recommendationId": "RID-floor"}
    return Response(orjson.dumps(payload), media_type="application/json")


async def model_recommendations(request: Request) -> Response:
    body = orjson.loads(await request.body())
    served = MODELS[body["campaignArn"]]
    payload = {"itemList": served.top_items(str(body.get("userId", ""))), "recommendationId": "RID-model-floor"}
    return Response(orjson.dumps(payload), media_type="application/json")


app = Starlette(
    routes=[
        Route("/recommendations", recommendations, methods=["POST"]),
        Route("/model-recommendations", model_recommendations, methods=["POST"]),
    ]
)
