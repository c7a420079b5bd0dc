"""Routes for messages: ``POST /v1/messages`` and ``GET /v1/messages/{id}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import scopes
from core.errors import TransientError
from core.states import Status
from core.timeutil import isoformat
from ingress.accept import IdempotencyKeyReused, accept_message, body_digest
from ingress.auth import principal_of
from ingress.body import parse_json, read_limited, validate
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.schemas import MessageIn
from ingress.state import IngressState
from storage.quotas import DAY_SECONDS

IDEMPOTENCY_KEY_MAX = 255


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


def _idempotency_key(request: Request) -> str | None:
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


async def post_message(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    key = _idempotency_key(request)
    raw = await read_limited(request, state.settings.max_body_bytes)
    payload = validate(MessageIn, parse_json(raw, state.settings.max_json_depth))
    counted = await run_in_threadpool(_count_against_quota, state, principal.tenant_id)
    try:
        answer, created = await run_in_threadpool(
            accept_message, state, principal, payload, key, body_digest(raw)
        )
    except IdempotencyKeyReused as exc:
        await _give_back(state, principal.tenant_id, counted)
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key reused", str(exc)) from None
    except TransientError as exc:
        await _give_back(state, principal.tenant_id, counted)
        raise Problem(
            503, "unavailable", "Service unavailable", str(exc), headers={"Retry-After": "1"}
        ) from None
    except Exception:
        await _give_back(state, principal.tenant_id, counted)
        raise
    if counted and not created:  # an idempotent replay stores nothing new
        await _give_back(state, principal.tenant_id, counted)
    headers = {"Location": f"/v1/messages/{answer.message_id}"}
    if key is not None and not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(answer.model_dump(), status_code=202, headers=headers)


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


async def _give_back(state: IngressState, tenant_id: str, counted: bool) -> None:
    if counted:
        await run_in_threadpool(state.daily_messages.give_back, tenant_id)


def seconds_to_midnight() -> int:
    now = datetime.now(UTC)
    return max(1, DAY_SECONDS - (now.hour * 3600 + now.minute * 60 + now.second))


def message_view(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the API shows it; internal fields (dedupe keys, digests) stay inside."""
    view: dict[str, Any] = {
        "message_id": message["_id"],
        "conversation_id": message["conversation_id"],
        "direction": message["direction"],
        "channel": message["channel"],
        "user_id": message["user_id"],
        "text": message["text"],
        "status": message["status"],
        "created_at": isoformat(message["created_at"]),
        "journey": {stage: isoformat(at) for stage, at in message.get("journey", {}).items()},
    }
    if message["direction"] == "outbound":
        view["parts"] = message.get("parts", [])
        view["in_reply_to"] = message.get("in_reply_to")
    else:
        view["metadata"] = message.get("metadata", {})
        if "reply_id" in message:
            view["reply_id"] = message["reply_id"]
    if message["status"] == Status.FAILED and "failure" in message:
        view["failure"] = {k: message["failure"][k] for k in ("stage", "error")}
    return view


async def get_message(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    message = await run_in_threadpool(
        state.messages.get, principal.tenant_id, request.path_params["message_id"]
    )
    return JSONResponse(message_view(message))


routes = [
    ApiRoute("/v1/messages", post_message, methods=["POST"], scope=scopes.MESSAGES_WRITE),
    ApiRoute("/v1/messages/{message_id}", get_message, methods=["GET"], scope=scopes.MESSAGES_READ),
]
