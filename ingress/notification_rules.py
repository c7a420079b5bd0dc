"""Notification rules: a tenant says which conditions alert whom (email, Slack, SMS), and how
long a rule stays quiet after an alert (docs/notifications.md).

A rule is checked whole before it is stored: its shape strictly (422, nothing stored), and
each Slack URL as a webhook endpoint is (https on a host whose addresses are all public, unless
``PARLEY_WEBHOOKS_ALLOW_PRIVATE``). A Slack URL's path is the webhook's secret: answers show
its host only.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.scopes import NOTIFICATIONS_MANAGE
from ingress.api_models import (
    NotificationRuleIn,
    NotificationRuleList,
    NotificationRuleView,
    SlackTarget,
    created,
    json_of,
)
from ingress.auth import principal_of
from ingress.body import read_json, validate
from ingress.operations import INVALID, MALFORMED, TOO_LARGE, Answer, Operation, Param, documented
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState
from tasks.webhooks import endpoint_problem

TAG = "notifications"
BASE = "/v1/notifications/rules"
RULE_ID = Param("rule_id", "path", "The rule's id (`ntr_…`).")
RULE_BODY = (
    "`condition`: one of `dead_letters_above` (`count`, `window_seconds`), "
    "`delivery_rate_below` (`percent`, `window_seconds`, `min_sent`), `credentials_refused` "
    "(`channel`, optional) and `endpoint_disabled`. `notify`: 1 to 10 targets, each "
    '`{"email": …}`, `{"slack_webhook_url": …}` (https, on a host whose every address is '
    'public) or `{"sms": …}` (E.164). `quiet_seconds`: after an alert the rule stays quiet '
    "this long (an hour by default)."
)


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


@documented(
    Operation(
        "createNotificationRule",
        "Alert someone when a condition holds",
        TAG,
        (
            Answer(
                201,
                "Created.",
                NotificationRuleView,
                headers={"Location": f"`{BASE}/{{id}}`"},
            ),
        ),
        {
            400: MALFORMED,
            413: TOO_LARGE,
            422: INVALID + " `endpoint-refused`: a Slack URL is not https, or its host does not "
            "resolve to public addresses only. Nothing was stored.",
        },
        body=NotificationRuleIn,
        body_description=RULE_BODY,
    )
)
async def create_rule(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    payload = validate(NotificationRuleIn, await read_json(request, state.settings))
    allow_private = state.settings.webhooks_allow_private
    for target in payload.notify:
        if isinstance(target, SlackTarget):
            problem = await run_in_threadpool(
                endpoint_problem, target.slack_webhook_url, allow_private
            )
            if problem:
                raise Problem(
                    422, "endpoint-refused", "Endpoint refused", f"{problem}; nothing was stored"
                )
    doc = await run_in_threadpool(
        state.notification_rules.create,
        principal.tenant_id,
        payload.condition.model_dump(),
        [target.model_dump() for target in payload.notify],
        payload.quiet_seconds,
    )
    return created(NotificationRuleView.of(doc), f"{BASE}/{doc['_id']}")


@documented(
    Operation(
        "listNotificationRules",
        "The tenant's notification rules",
        TAG,
        (Answer(200, "Every rule of the tenant, oldest first.", NotificationRuleList),),
    )
)
async def list_rules(request: Request) -> JSONResponse:
    state = _state(request)
    docs = await run_in_threadpool(state.notification_rules.list, principal_of(request).tenant_id)
    return JSONResponse(
        json_of(NotificationRuleList(data=[NotificationRuleView.of(d) for d in docs]))
    )


@documented(
    Operation(
        "deleteNotificationRule",
        "Delete a notification rule",
        TAG,
        (Answer(204, "Deleted; its alerts stay in the log."),),
        {404: "`not-found`: no such rule for this tenant."},
        params=(RULE_ID,),
    )
)
async def delete_rule(request: Request) -> Response:
    state = _state(request)
    await run_in_threadpool(
        state.notification_rules.delete,
        principal_of(request).tenant_id,
        request.path_params["rule_id"],
    )
    return Response(status_code=204)


routes = [
    ApiRoute(BASE, create_rule, methods=["POST"], scope=NOTIFICATIONS_MANAGE),
    ApiRoute(BASE, list_rules, methods=["GET"], scope=NOTIFICATIONS_MANAGE),
    ApiRoute(f"{BASE}/{{rule_id}}", delete_rule, methods=["DELETE"], scope=NOTIFICATIONS_MANAGE),
]
