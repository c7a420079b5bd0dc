"""Bursts: several messages of one user answered as one turn (docs/bursts.md).

A turn's reply is generated ``window`` after its message was accepted (the ingress puts the
wait on the chain, so waiting costs no worker). The turn that reaches the engine first takes
along every later message of its conversation that is ready by then, in order, up to
``max_messages``: one engine request carries them all, one reply answers them all, and each
message records that reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from core.settings import Settings


@dataclass(frozen=True)
class BurstPolicy:
    window_seconds: float  # how long a new turn waits for more messages
    max_messages: int  # the most messages one reply answers; 1: bursts off

    @property
    def enabled(self) -> bool:
        return self.max_messages > 1


def burst_policy(settings: Settings, overrides: Mapping[str, Any]) -> BurstPolicy:
    """The platform's policy with a tenant's ``bursts`` settings over it; a value of the wrong
    type is ignored (the admin API validates them; this guards documents written otherwise)."""
    window_ms, most = overrides.get("window_ms"), overrides.get("max_messages")
    if not _count(window_ms):
        window_ms = settings.burst_window_ms
    if not _count(most) or most < 1:
        most = settings.burst_max_messages
    most = int(most)
    # A policy that can answer only one message at a time has nothing to wait for.
    return BurstPolicy(window_seconds=window_ms / 1000 if most > 1 else 0.0, max_messages=most)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
