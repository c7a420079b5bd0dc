"""Outbound webhook routes: a tenant subscribes endpoints to event types, rotates their
secrets, reads their delivery log and replays a delivery.

A secret is in two answers only, the subscription's creation and a rotation; every other answer
and every log line leaves it out. An endpoint must be https on a host whose addresses are all
public (``PARLEY_WEBHOOKS_ALLOW_PRIVATE`` allows http and private hosts for development);
anything refused is a 422 and nothing is stored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import NotFound
from core.event_types import EVENT_TYPES, pattern_problem
from core.scopes import WEBHOOKS_MANAGE
from ingress.admin_actions import Audited
from ingress.api_models import (
    WebhookDeliveryPage,
    WebhookDeliveryView,
    WebhookSubscriptionList,
    WebhookSubscriptionView,
    WebhookSubscriptionWithSecret,
    created,
    json_of,
)
from ingress.auth import principal_of
from ingress.body import read_json, validate
from ingress.operations import (
    CURSOR,
    INVALID,
    LIMIT,
    MALFORMED,
    PAGE,
    TOO_LARGE,
    UNAVAILABLE,
    Answer,
    Operation,
    Param,
    documented,
)
from ingress.pagination import encode_cursor, page_request
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState
from tasks.webhooks import endpoint_problem, replay_delivery

TAG = "webhooks"
BASE = "/v1/webhooks/subscriptions"
SUBSCRIPTION_ID = Param("subscription_id", "path", "The subscription's id (`whs_…`).")
DELIVERY_ID = Param("delivery_id", "path", "The delivery's `webhook-id` (`msg_…`).")
SUBSCRIPTION = "webhook_subscription"
NO_SUBSCRIPTION = "`not-found`: no such subscription for this tenant."


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)

    @field_validator("events")
    @classmethod
    def _known_event_types(cls, events: list[str]) -> list[str]:
        for pattern in events:
            problem = pattern_problem(pattern)
            if problem:
                raise ValueError(problem)
        return sorted(set(events))


SUBSCRIBE_BODY = (
    "`url`: https, on a host whose every address is public (not loopback, private, link-local, "
    "multicast or reserved). `events`: patterns of dot-separated event types in which `*` "
    "stands for one segment (`chat.message.*`); each must match a type Parley publishes: "
    + ", ".join(f"`{t}`" for t in EVENT_TYPES)
    + "."
)


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


@documented(
    Operation(
        "createWebhookSubscription",
        "Subscribe an endpoint to event types",
        TAG,
        (
            Answer(
                201,
                "Created; `secret` is shown in this answer only.",
                WebhookSubscriptionWithSecret,
                headers={"Location": f"`{BASE}/{{id}}`"},
            ),
        ),
        {
            400: MALFORMED,
            413: TOO_LARGE,
            422: INVALID + " `endpoint-refused`: the URL is not https, or its host does not "
            "resolve to public addresses only. Nothing was stored.",
        },
        body=SubscriptionIn,
        body_description=SUBSCRIBE_BODY,
    )
)
async def create_subscription(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    payload = validate(SubscriptionIn, await read_json(request, state.settings))
    allow_private = state.settings.webhooks_allow_private
    problem = await run_in_threadpool(endpoint_problem, payload.url, allow_private)
    if problem:
        raise Problem(422, "endpoint-refused", "Endpoint refused", f"{problem}; nothing was stored")
    doc, secret = await run_in_threadpool(
        state.webhook_subscriptions.create,
        principal.tenant_id,
        payload.url,
        payload.events,
        payload.description,
    )
    return created(WebhookSubscriptionWithSecret.with_secret(doc, secret), f"{BASE}/{doc['_id']}")


@documented(
    Operation(
        "listWebhookSubscriptions",
        "The tenant's webhook subscriptions",
        TAG,
        (
            Answer(
                200, "Every subscription of the tenant, without secrets.", WebhookSubscriptionList
            ),
        ),
    )
)
async def list_subscriptions(request: Request) -> JSONResponse:
    state = _state(request)
    docs = await run_in_threadpool(
        state.webhook_subscriptions.list, principal_of(request).tenant_id
    )
    answer = WebhookSubscriptionList(data=[WebhookSubscriptionView.of(doc) for doc in docs])
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "getWebhookSubscription",
        "One webhook subscription",
        TAG,
        (Answer(200, "The subscription, without its secret.", WebhookSubscriptionView),),
        {404: NO_SUBSCRIPTION},
        params=(SUBSCRIPTION_ID,),
    )
)
async def get_subscription(request: Request) -> JSONResponse:
    state = _state(request)
    doc = await run_in_threadpool(
        state.webhook_subscriptions.get,
        principal_of(request).tenant_id,
        request.path_params["subscription_id"],
    )
    return JSONResponse(json_of(WebhookSubscriptionView.of(doc)))


@documented(
    Operation(
        "deleteWebhookSubscription",
        "Delete a webhook subscription and its delivery log",
        TAG,
        (Answer(204, "Deleted; nothing more is sent to the endpoint."),),
        {404: NO_SUBSCRIPTION},
        params=(SUBSCRIPTION_ID,),
    )
)
async def delete_subscription(request: Request) -> Response:
    state = _state(request)
    tenant_id = principal_of(request).tenant_id
    subscription_id = request.path_params["subscription_id"]

    def delete() -> bool:
        if not state.webhook_subscriptions.delete(tenant_id, subscription_id):
            return False
        state.webhook_deliveries.delete_for(tenant_id, subscription_id)
        return True

    if not await run_in_threadpool(delete):
        raise NotFound(f"webhook subscription {subscription_id} not found")
    return Response(status_code=204)


@documented(
    Operation(
        "rotateWebhookSecret",
        "Replace a subscription's signing secret",
        TAG,
        (
            Answer(
                200,
                "The new `secret`, shown in this answer only. Until "
                "`previous_secret_expires_at` (`PARLEY_WEBHOOKS_ROTATION_OVERLAP_SECONDS`, a day "
                "by default) deliveries carry a signature by each secret.",
                WebhookSubscriptionWithSecret,
            ),
        ),
        {404: NO_SUBSCRIPTION},
        params=(SUBSCRIPTION_ID,),
    )
)
async def rotate_secret(request: Request) -> JSONResponse:
    state = _state(request)
    doc, secret = await run_in_threadpool(
        state.webhook_subscriptions.rotate,
        principal_of(request).tenant_id,
        request.path_params["subscription_id"],
        state.settings.webhooks_rotation_overlap_seconds,
    )
    return JSONResponse(json_of(WebhookSubscriptionWithSecret.with_secret(doc, secret)))


@documented(
    Operation(
        "listWebhookDeliveries",
        "A subscription's delivery log, newest first",
        TAG,
        (Answer(200, "One page of deliveries, each with its attempts.", WebhookDeliveryPage),),
        {400: PAGE, 404: NO_SUBSCRIPTION},
        params=(SUBSCRIPTION_ID, LIMIT, CURSOR),
    )
)
async def list_deliveries(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = principal_of(request).tenant_id
    subscription_id = request.path_params["subscription_id"]
    limit, before = page_request(request, state.settings.page_size_max, "whd_")

    def page() -> list[dict[str, object]]:
        state.webhook_subscriptions.get(tenant_id, subscription_id)  # 404 for another's
        return state.webhook_deliveries.page(
            tenant_id, subscription_id, before=before, limit=limit + 1
        )

    fetched = await run_in_threadpool(page)
    docs = fetched[:limit]
    more = len(fetched) > limit
    answer = WebhookDeliveryPage(
        data=[WebhookDeliveryView.of(doc) for doc in docs],
        next_cursor=encode_cursor(str(docs[-1]["log_id"])) if more else None,
    )
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "replayWebhookDelivery",
        "Send a delivery again, with the same webhook-id",
        TAG,
        (Answer(202, "Queued again with a fresh retry schedule.", WebhookDeliveryView),),
        {
            404: "`not-found`: no such subscription or delivery for this tenant.",
            409: "`conflict`: the delivery is still being sent, or the subscription is disabled.",
            503: UNAVAILABLE,
        },
        params=(SUBSCRIPTION_ID, DELIVERY_ID),
    )
)
async def replay(request: Request) -> JSONResponse:
    state = _state(request)
    doc = await run_in_threadpool(
        replay_delivery,
        state.webhook_deliveries,
        state.webhook_subscriptions,
        principal_of(request).tenant_id,
        request.path_params["subscription_id"],
        request.path_params["delivery_id"],
    )
    return JSONResponse(json_of(WebhookDeliveryView.of(doc)), status_code=202)


routes = [
    ApiRoute(
        BASE,
        create_subscription,
        methods=["POST"],
        scope=WEBHOOKS_MANAGE,
        audit=Audited("webhook_subscription.created", SUBSCRIPTION, detail=("url", "events")),
    ),
    ApiRoute(BASE, list_subscriptions, methods=["GET"], scope=WEBHOOKS_MANAGE),
    ApiRoute(
        f"{BASE}/{{subscription_id}}", get_subscription, methods=["GET"], scope=WEBHOOKS_MANAGE
    ),
    ApiRoute(
        f"{BASE}/{{subscription_id}}",
        delete_subscription,
        methods=["DELETE"],
        scope=WEBHOOKS_MANAGE,
        audit=Audited("webhook_subscription.deleted", SUBSCRIPTION, "subscription_id"),
    ),
    ApiRoute(
        f"{BASE}/{{subscription_id}}/rotate",
        rotate_secret,
        methods=["POST"],
        scope=WEBHOOKS_MANAGE,
        audit=Audited("webhook_subscription.secret_rotated", SUBSCRIPTION, "subscription_id"),
    ),
    ApiRoute(
        f"{BASE}/{{subscription_id}}/deliveries",
        list_deliveries,
        methods=["GET"],
        scope=WEBHOOKS_MANAGE,
    ),
    ApiRoute(
        f"{BASE}/{{subscription_id}}/deliveries/{{delivery_id}}/replay",
        replay,
        methods=["POST"],
        scope=WEBHOOKS_MANAGE,
        audit=Audited(
            "webhook_delivery.replayed", "webhook_delivery", "delivery_id", detail=("event_type",)
        ),
    ),
]
