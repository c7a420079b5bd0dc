"""The request id and the turn's ids on every log line of a task (core/log_context.py).

Publishing a task (the ingress's chain, a stage handing the turn on) adds the current request
id to the message's headers; a worker binds it, with the turn's tenant, message and stage, for
the task's run, and lets go after it (a pool thread runs many tasks)."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from core import log_context

HEADER = "parley_request_id"
_tokens: dict[str, Token[dict[str, str] | None]] = {}


@before_task_publish.connect
def _carry(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = log_context.request_id()
    if headers is not None and request_id and not headers.get(HEADER):
        headers[HEADER] = request_id


def _header(task: Any) -> str | None:
    request = task.request
    value = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    return str(value) if value else None


@task_prerun.connect
def _bind(task_id: str | None = None, task: Any = None, args: Any = None, **_: Any) -> None:
    if task is None or task_id is None:
        return
    fields: dict[str, str | None] = {"request_id": _header(task)}
    stage = getattr(task, "stage", "")
    if stage and args and len(args) >= 2:
        fields.update(tenant_id=str(args[0]), message_id=str(args[1]), stage=stage)
    _tokens[task_id] = log_context.push(**fields)


@task_postrun.connect
def _release(task_id: str | None = None, **_: Any) -> None:
    token = _tokens.pop(task_id or "", None)
    if token is not None:
        log_context.pop(token)
