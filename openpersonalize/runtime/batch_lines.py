"""Batch lines answered through a ``BatchSession``: inference lines (one by one or in blocks) and segment queries.

What a batch job's line gets is what the runtime answers: the handlers score through the
session's public methods (``recommend``, ``rank``, ``mask``, ``history``, the deployed model's
``score_users``) and only read and shape lines; the jobs around them are control/batch_jobs.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidInputException, ResourceNotFoundException
from ..filters import FilterSyntaxError
from ..filters.attributes import UnknownFieldError, attribute_items
from ..jobs.batch import BlockHandler, LineError
from ..recipes.registry import PERSONALIZED_RANKING, RELATED_ITEMS, USER_PERSONALIZATION
from .batch_session import BatchSession
from .leaning import leaned
from .requests import MAX_RESULTS
from .scoring import Ranked, public_scores, top_k_of, top_k_rows


# --------------------------------------------------------------------------- line handlers
def _string(line: dict[str, Any], key: str) -> str:
    value = line.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise LineError(f"{key} is required and must be a non-empty string.")
    return value


def _filter_values(line: dict[str, Any]) -> dict[str, str] | None:
    values = line.get("filterValues")
    if values is None:
        return None
    if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise LineError("filterValues must be an object of string values.")
    return values


def inference_handler(session: BatchSession, k: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The per-line answer for the session's recipe type (user, related items or ranking)."""
    kind = session.recipe_type

    def handle(line: dict[str, Any]) -> dict[str, Any]:
        try:
            values = _filter_values(line)
            if kind == PERSONALIZED_RANKING:
                ranked = session.rank(_string(line, "userId"), _item_list(line), values)
                return {"recommendedItems": ranked.item_ids, "scores": ranked.padded_scores()}
            if kind == RELATED_ITEMS:
                ranked = session.recommend(None, _string(line, "itemId"), k, values)
            else:
                ranked = session.recommend(_string(line, "userId"), None, k, values)
        except (InvalidInputException, ResourceNotFoundException) as exc:
            raise LineError(exc.message) from None
        return {"recommendedItems": [i for i, _ in ranked], "scores": [s for _, s in ranked]}

    return handle


SCORE_ROWS = 64  # users scored together: a float32 block of SCORE_ROWS x n_items (16 MB at 62k items)


def _item_list(line: dict[str, Any]) -> list[str]:
    items = line.get("itemList")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise LineError("itemList is required and must be a non-empty list of item ids.")
    if len(items) > MAX_RESULTS:
        raise LineError(f"itemList must hold at most {MAX_RESULTS} items, got {len(items)}.")
    return items


def inference_block_handler(session: BatchSession, k: int) -> BlockHandler:
    """Answers a block of lines at once with the same results as ``inference_handler`` line by line.

    User lines (USER_PERSONALIZATION, PERSONALIZED_RANKING) are scored ``SCORE_ROWS`` at a time with
    ``score_users`` and ranked with ``top_k_rows``; each line keeps its own filterValues mask and a line
    that fails still yields its error. Without a filter, the head of a user's ranking from the model's
    ``best_items`` spares scoring the whole catalogue. RELATED_ITEMS lines are answered
    one by one.
    """
    kind = session.recipe_type
    single = inference_handler(session, k)
    deployed = session.deployed

    def one_by_one(lines: list[dict[str, Any]]) -> list[dict[str, Any] | LineError]:
        out: list[dict[str, Any] | LineError] = []
        for line in lines:
            try:
                out.append(single(line))
            except LineError as exc:
                out.append(exc)
        return out

    def score(out: list[Any], todo: list[tuple[int, str, dict[str, str] | None, list[str] | None]]) -> None:
        histories = [session.history(user) for _, user, _, _ in todo]
        scores = deployed.model.score_users(histories, dict(session.context))
        lean = deployed.lean(session.influence)  # the solution's optimizationObjective, the job's rankingInfluence
        if lean is not None:
            scores = np.stack([leaned(row, lean) for row in scores])
        rows, masks = [], []
        for row, ((slot, user, values, _), history) in enumerate(zip(todo, histories, strict=True)):
            try:
                mask = session.mask(values, user, history)
            except (InvalidInputException, ResourceNotFoundException) as exc:
                out[slot] = LineError(exc.message)
                continue
            rows.append(row)
            masks.append(mask)
        if kind == PERSONALIZED_RANKING:
            for row, mask in zip(rows, masks, strict=True):
                slot, _, _, items = todo[row]
                ranked = deployed.rank(scores[row], items or [], mask)
                out[slot] = {"recommendedItems": ranked.item_ids, "scores": ranked.padded_scores()}
            return
        block = scores if len(rows) == len(scores) else scores[rows]
        ranked = top_k_rows(block, k, masks if session.filter is not None else None)
        for row, best in zip(rows, ranked, strict=True):
            out[todo[row][0]] = recommended(best)

    def recommended(best: Ranked) -> dict[str, Any]:
        return {
            "recommendedItems": [deployed.item_ids[i] for i in best.indices.tolist()],
            "scores": public_scores(best.scores),
        }

    def from_heads(out: list[Any], todo: list[tuple[int, str, dict[str, str] | None, list[str] | None]]) -> list:
        """Answer the lines whose top k lies in the model's ranking head (``best_items``); return the others."""
        best_items = deployed.model.best_items
        leaning = deployed.lean(session.influence) is not None  # the head ranks without any lean
        if not deployed.model.has_ranking_head or session.filter is not None or kind != USER_PERSONALIZATION or leaning:
            return todo
        rest = []
        for entry in todo:
            head = best_items(session.history(entry[1]), dict(session.context))
            if head is None or len(head[0]) < k:
                rest.append(entry)
            else:
                out[entry[0]] = recommended(top_k_of(*head, k))
        return rest

    def handle(lines: list[dict[str, Any]]) -> list[dict[str, Any] | LineError]:
        out: list[Any] = [None] * len(lines)
        todo: list[tuple[int, str, dict[str, str] | None, list[str] | None]] = []
        for slot, line in enumerate(lines):
            try:
                values = _filter_values(line)
                user = _string(line, "userId")
                todo.append((slot, user, values, _item_list(line) if kind == PERSONALIZED_RANKING else None))
            except LineError as exc:
                out[slot] = exc
        todo = from_heads(out, todo)
        for lo in range(0, len(todo), SCORE_ROWS):
            score(out, todo[lo : lo + SCORE_ROWS])
        return out

    return one_by_one if kind == RELATED_ITEMS else handle


