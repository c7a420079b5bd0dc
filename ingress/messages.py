"""Routes for messages: ``POST /v1/messages`` and ``GET /v1/messages/{id}``."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import scopes
from ingress.accept import IdempotencyKeyReused, accept_message, body_digest
from ingress.api_models import MessageView, json_of
from ingress.auth import Principal, principal_of
from ingress.body import parse_json, read_limited, validate
from ingress.operations import (
    INVALID,
    MALFORMED,
    TOO_LARGE,
    UNAVAILABLE,
    Answer,
    Operation,
    Param,
    documented,
)
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.schemas import Accepted, MessageIn
from ingress.state import IngressState
from storage.quotas import DAY_SECONDS

IDEMPOTENCY_KEY_MAX = 255
MESSAGE_ID = Param("message_id", "path", "The message's id (`msg_…`).")


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise Problem(
            400,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            f"the key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters",
        )
    return key


@documented(
    Operation(
        "postMessage",
        "Accept a user's message and queue its turn",
        "messages",
        (
            Answer(
                202,
                "Accepted: stored and queued, or the first answer to this `Idempotency-Key`.",
                Accepted,
                headers={
                    "Location": "`/v1/messages/{message_id}`",
                    "Idempotent-Replayed": "`true` when this repeats an earlier request's answer",
                },
            ),
        ),
        {
            400: MALFORMED + " `invalid-idempotency-key`: not 1 to 255 printable characters.",
            404: "`not-found`: `conversation_id` names none of the tenant's conversations.",
            409: "`conflict`: the conversation is closed, or could not be resolved.",
            413: TOO_LARGE,
            422: INVALID + " `idempotency-key-reused`: the key came with another body.",
            429: "`quota-exceeded`: the tenant's `quotas.messages_per_day` is used up "
            "(`Retry-After`: seconds to midnight UTC).",
            503: UNAVAILABLE,
        },
        params=(
            Param(
                "Idempotency-Key",
                "header",
                "A retry with the same key and body gets the first answer and queues nothing; "
                "the same key with another body is refused (422). Keys live "
                "`PARLEY_IDEMPOTENCY_TTL_SECONDS` (24 h by default).",
                # Printable ASCII with something besides spaces: a subset of what the handler takes.
                {"type": "string", "maxLength": 255, "pattern": r"^[ -~]*[!-~][ -~]*$"},
            ),
        ),
        body=MessageIn,
        body_description="`text` must not be blank; `metadata` keys may not be empty, start "
        "with `$` or contain `.`; its arrays may not hold arrays directly, its integers must "
        "fit in 64 bits; it nests at most 8 deep.",
    )
)
async def post_message(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    key = idempotency_key(request)
    raw = await read_limited(request, state.settings.max_body_bytes)
    payload = validate(MessageIn, parse_json(raw, state.settings.max_json_depth))
    answer, created = await run_in_threadpool(
        _counted_accept, state, principal, payload, key, body_digest(raw)
    )
    headers = {"Location": f"/v1/messages/{answer.message_id}"}
    if key is not None and not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(answer.model_dump(), status_code=202, headers=headers)


def _counted_accept(
    state: IngressState,
    principal: Principal,
    payload: MessageIn,
    key: str | None,
    digest: str,
) -> tuple[Accepted, bool]:
    """Count the message against the tenant's quota, then store and enqueue it: one trip to
    the thread pool. What was counted is given back unless a new message was stored."""
    counted = _count_against_quota(state, principal.tenant_id)
    try:
        answer, created = accept_message(state, principal, payload, key, digest)
    except IdempotencyKeyReused as exc:
        _give_back(state, principal.tenant_id, counted)
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key reused", str(exc)) from None
    except Exception:  # a TransientError answers 503 (``ingress.problems``)
        _give_back(state, principal.tenant_id, counted)
        raise
    if not created:  # an idempotent replay stores nothing new
        _give_back(state, principal.tenant_id, counted)
    return answer, created


def _count_against_quota(state: IngressState, tenant_id: str) -> bool:
    """Counts the message against the tenant's ``quotas.messages_per_day``, if it has one;
    429 ``quota-exceeded`` when it is used up. True when something was counted."""
    limit = state.tenants.status(tenant_id).quotas.get("messages_per_day")
    if limit is None:
        return False
    if not state.daily_messages.take(tenant_id, int(limit)):
        raise Problem(
            429,
            "quota-exceeded",
            "Quota exceeded",
            f"the tenant's quota of {limit} messages a day is used up",
            headers={"Retry-After": str(seconds_to_midnight())},
        )
    return True


def _give_back(state: IngressState, tenant_id: str, counted: bool) -> None:
    if counted:
        state.daily_messages.give_back(tenant_id)


def seconds_to_midnight() -> int:
    now = datetime.now(UTC)
    return max(1, DAY_SECONDS - (now.hour * 3600 + now.minute * 60 + now.second))


@documented(
    Operation(
        "getMessage",
        "A message's status and journey",
        "messages",
        (Answer(200, "The message.", MessageView),),
        {404: "`not-found`: no such message for this tenant."},
        params=(MESSAGE_ID,),
    )
)
async def get_message(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    message = await run_in_threadpool(
        state.messages.get, principal.tenant_id, request.path_params["message_id"]
    )
    return JSONResponse(json_of(MessageView.model_validate(message)))


routes = [
    ApiRoute("/v1/messages", post_message, methods=["POST"], scope=scopes.MESSAGES_WRITE),
    ApiRoute("/v1/messages/{message_id}", get_message, methods=["GET"], scope=scopes.MESSAGES_READ),
]
