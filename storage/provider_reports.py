"""What providers reported about the parts of a reply while the deliver stage was still sending it.

A status callback (WhatsApp ``statuses``) can arrive for part 1 of a reply before the deliver
stage has sent parts 2..n and marked the reply sent. Moving the reply then would make the
stage's own move to ``sent`` match nothing, and its ``chat.message.sent`` event, written in that
move, would be lost; a write racing the stage's could also undo it (FerretDB v1 rewrites whole
documents). So a reply in ``sending`` belongs to the stage alone: callbacks note here, by
provider message id, what they reported, and the stage reads the notes: a failure stops the
remaining parts, and once the reply is marked sent it moves on to the furthest state reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis

from core.states import Status

TTL_SECONDS = 24 * 3600
# Reported states in the order they supersede each other; a failure outranks them all.
_RANK = {Status.SENT: 1, Status.DELIVERED: 2, Status.READ: 3, Status.FAILED: 4}


def _key(tenant_id: str, channel_config_id: str, provider_message_id: str) -> str:
    return f"parley:report:{tenant_id}:{channel_config_id}:{provider_message_id}"


class ProviderReports:
    def __init__(self, client: Redis) -> None:
        self._redis = client

    def note(
        self, tenant_id: str, channel_config_id: str, provider_message_id: str, status: Status
    ) -> None:
        """Remember that the provider reported ``status`` for one of its message ids, sent
        through ``channel_config_id`` (provider ids are unique only per account)."""
        if status not in _RANK:
            return
        key = _key(tenant_id, channel_config_id, provider_message_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(key, status.value)
        pipe.expire(key, TTL_SECONDS)
        pipe.execute()

    def furthest(
        self, tenant_id: str, channel_config_id: str, provider_message_ids: Sequence[str]
    ) -> Status | None:
        """The furthest state reported for any of these ids (a failure first), if any."""
        if not provider_message_ids:
            return None
        pipe = self._redis.pipeline(transaction=False)
        for provider_message_id in provider_message_ids:
            pipe.smembers(_key(tenant_id, channel_config_id, provider_message_id))
        reported = {
            Status(raw.decode() if isinstance(raw, bytes) else raw)
            for members in pipe.execute()
            for raw in members
        }
        return max(reported, key=_RANK.__getitem__, default=None)