# --------------------------------------------------------------------------- segments
def _attribute_items(expression: str, metadata: dict[str, list[Any]], n_items: int) -> np.ndarray:
    """The items an ``itemAttributes`` expression selects; a line error names what is wrong with it."""
    try:
        return attribute_items(expression, metadata, n_items)
    except FilterSyntaxError as exc:
        raise LineError(f"itemAttributes {expression!r}: {exc.reason} at position {exc.position}.") from None
    except UnknownFieldError as exc:
        raise LineError(f"itemAttributes: {exc}") from None


def segment_items(line: dict[str, Any], session: BatchSession, attribute: bool) -> np.ndarray:
    """The item indices a segment query line names (``itemAttributes`` when ``attribute``, else its items).

    An Item-Affinity line names one item as Personalize documents it, ``{"itemId": "105"}``, or several
    as ``{"itemIds": [...]}``. LineError when the line names none the solution version knows.
    """
    deployed = session.deployed
    index, n = deployed.model.item_index, len(deployed.item_ids)
    if attribute:
        expr = line.get("itemAttributes")
        if not isinstance(expr, str) or not expr.strip():
            raise LineError("itemAttributes is required and must be a string.")
        items = np.flatnonzero(_attribute_items(expr.strip(), deployed.item_columns, n))
    else:
        ids = line.get("itemIds") if "itemIds" in line else [_string(line, "itemId")]
        if not isinstance(ids, list) or not ids:
            raise LineError("itemIds must be a non-empty list of item ids (or give one itemId).")
        items = np.array(sorted({index[str(i)] for i in ids if str(i) in index}), np.int64)
    if items.size == 0:
        raise LineError("None of the line's items are known to the solution version.")
    return items


def segment_block_handler(
    session: BatchSession, attribute: bool, k: int, allowed_users: np.ndarray | None
) -> BlockHandler:
    """Answers a block of segment query lines together: ``{"usersList": [...]}`` for each, or the line's LineError.

    The block's queries share one pass over the training users (``segment_users``).
    """

    def handle(lines: list[dict[str, Any]]) -> list[dict[str, Any] | LineError]:
        out: list[dict[str, Any] | LineError] = []
        slots, queries = [], []
        for line in lines:
            try:
                queries.append(segment_items(line, session, attribute))
                slots.append(len(out))
                out.append({})
            except LineError as exc:
                out.append(exc)
        for slot, users in zip(slots, segment_users(session, queries, k, allowed_users), strict=True):
            out[slot] = {"usersList": users}
        return out

    return handle


def segment_users(
    session: BatchSession,
    queries: list[np.ndarray],
    k: int,
    allowed_users: np.ndarray | None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 512,
) -> list[list[str]]:
    """For each query (item indices), the ``k`` training users with the highest mean score on those items."""
    model = session.deployed.model
    user_ids = [str(u) for u in model.user_ids.tolist()]
    n_users, n_q = len(user_ids), len(queries)
    best_scores = [np.zeros(0) for _ in range(n_q)]
    best_users = [np.zeros(0, np.int64) for _ in range(n_q)]
    for lo in range(0, n_users, chunk):
        users = np.arange(lo, min(lo + chunk, n_users))
        if allowed_users is not None:
            users = users[allowed_users[users]]
        if users.size == 0:
            continue
        block = np.empty((users.size, n_q))
        scored = model.score_users([session.history(user_ids[int(u)]) for u in users], dict(session.context))
        for row in range(users.size):
            s = np.asarray(scored[row], dtype=np.float64)
            s = np.where(np.isfinite(s), s, np.nan)
            for q, items in enumerate(queries):
                block[row, q] = np.nanmean(s[items]) if items.size else -np.inf
        block = np.where(np.isfinite(block), block, -np.inf)
        for q in range(n_q):
            scores = np.concatenate([best_scores[q], block[:, q]])
            cand = np.concatenate([best_users[q], users])
            if scores.size > k:
                keep = np.argpartition(-scores, k - 1)[:k]
                scores, cand = scores[keep], cand[keep]
            best_scores[q], best_users[q] = scores, cand
        if progress is not None:
            progress(int(users[-1]) + 1)
    out = []
    for q in range(n_q):
        order = np.lexsort((best_users[q], -best_scores[q]))
        out.append([user_ids[int(best_users[q][i])] for i in order if np.isfinite(best_scores[q][i])])
    return out
