"""One backend call per turn, however often the caller asks for it.

A caller that misses its deadline (DEADLINE_EXCEEDED) retries the turn, but the engine's call to
its backend may still be running, and a second call would be a second, billed, completion. So
the first request for a turn runs the backend call, and the same request asked again (same
tenant, ``request_id`` — the turn's idempotency key — and content) while it runs waits for
that call's reply, up to its own deadline. A reply is
remembered for ``remember_seconds`` after it arrived (a caller that died after the engine
answered gets it again, unbilled); a call that failed is forgotten at once, so the retry asks
the backend again. Requests without a ``request_id`` are not turns anyone can repeat: each one
is called.

Streamed requests (``StreamResponse``) claim their turn the same way, whole and streamed
requests of one turn alike. A duplicate of a turn already asked gets the first call's finished
answer, a streaming duplicate cut into words once it is finished: relaying a stream that another
request is reading would need a fan-out buffer, and a duplicate is a caller's retry, whose
earlier stream the caller dropped anyway.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import grpc

from protos import mcp_engine_pb2
from services.mcp_engine.backend import BackendError

TurnKey = tuple[str, str, str]  # (tenant_id, request_id, digest of the request)
Reply = mcp_engine_pb2.GenerateResponse

# Longer than the caller's retries of one turn (tasks.policy.engine_policy: 120 s at most).
REMEMBER_SECONDS = 300.0
MAX_REMEMBERED = 10_000


@dataclass
class _Call:
    reply: Future[Reply] = field(default_factory=Future)
    done_at: float | None = None


def turn_key(request: mcp_engine_pb2.GenerateRequest) -> TurnKey:
    """What tells one request for a turn from another: a request that differs (other text,
    other settings) is a new question, even under the same ``request_id``."""
    digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
    return (request.tenant_id, request.request_id, digest)


def settled(reply: Future[Reply], wait_seconds: float | None) -> Reply:
    """Another request's reply to the turn, waited for at most ``wait_seconds``."""
    try:
        return reply.result(timeout=wait_seconds)
    except TimeoutError:
        raise BackendError(
            grpc.StatusCode.DEADLINE_EXCEEDED, "the turn's first call is still running"
        ) from None


@dataclass
class Claim:
    """A request's hold on its turn: the turn's other requests wait until it is settled."""

    _calls: TurnCalls
    _key: TurnKey
    _call: _Call | None  # None: a request without an id, which nobody waits for

    def answered(self, reply: Reply) -> None:
        if self._call is not None:
            self._calls._settle(self._key, self._call, reply)

    def failed(self, error: BaseException) -> None:
        if self._call is not None:
            self._calls._settle(self._key, self._call, error)


class TurnCalls:
    """The calls in flight and the replies remembered, shared by every server thread."""

    def __init__(
        self,
        remember_seconds: float = REMEMBER_SECONDS,
        max_remembered: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._remember = remember_seconds
        self._max = max_remembered
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: OrderedDict[TurnKey, _Call] = OrderedDict()

    def answer(self, key: TurnKey, call: Callable[[], Reply], wait_seconds: float | None) -> Reply:
        """The reply to the turn ``key``: ``call()``'s if this is the turn's first request,
        else the first call's, waited for at most ``wait_seconds`` (None: until it ends)."""
        held = self.claim(key)
        if isinstance(held, Future):
            return settled(held, wait_seconds)
        try:
            reply = call()
        except BaseException as exc:
            held.failed(exc)
            raise
        held.answered(reply)
        return reply

    def claim(self, key: TurnKey) -> Claim | Future[Reply]:
        """The turn for the caller to answer (a ``Claim`` it must settle), or, when another
        request has it, that request's reply to come (see ``settled``)."""
        if not key[1]:
            return Claim(self, key, None)
        with self._lock:
            self._forget_old()
            running = self._calls.get(key)
            if running is not None:
                return running.reply
            mine = self._calls[key] = _Call()
        return Claim(self, key, mine)

    def _settle(self, key: TurnKey, call: _Call, outcome: Reply | BaseException) -> None:
        if call.reply.done():
            return  # settled already: its first outcome stands
        if isinstance(outcome, BaseException):
            with self._lock:
                if self._calls.get(key) is call:
                    del self._calls[key]  # a failed call is forgotten: the retry asks again
            call.reply.set_exception(outcome)
            return
        with self._lock:
            call.done_at = self._clock()
        call.reply.set_result(outcome)

    def _forget_old(self) -> None:
        """Drops replies older than ``remember_seconds``, and the oldest ones past the cap;
        calls still running are kept (the backend's timeout ends them)."""
        oldest_kept = self._clock() - self._remember
        over = len(self._calls) - self._max
        doomed = []
        for key, remembered in self._calls.items():  # oldest request first
            if remembered.done_at is None:
                continue
            if remembered.done_at >= oldest_kept and over <= 0:
                break
            doomed.append(key)
            over -= 1
        for key in doomed:
            del self._calls[key]
