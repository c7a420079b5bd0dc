"""The signing keys a JWKS URL serves, cached, with fetches bounded so callers cannot force them.

A token naming a key id the cache does not know may be signed by a freshly rotated key, so it
may start a refetch, but at most one every ``refetch_seconds`` and only in the thread that
claims it: every other thread answers from the cache at once, never waiting on the fetch. So
forged key ids cost the JWKS host one request per interval and stall no thread but the one
fetching. An expired set is refreshed the same way and used meanwhile; if that refresh fails
the set is dropped (fail closed) until a later attempt succeeds. A failed fetch never evicts
keys that are still fresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt

from core.errors import KeysUnavailable

FETCH_TIMEOUT_SECONDS = 5
REFETCH_SECONDS = 10.0


class JwksKeys:
    def __init__(
        self,
        url: str,
        lifespan_seconds: float,
        *,
        refetch_seconds: float = REFETCH_SECONDS,
        timeout_seconds: float = FETCH_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds)
        self._lifespan = lifespan_seconds
        self._refetch = refetch_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._expires = 0.0
        self._last_attempt: float | None = None
        self._fetching = False
        self.fetches = 0  # requests made to the JWKS host, for tests and metrics

    def get(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, or None when the set does not hold it; KeysUnavailable when no
        set can be had."""
        now = self._clock()
        with self._lock:
            keys = self._keys
            wanted = keys is None or now >= self._expires or kid not in keys
            claimed = wanted and self._claim(now)
        if claimed:
            keys = self._refresh(now)
        if keys is None:
            raise KeysUnavailable("the signing keys could not be fetched")
        return keys.get(kid)

    def _claim(self, now: float) -> bool:
        """Whether this thread may fetch now (called under the lock)."""
        if self._fetching:
            return False
        if self._last_attempt is not None and now - self._last_attempt < self._refetch:
            return False
        self._fetching, self._last_attempt = True, now
        return True

    def _refresh(self, now: float) -> dict[str, jwt.PyJWK] | None:
        fetched: dict[str, jwt.PyJWK] | None = None
        try:
            fetched = self._fetch()
        except KeysUnavailable:
            pass  # what is cached stays while it is fresh
        finally:
            with self._lock:
                self._fetching = False
                if fetched is not None:
                    self._keys, self._expires = fetched, now + self._lifespan
                elif now >= self._expires:
                    self._keys = None  # expired and not renewed: fail closed
                keys = self._keys
        return keys

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        self.fetches += 1
        try:
            document: Any = self._client.fetch_data()
            found = jwt.PyJWKSet.from_dict(document)
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            raise KeysUnavailable("the signing keys could not be fetched") from None
        return {
            key.key_id: key
            for key in found.keys
            if key.key_id and key.public_key_use in ("sig", None)
        }
