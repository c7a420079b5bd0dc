"""Routes for one end user's data: erase it everywhere, export it, and show the receipts.

``POST /v1/privacy/erase`` runs the erasure in the request (storage/user_data.py deletes from
MongoDB, GridFS and Redis; then a tombstone per conversation on every chat topic) and answers
with the receipt, kept after the data is gone. The tenant comes from the credential alone, so
a caller can only ever erase or export its own tenant's users.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.scopes import PRIVACY_MANAGE
from ingress.admin_actions import Audited, note
from ingress.api_models import ErasureReceipt, ErasureReceiptList, UserExport, json_of
from ingress.auth import Principal, principal_of
from ingress.body import parse_json, read_limited, validate
from ingress.operations import INVALID, MALFORMED, TOO_LARGE, Answer, Operation, Param, documented
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.schemas import UserRef
from ingress.state import IngressState
from storage.admin_audit import END_USER
from storage.user_data import TurnInFlight

CHAT_TOPIC_PREFIX = "chat."
KAFKA_SECONDS = 5.0
RETRY_AFTER_SECONDS = 5
BODY_ERRORS = {400: MALFORMED, 413: TOO_LARGE, 422: INVALID}


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


async def _user_id(request: Request, state: IngressState) -> str:
    raw = await read_limited(request, state.settings.max_body_bytes)
    return validate(UserRef, parse_json(raw, state.settings.max_json_depth)).user_id


def _requested_by(principal: Principal) -> dict[str, str]:
    """Who asked: the subject and the credential's id (a key id or ``jwt:<sub>``), never the
    credential itself."""
    return {"subject": principal.subject, "credential_id": principal.credential_id}


def _erase(state: IngressState, principal: Principal, user_id: str) -> dict[str, Any]:
    erased = state.user_data.erase(principal.tenant_id, user_id)
    topics = _chat_topics(state)
    sent = (
        state.tombstones.publish_tombstones(topics, erased.conversations, KAFKA_SECONDS)
        if topics and erased.conversations
        else 0
    )
    tombstones = {"expected": len(topics) * len(erased.conversations), "acknowledged": sent}
    return state.erasures.record(
        principal.tenant_id,
        user_id,
        _requested_by(principal),
        erased.conversations,
        erased.counts,
        tombstones,
    )


def _chat_topics(state: IngressState) -> list[str]:
    """Every chat topic on the cluster: a tombstone goes wherever the user's events may be."""
    try:
        listed = state.kafka.list_topics(timeout=KAFKA_SECONDS).topics
    except Exception:  # Kafka down: the stores are erased all the same; the receipt says so
        return []
    return sorted(topic for topic in listed if topic.startswith(CHAT_TOPIC_PREFIX))


@documented(
    Operation(
        "eraseUser",
        "Erase one end user's data from every store",
        "privacy",
        (Answer(200, "Erased; the receipt.", ErasureReceipt),),
        {
            **BODY_ERRORS,
            409: "`turn-in-flight`: a message of the user is still being answered; retry "
            "after the `Retry-After` seconds.",
        },
        body=UserRef,
        description="Deletes the user's conversations, messages both ways, audit records, dead "
        "letters, media, widget uploads, sessions and streams, then publishes a Kafka "
        "tombstone per erased conversation on every chat topic. Calling it again erases "
        "whatever is left (nothing, after a complete erasure) and gives a new receipt.",
    )
)
async def erase_user(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    user_id = await _user_id(request, state)
    try:
        receipt = await run_in_threadpool(_erase, state, principal, user_id)
    except TurnInFlight as exc:
        raise Problem(
            409,
            "turn-in-flight",
            "Turn in flight",
            str(exc),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    return JSONResponse(json_of(ErasureReceipt.model_validate(receipt)))


@documented(
    Operation(
        "listErasures",
        "The receipts of one user's erasures",
        "privacy",
        (Answer(200, "The receipts, newest first.", ErasureReceiptList),),
        {400: "`invalid-filter`: `user_id` is missing."},
        params=(Param("user_id", "query", "The end user's id, as erased (required)."),),
    )
)
async def list_erasures(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    user_id = request.query_params.get("user_id")
    if not user_id:
        raise Problem(400, "invalid-filter", "Invalid filter", "user_id is required")
    receipts = await run_in_threadpool(state.erasures.of_user, principal.tenant_id, user_id)
    return JSONResponse(json_of(ErasureReceiptList.model_validate({"data": receipts})))


@documented(
    Operation(
        "getErasure",
        "One erasure receipt",
        "privacy",
        (Answer(200, "The receipt.", ErasureReceipt),),
        {404: "`not-found`: no such erasure for this tenant."},
        params=(Param("erasure_id", "path", "The receipt's id (`era_…`)."),),
    )
)
async def get_erasure(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    receipt = await run_in_threadpool(
        state.erasures.get, principal.tenant_id, request.path_params["erasure_id"]
    )
    return JSONResponse(json_of(ErasureReceipt.model_validate(receipt)))


@documented(
    Operation(
        "exportUser",
        "Export everything Parley keeps of one end user",
        "privacy",
        (Answer(200, "The user's data.", UserExport),),
        BODY_ERRORS,
        body=UserRef,
        description="Conversations, messages both ways (with their processing results), the "
        "media kept for them (base64) and the widget uploads' descriptions.",
    )
)
async def export_user(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    user_id = await _user_id(request, state)
    note(request, target_id=user_id)  # erased with the user (storage/admin_audit.py)
    data = await run_in_threadpool(state.user_data.export, principal.tenant_id, user_id)
    return JSONResponse(json_of(UserExport.model_validate(data)))


routes = [
    ApiRoute(
        "/v1/privacy/erase",
        erase_user,
        methods=["POST"],
        scope=PRIVACY_MANAGE,
        audit=Audited("privacy.erased", "erasure", detail=("erased",)),
    ),
    ApiRoute("/v1/privacy/erasures", list_erasures, methods=["GET"], scope=PRIVACY_MANAGE),
    ApiRoute(
        "/v1/privacy/erasures/{erasure_id}", get_erasure, methods=["GET"], scope=PRIVACY_MANAGE
    ),
    ApiRoute(
        "/v1/privacy/export",
        export_user,
        methods=["POST"],
        scope=PRIVACY_MANAGE,
        audit=Audited("privacy.exported", END_USER),
    ),
]
