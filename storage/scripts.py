"""Lua scripts run many at a time in one pipeline, at one round trip.

redis-py runs a registered script inside a pipeline by asking the server first whether it knows
the script (``SCRIPT EXISTS``), a round trip of its own on every execute. A pipeline made only of
calls to one script needs no such question: each call is sent as ``EVALSHA``; a server that does
not know the script (restarted, flushed) refuses every one of them, none having run, and the
script is loaded and the pipeline sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.exceptions import NoScriptError


class PipelinedScript:
    def __init__(self, client: Redis, source: str) -> None:
        self._client = client
        self._script = client.register_script(source)

    @property
    def sha(self) -> str:
        sha: str = self._script.sha
        return sha

    def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One call, on its own (EVALSHA, the script loaded when the server lacks it)."""
        return self._script(keys=list(keys), args=list(args))

    def run_all(self, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Every ``(keys, args)`` call, in order, in one pipeline; their results."""
        if not calls:
            return []
        for attempt in range(2):
            pipe = self._client.pipeline(transaction=False)
            for keys, args in calls:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            try:
                return list(pipe.execute())
            except NoScriptError:
                if attempt:
                    raise
                self._script.sha = self._client.script_load(self._script.script)
        raise AssertionError("unreachable")
