"""Analytics routes: a tenant's figures over a time range, whole or per minute, hour or day.

Both read the analytics handler's facts (storage/analytics_report.py) and take ``from`` and
``to`` (RFC 3339 with an offset; the last 24 hours by default) and an optional ``channel``.
A parameter that does not parse is a 400, a range that cannot be answered (empty, reversed,
too many buckets) a 422. docs/analytics.md defines each figure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from channels.registry import ADAPTERS
from core.scopes import ANALYTICS_READ
from ingress.api_models import (
    AnalyticsBucket,
    AnalyticsFigures,
    AnalyticsSummary,
    AnalyticsTimeseries,
    json_of,
)
from ingress.auth import principal_of
from ingress.operations import Answer, Operation, Param, documented
from ingress.pagination import query_choice
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.analytics import INTERVALS, AnalyticsRepository, Interval
from storage.analytics_report import METRICS, AnalyticsReport, bucket_count

TAG = "analytics"
DEFAULT_RANGE = timedelta(hours=24)
MAX_RANGE = timedelta(days=366)
MAX_BUCKETS = 1500  # a day and an hour of minutes; a year of days
CHANNELS = tuple(sorted(ADAPTERS))
# Times Parley can have counted anything at; outside them a bucket's arithmetic would overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

FROM = Param(
    "from",
    "query",
    "Start, inclusive: RFC 3339 with an offset (`2026-12-07T00:00:00Z`). Default: `to` - 24 h.",
    {"type": "string", "format": "date-time"},
)
TO = Param("to", "query", "End, exclusive; default now.", {"type": "string", "format": "date-time"})
CHANNEL = Param(
    "channel", "query", "Only this channel's figures.", {"type": "string", "enum": [*CHANNELS]}
)
INTERVAL = Param(
    "interval",
    "query",
    "The buckets' size (default `hour`).",
    {"type": "string", "enum": [*INTERVALS]},
)
METRIC = Param(
    "metric", "query", "Only this figure in each bucket.", {"type": "string", "enum": [*METRICS]}
)
BAD_PARAMS = (
    "`invalid-time`: `from` or `to` is not RFC 3339 with an offset, or before 1970; "
    "`invalid-filter`: `channel`, `interval` or `metric` is not one of its values."
)
BAD_RANGE = "`invalid-range`: `from` is not before `to`, or the range is over 366 days."


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise Problem(
            400, "invalid-time", "Invalid time", f"{name} must be RFC 3339 with an offset"
        )
    if not EARLIEST <= at <= LATEST:
        raise Problem(400, "invalid-time", "Invalid time", f"{name} must be after 1970")
    return at.astimezone(UTC)


def _range(request: Request) -> tuple[datetime, datetime, str | None]:
    end = _time(request, "to") or datetime.now(UTC)
    start = _time(request, "from") or end - DEFAULT_RANGE
    channel = query_choice(request, "channel", CHANNELS)
    if start >= end:
        raise Problem(422, "invalid-range", "Invalid range", "from must be before to")
    if end - start > MAX_RANGE:
        raise Problem(422, "invalid-range", "Invalid range", "the range is over 366 days")
    return start, end, channel


def _report(state: IngressState) -> AnalyticsReport:
    return AnalyticsReport(AnalyticsRepository(state.db))


@documented(
    Operation(
        "getAnalyticsSummary",
        "The tenant's figures over a time range",
        TAG,
        (Answer(200, "Every figure over `[from, to)`.", AnalyticsSummary),),
        {400: BAD_PARAMS, 422: BAD_RANGE},
        params=(FROM, TO, CHANNEL),
    )
)
async def summary(request: Request) -> JSONResponse:
    start, end, channel = _range(request)
    tenant_id = principal_of(request).tenant_id
    figures = await run_in_threadpool(
        _report(_state(request)).summary, tenant_id, start, end, channel
    )
    answer = AnalyticsSummary(
        start=start, end=end, channel=channel, figures=AnalyticsFigures(**figures)
    )
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "getAnalyticsTimeseries",
        "The tenant's figures per minute, hour or day",
        TAG,
        (
            Answer(
                200,
                "One bucket per interval the range touches, empty ones too.",
                AnalyticsTimeseries,
            ),
        ),
        {
            400: BAD_PARAMS,
            422: BAD_RANGE + f" `too-many-buckets`: over {MAX_BUCKETS} buckets; take a longer "
            "interval or a shorter range.",
        },
        params=(FROM, TO, CHANNEL, INTERVAL, METRIC),
    )
)
async def timeseries(request: Request) -> JSONResponse:
    start, end, channel = _range(request)
    interval = cast(Interval, query_choice(request, "interval", INTERVALS) or "hour")
    metric = query_choice(request, "metric", METRICS)
    if bucket_count(start, end, interval) > MAX_BUCKETS:
        raise Problem(
            422,
            "too-many-buckets",
            "Too many buckets",
            f"the range has over {MAX_BUCKETS} {interval}s; take a longer interval",
        )
    tenant_id = principal_of(request).tenant_id
    series = await run_in_threadpool(
        _report(_state(request)).timeseries, tenant_id, start, end, channel, interval
    )
    metrics = [metric] if metric else list(METRICS)
    buckets = [
        AnalyticsBucket(start=at, figures={name: figures[name] for name in metrics})
        for at, figures in series
    ]
    answer = AnalyticsTimeseries(
        start=start,
        end=end,
        channel=channel,
        interval=interval,
        metrics=metrics,
        buckets=buckets,
    )
    return JSONResponse(json_of(answer))


routes = [
    ApiRoute("/v1/analytics/summary", summary, methods=["GET"], scope=ANALYTICS_READ),
    ApiRoute("/v1/analytics/timeseries", timeseries, methods=["GET"], scope=ANALYTICS_READ),
]
