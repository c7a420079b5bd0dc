"""The fields every log line of a piece of work carries: ``request_id`` (from the caller's
``X-Request-ID`` or made at the ingress, then carried by the chain's task headers, the engine
call's gRPC metadata and the provider call's HTTP header), ``tenant_id``, ``message_id``,
``conversation_id`` and ``stage``. Kept in a context variable, so threads and asyncio tasks
each see their own."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar, Token

FIELDS = ("request_id", "tenant_id", "message_id", "conversation_id", "stage")
HEADER = "x-request-id"
# What an incoming X-Request-ID may be; anything else is replaced, never logged as given.
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_NONE: dict[str, str] = {}  # never mutated: every change sets a new dict
_context: ContextVar[dict[str, str] | None] = ContextVar("parley_log_context", default=None)


def current() -> dict[str, str]:
    return _context.get() or _NONE


def request_id() -> str | None:
    return current().get("request_id")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def accepted_request_id(given: str | None) -> str:
    """The caller's id when it is a sane one, else a new one."""
    return given if given and _ACCEPTED.match(given) else new_request_id()


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Log lines inside carry ``fields`` (None ones are left out), on top of the outer ones."""
    token = push(**fields)
    try:
        yield
    finally:
        pop(token)


def push(**fields: str | None) -> Token[dict[str, str] | None]:
    """``bound`` for code that cannot wrap the work in a ``with`` (a task's signals): undo it
    with ``pop(token)``."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"not a log context field: {sorted(unknown)}")
    return _context.set({**current(), **{k: v for k, v in fields.items() if v}})


def pop(token: Token[dict[str, str] | None]) -> None:
    _context.reset(token)
