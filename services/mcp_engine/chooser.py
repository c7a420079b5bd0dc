"""Picks each turn's backend: the one the tenant's settings ask for, when the engine serves it.

An engine serves its configured backend (``PARLEY_ENGINE_BACKEND``) and, when it can, the other
one too (see ``server.build_backend``). A turn whose ``engine.backend`` names a backend this
engine does not serve (an openai tenant on an engine without an OpenAI key, a misspelt name) is
answered by the configured backend, never refused; the reply's ``backend`` field says which one
answered, and the engine logs the fallback (once a minute per tenant and asked backend, so a
misconfigured tenant cannot flood the log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from protos import mcp_engine_pb2
from services.mcp_engine.backend import Backend, Pieces, StreamingBackend

log = logging.getLogger(__name__)

FALLBACK_LOG_INTERVAL_SECONDS = 60.0
_MAX_REMEMBERED = 10_000


class BackendChooser:
    """A ``Backend`` that hands each turn to one of several named backends."""

    def __init__(
        self,
        default: str,
        backends: Mapping[str, Backend],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if default not in backends:
            raise ValueError(f"the default backend {default!r} is not among {sorted(backends)}")
        self.default = default
        self._backends = dict(backends)
        self._clock = clock
        self._warned: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        """The backends this engine serves, the default first."""
        return [self.default, *sorted(name for name in self._backends if name != self.default)]

    def choose(self, request: mcp_engine_pb2.GenerateRequest) -> Backend:
        """The backend the turn's settings ask for, else the default (logging the fallback)."""
        asked = request.engine.backend
        if not asked:
            return self._backends[self.default]
        backend = self._backends.get(asked)
        if backend is None:
            self._log_fallback(request.tenant_id, asked, request.request_id)
            return self._backends[self.default]
        return backend

    def generate(self, request: mcp_engine_pb2.GenerateRequest) -> mcp_engine_pb2.GenerateResponse:
        return self.choose(request).generate(request)

    def stream(self, request: mcp_engine_pb2.GenerateRequest) -> Pieces | None:
        backend = self.choose(request)
        return backend.stream(request) if isinstance(backend, StreamingBackend) else None

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()

    def _log_fallback(self, tenant_id: str, asked: str, request_id: str) -> None:
        now = self._clock()
        key = (tenant_id, asked)
        with self._lock:
            last = self._warned.get(key)
            if last is not None and now - last < FALLBACK_LOG_INTERVAL_SECONDS:
                return
            if len(self._warned) >= _MAX_REMEMBERED:
                self._warned.clear()
            self._warned[key] = now
        log.warning(
            "tenant %s asks for the %r backend, which this engine does not serve (it serves %s);"
            " turn %s and the tenant's next turns are answered by %s",
            tenant_id, asked[:64], ", ".join(self.names), request_id, self.default,
        )  # fmt: skip
