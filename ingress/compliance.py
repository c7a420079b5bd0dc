"""``GET /v1/compliance/report``: one tenant's compliance figures for a period, as JSON or CSV
(scope ``audit:read``). The figures and their definitions are ``storage/compliance.py``'s.

A tenant's credential gets its own tenant's report; the operator names the tenant with
``tenant_id``. ``from`` defaults to 30 days before ``to``, ``to`` to now.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.scopes import AUDIT_READ, PLATFORM_TENANT
from core.timeutil import isoformat, utcnow
from ingress.api_models import ComplianceReport, json_of
from ingress.audit import FOREIGN_TENANT, FROM, TIME_FILTER, TO, tenant_scope
from ingress.auth import principal_of
from ingress.operations import INVALID_FILTER, Answer, Operation, Param, documented
from ingress.pagination import query_choice, query_time
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.compliance import METRICS, ComplianceFigures

DEFAULT_DAYS = 30
FORMATS = ("json", "csv")
CSV_COLUMNS = ("tenant_id", "from", "to", "metric", "value")


@documented(
    Operation(
        "getComplianceReport",
        "A tenant's compliance report for a period",
        "audit",
        (
            Answer(
                200,
                "The figures as JSON (`format=json`, the default), or with `format=csv` a "
                "header row ("
                + ",".join(CSV_COLUMNS)
                + ") and one row per metric: "
                + ", ".join(f"`{m}`" for m in METRICS)
                + ".",
                ComplianceReport,
                alternatives={"text/csv": {"type": "string"}},
            ),
        ),
        {
            400: TIME_FILTER + INVALID_FILTER + " `invalid-period`: `from` is not before `to`; "
            "`tenant-required`: the operator named no `tenant_id`.",
            403: FOREIGN_TENANT,
        },
        params=(
            FROM,
            TO,
            Param("format", "query", "`json` (default) or `csv`.", {"enum": list(FORMATS)}),
            Param("tenant_id", "query", "Operators: the tenant (required for them)."),
        ),
        description="Definitions: docs/audit.md. Retention counts what the sweep deleted in "
        "the period; PII redactions count the period's messages still kept.",
    )
)
async def compliance_report(request: Request) -> Response:
    state: IngressState = request.state.parley
    tenant_id = tenant_scope(request, principal_of(request))
    if tenant_id is None or tenant_id == PLATFORM_TENANT:
        raise Problem(400, "tenant-required", "Tenant required", "name the tenant with tenant_id")
    until = query_time(request, "to") or utcnow()
    since = query_time(request, "from") or until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise Problem(400, "invalid-period", "Invalid period", "from must be before to")
    form = query_choice(request, "format", FORMATS) or "json"
    figures = await run_in_threadpool(ComplianceFigures(state.db).report, tenant_id, since, until)
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        start, end = isoformat(since), isoformat(until)
        writer.writerows(
            (tenant_id, start, end, metric, value) for metric, value in figures.items()
        )
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    report = ComplianceReport(
        tenant_id=tenant_id,
        period_start=since,
        period_end=until,
        generated_at=utcnow(),
        metrics=figures,
    )
    return JSONResponse(json_of(report))


routes = [ApiRoute("/v1/compliance/report", compliance_report, methods=["GET"], scope=AUDIT_READ)]
