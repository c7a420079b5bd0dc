"""One incident, one alert: the Redis state that turns a rule's condition holding, event after
event, into a single alert per quiet period.

Per (tenant, rule, subject) three keys:

- ``quiet``: set (``SET NX`` with the rule's ``quiet_seconds`` as TTL) once an incident's alert
  went out to every target; while it lives the condition holding again is the same incident and
  alerts nobody. It is written only after the sends, so an alert that failed never starts one.
- ``open``: the incident being alerted, its id the event that found the condition holding. It
  stays until its alert went out, so a retry (of that event or any later one) carries on with
  the same incident, and the alert log sends only to the targets still waiting.
- ``lock``: a short lease (owner token, expiry) held while one consumer alerts, so two consumers
  reading different partitions of the same tenant do not both send; the one that finds it held
  leaves the incident to its holder. A holder that dies lets it expire.
"""

from __future__ import annotations

import secrets

from redis import Redis

PREFIX = "parley:notify"
LOCK_SECONDS = 120
# Longer than any quiet period: an incident whose alert keeps failing is kept open this long.
OPEN_SECONDS = 31 * 86400
# Deletes the lock only if it is still ours (it may have expired and been taken since).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class IncidentGate:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._release = redis.register_script(_RELEASE)

    @staticmethod
    def key(part: str, tenant_id: str, rule_id: str, subject: str) -> str:
        return f"{PREFIX}:{part}:{tenant_id}:{rule_id}:{subject}"

    def quiet(self, tenant_id: str, rule_id: str, subject: str) -> bool:
        """Whether the rule is in its quiet period for ``subject``."""
        return bool(self._redis.exists(self.key("quiet", tenant_id, rule_id, subject)))

    def lock(self, tenant_id: str, rule_id: str, subject: str) -> str | None:
        """The lease's owner token, or None when another consumer holds it."""
        token = secrets.token_hex(8)
        key = self.key("lock", tenant_id, rule_id, subject)
        return token if self._redis.set(key, token, nx=True, ex=LOCK_SECONDS) else None

    def unlock(self, tenant_id: str, rule_id: str, subject: str, token: str) -> None:
        self._release(keys=[self.key("lock", tenant_id, rule_id, subject)], args=[token])

    def incident(self, tenant_id: str, rule_id: str, subject: str, event_id: str) -> str:
        """The open incident's id: an earlier one still to be alerted, else ``event_id``'s."""
        key = self.key("open", tenant_id, rule_id, subject)
        self._redis.set(key, event_id, nx=True, ex=OPEN_SECONDS)
        found = self._redis.get(key)
        return found.decode() if isinstance(found, bytes) else event_id

    def alerted(self, tenant_id: str, rule_id: str, subject: str, quiet_seconds: int) -> None:
        """The open incident's alert went out: close it and start the quiet period."""
        pipe = self._redis.pipeline()
        pipe.set(self.key("quiet", tenant_id, rule_id, subject), "1", nx=True, ex=quiet_seconds)
        pipe.delete(self.key("open", tenant_id, rule_id, subject))
        pipe.execute()
