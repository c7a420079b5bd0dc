"""Routes for dead letters: list a tenant's, replay one from its failed stage, or purge it."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import NotFound
from core.scopes import DEADLETTERS_MANAGE, DEADLETTERS_READ
from ingress.admin_actions import Audited
from ingress.api_models import DeadLetterPage, DeadLetterView, ReplayAccepted, json_of
from ingress.auth import principal_of
from ingress.operations import (
    CURSOR,
    INVALID_FILTER,
    LIMIT,
    PAGE,
    UNAVAILABLE,
    Answer,
    Operation,
    Param,
    documented,
)
from ingress.pagination import decode_cursor, encode_cursor, page_limit, query_choice
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.dead_letters import CLASSIFICATIONS, OPEN, STAGES, STATES, DeadLetterRepository
from tasks.redrive import ReplayRefused, replay_dead_letter

EVERY_STATE = "all"
DEAD_LETTER_ID = Param("dead_letter_id", "path", "The dead letter's id (`dl_…`).")
NO_DEAD_LETTER = "`not-found`: no such dead letter for this tenant."


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


@documented(
    Operation(
        "listDeadLetters",
        "The tenant's dead letters, filtered",
        "dead-letters",
        (Answer(200, "One page of dead letters.", DeadLetterPage),),
        {400: PAGE + INVALID_FILTER},
        params=(
            Param(
                "state",
                "query",
                f"`{OPEN}` by default; `{EVERY_STATE}` for every state.",
                {"enum": [*STATES, EVERY_STATE], "default": OPEN},
            ),
            Param("channel", "query", "Only turns that came in on this channel."),
            Param("stage", "query", "Only turns that failed at this stage.", {"enum": [*STAGES]}),
            Param("reason", "query", "Only turns that gave up so.", {"enum": [*CLASSIFICATIONS]}),
            LIMIT,
            CURSOR,
        ),
    )
)
async def list_dead_letters(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    wanted = query_choice(request, "state", (*STATES, EVERY_STATE)) or OPEN
    limit = page_limit(request, state.settings.page_size_max)
    cursor = request.query_params.get("cursor")
    page = await run_in_threadpool(
        DeadLetterRepository(state.db).list,
        principal.tenant_id,
        channel=request.query_params.get("channel") or None,
        stage=query_choice(request, "stage", STAGES),
        reason=query_choice(request, "reason", CLASSIFICATIONS),
        state=None if wanted == EVERY_STATE else wanted,
        after=decode_cursor(cursor, "dl_") if cursor else None,
        limit=limit + 1,
    )
    more = len(page) > limit
    page = page[:limit]
    answer = DeadLetterPage.model_validate(
        {"data": page, "next_cursor": encode_cursor(str(page[-1]["_id"])) if more else None}
    )
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "getDeadLetter",
        "One dead letter",
        "dead-letters",
        (Answer(200, "The dead letter.", DeadLetterView),),
        {404: NO_DEAD_LETTER},
        params=(DEAD_LETTER_ID,),
    )
)
async def get_dead_letter(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    doc = await run_in_threadpool(
        DeadLetterRepository(state.db).get,
        principal.tenant_id,
        request.path_params["dead_letter_id"],
    )
    return JSONResponse(json_of(DeadLetterView.model_validate(doc)))


@documented(
    Operation(
        "replayDeadLetter",
        "Replay a dead letter's turn from its failed stage",
        "dead-letters",
        (Answer(202, "The turn is queued again.", ReplayAccepted),),
        {
            404: NO_DEAD_LETTER,
            409: "`already-replayed`, `not-open` (a replay is running) or `not-replayable` "
            "(the message is neither failed nor dead-lettered).",
            503: UNAVAILABLE,
        },
        params=(DEAD_LETTER_ID,),
    )
)
async def replay_dead_letter_route(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    try:
        doc = await run_in_threadpool(
            replay_dead_letter,
            DeadLetterRepository(state.db),
            state.messages,
            principal.tenant_id,
            request.path_params["dead_letter_id"],
        )
    except ReplayRefused as exc:
        title = exc.slug.replace("-", " ").capitalize()
        raise Problem(409, exc.slug, title, str(exc)) from None
    return JSONResponse(json_of(ReplayAccepted.of(doc)), status_code=202)


@documented(
    Operation(
        "purgeDeadLetter",
        "Delete a dead letter",
        "dead-letters",
        (Answer(204, "Deleted."),),
        {404: NO_DEAD_LETTER},
        params=(DEAD_LETTER_ID,),
    )
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
        audit=Audited("dead_letter.purged", "dead_letter", "dead_letter_id"),
    ),
    ApiRoute(
        "/v1/dead-letters/{dead_letter_id}/replay",
        replay_dead_letter_route,
        methods=["POST"],
        scope=DEADLETTERS_MANAGE,
        audit=Audited("dead_letter.replayed", "dead_letter", "dead_letter_id"),
    ),
]
