"""Routes for dead letters: list a tenant's, replay one from its failed stage, or purge it."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.database import Database
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import Conflict, NotFound, TransientError
from core.scopes import DEADLETTERS_MANAGE, DEADLETTERS_READ
from core.timeutil import isoformat
from ingress.auth import principal_of
from ingress.pagination import decode_cursor, encode_cursor, page_limit
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.dead_letters import (
    CLASSIFICATIONS,
    OPEN,
    REPLAYED,
    STAGES,
    STATES,
    DeadLetter,
    DeadLetterRepository,
)
from storage.messages import MessageRepository
from tasks.redrive import replay

log = logging.getLogger("parley.ingress")

EVERY_STATE = "all"


class ReplayRefused(Conflict):
    """The dead letter cannot be replayed now; ``slug`` says why (``already-replayed``,
    ``not-open`` or ``not-replayable``)."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug


def replay_dead_letter(
    db: Database[Any], messages: MessageRepository, tenant_id: str, dead_letter_id: str
) -> DeadLetter:
    """Claim the dead letter, rewind its turn and enqueue it from the failed stage.

    The claim is the guard: of two concurrent replays only one enqueues. When nothing was
    enqueued the dead letter is open again. A replay that died before finishing leaves a claim
    that expires (``storage.dead_letters.REPLAY_CLAIM_SECONDS``); until then, 409.
    """
    dead_letters = DeadLetterRepository(db)
    claimed = dead_letters.claim_replay(tenant_id, dead_letter_id)
    if claimed is None:
        current = dead_letters.get(tenant_id, dead_letter_id)  # NotFound for another tenant's
        if current["state"] == REPLAYED:
            raise ReplayRefused("already-replayed", f"dead letter {dead_letter_id} was replayed")
        raise ReplayRefused("not-open", f"dead letter {dead_letter_id} is being replayed")
    try:
        replayed = replay(messages, claimed["stage"], tenant_id, claimed["message_id"])
    except Exception as exc:
        dead_letters.finish_replay(tenant_id, claimed, replayed=False)
        log.error("replay of %s failed: %s", dead_letter_id, type(exc).__name__)
        raise TransientError("the turn could not be queued; retry later") from exc
    dead_letters.finish_replay(tenant_id, claimed, replayed=replayed)
    if not replayed:
        raise ReplayRefused(
            "not-replayable",
            f"message {claimed['message_id']} is neither failed nor dead-lettered",
        )
    return claimed


def dead_letter_view(doc: DeadLetter) -> dict[str, Any]:
    """A dead letter as the API and the CLI show it."""
    error = doc["last_error"]
    return {
        "id": doc["_id"],
        "message_id": doc["message_id"],
        "conversation_id": doc["conversation_id"],
        "channel": doc["channel"],
        "stage": doc["stage"],
        "attempts": doc["attempts"],
        "last_error": {k: error[k] for k in ("type", "message", "classification")},
        "first_attempt_at": isoformat(doc["first_attempt_at"]),
        "last_attempt_at": isoformat(doc["last_attempt_at"]),
        "state": doc["state"],
        "replays": doc.get("replays", 0),
    }


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise Problem(
            400, "invalid-filter", "Invalid filter", f"{name} must be one of {', '.join(choices)}"
        )
    return value


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


async def list_dead_letters(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    wanted = _choice(request, "state", (*STATES, EVERY_STATE)) or OPEN
    limit = page_limit(request, state.settings.page_size_max)
    cursor = request.query_params.get("cursor")
    page = await run_in_threadpool(
        DeadLetterRepository(state.db).list,
        principal.tenant_id,
        channel=request.query_params.get("channel") or None,
        stage=_choice(request, "stage", STAGES),
        reason=_choice(request, "reason", CLASSIFICATIONS),
        state=None if wanted == EVERY_STATE else wanted,
        after=decode_cursor(cursor, "dl_") if cursor else None,
        limit=limit + 1,
    )
    more = len(page) > limit
    page = page[:limit]
    return JSONResponse(
        {
            "data": [dead_letter_view(doc) for doc in page],
            "next_cursor": encode_cursor(str(page[-1]["_id"])) if more else None,
        }
    )


async def get_dead_letter(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    doc = await run_in_threadpool(
        DeadLetterRepository(state.db).get,
        principal.tenant_id,
        request.path_params["dead_letter_id"],
    )
    return JSONResponse(dead_letter_view(doc))


async def replay_dead_letter_route(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    try:
        doc = await run_in_threadpool(
            replay_dead_letter,
            state.db,
            state.messages,
            principal.tenant_id,
            request.path_params["dead_letter_id"],
        )
    except ReplayRefused as exc:
        title = exc.slug.replace("-", " ").capitalize()
        raise Problem(409, exc.slug, title, str(exc)) from None
    except TransientError as exc:
        raise Problem(
            503, "unavailable", "Service unavailable", str(exc), headers={"Retry-After": "1"}
        ) from None
    return JSONResponse(
        {
            "id": doc["_id"],
            "message_id": doc["message_id"],
            "stage": doc["stage"],
            "state": REPLAYED,
        },
        status_code=202,
    )


async def purge_dead_letter(request: Request) -> Response:
    state = _state(request)
    principal = principal_of(request)
    dead_letter_id = request.path_params["dead_letter_id"]
    purged = await run_in_threadpool(
        DeadLetterRepository(state.db).purge, principal.tenant_id, dead_letter_id
    )
    if not purged:
        raise NotFound(f"dead letter {dead_letter_id} not found")
    return Response(status_code=204)


routes = [
    ApiRoute("/v1/dead-letters", list_dead_letters, methods=["GET"], scope=DEADLETTERS_READ),
    ApiRoute(
        "/v1/dead-letters/{dead_letter_id}",
        get_dead_letter,
        methods=["GET"],
        scope=DEADLETTERS_READ,
    ),
    ApiRoute(
        "/v1/dead-letters/{dead_letter_id}",
        purge_dead_letter,
        methods=["DELETE"],
        scope=DEADLETTERS_MANAGE,
    ),
    ApiRoute(
        "/v1/dead-letters/{dead_letter_id}/replay",
        replay_dead_letter_route,
        methods=["POST"],
        scope=DEADLETTERS_MANAGE,
    ),
]
