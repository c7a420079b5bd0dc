"""The ``notifications`` handler: a tenant's notification rules turned into alerts by email,
Slack and SMS, one alert an incident.

For each event, the tenant's rules whose condition reads it are evaluated
(consumers/alert_conditions.py). A condition that holds is an incident, alerted unless the rule
is in its quiet period for that subject (storage/incidents.py): under a short lock, the open
incident's alert is recorded (storage/notifications.py) and sent to each target not yet
settled. If a target failed in a way a retry may fix, the handler raises: the quiet period has
not started, the incident stays open, and the runtime's retry (or the next event that finds
the condition holding) sends to the targets still waiting; the others are not sent twice.
Once every target is settled the incident closes and the quiet period starts.

The runtime keeps the processed-id records (``ledger`` None); the windows count an event id
once anyway, so a redelivery after a crash neither counts twice nor alerts twice. Alerts carry
no conversation's data, so a tombstone leaves nothing to forget here.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pymongo.database import Database
from redis import Redis

from channels.alerts import Alert, AlertNotSent
from consumers.alert_conditions import EVENTS_OF, Incident, evaluate, kinds_reading
from consumers.alert_senders import AlertSenders, label
from consumers.handler import Event
from core.scopes import PLATFORM_TENANT
from core.settings import Settings, get_settings
from core.ttl_cache import TtlCache
from storage.event_windows import EventWindows
from storage.incidents import IncidentGate
from storage.notification_rules import NotificationRuleRepository
from storage.notifications import FAILED, SETTLED, NotificationLog

log = logging.getLogger("parley.consumers.notifications")

REDIS_TIMEOUT_SECONDS = 2.0
# (tenant, condition kinds) → the tenant's rules of those kinds.
RuleCache = TtlCache[tuple[str, tuple[str, ...]], list[dict[str, Any]]]
TITLES = {
    "dead_letters_above": "messages are being dead-lettered",
    "delivery_rate_below": "replies are not being delivered",
    "credentials_refused": "a provider refused the channel's credentials",
    "endpoint_disabled": "a webhook endpoint was disabled",
}


class Notifications:
    name: ClassVar[str] = "notifications"
    events: ClassVar[tuple[str, ...]] = tuple(
        sorted({t for types in EVENTS_OF.values() for t in types})
    )
    ledger: ClassVar[str | None] = None

    def __init__(self, db: Database[Any], settings: Settings | None = None) -> None:
        self._settings = settings
        self._rules = NotificationRuleRepository(db)
        self._log = NotificationLog(db)
        self._parts: tuple[EventWindows, IncidentGate, AlertSenders] | None = None
        # A tenant's rules are read once per PARLEY_TENANT_CACHE_SECONDS, not at every reply
        # sent or delivered: a new or deleted rule counts from then on.
        self._cached_rules: RuleCache | None = None

    def _clients(self) -> tuple[EventWindows, IncidentGate, AlertSenders]:
        if self._parts is None:  # built in the consumer's process, on its first event
            settings = self._settings or get_settings()
            redis = Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._parts = (EventWindows(redis), IncidentGate(redis), AlertSenders(settings))
            self._cached_rules = TtlCache(settings.tenant_cache_seconds)
        return self._parts

    def handle(self, event: Event) -> None:
        tenant_id = str(event.get("tenantid") or "")
        kinds = kinds_reading(str(event.get("type", "")))
        if not kinds or not tenant_id or tenant_id == PLATFORM_TENANT:
            return
        windows, gate, senders = self._clients()
        assert self._cached_rules is not None  # built with the clients
        rules = self._cached_rules.get_or_load(
            (tenant_id, kinds), lambda: self._rules.of_kinds(tenant_id, kinds)
        )
        failures = []
        for rule in rules:
            incident = evaluate(rule, event, windows)
            if incident is None:
                continue
            try:
                self._alert(tenant_id, rule, incident, str(event["id"]), gate, senders)
            except AlertNotSent as exc:  # the other rules still get their turn
                failures.append(f"rule {rule['_id']}: {exc}")
        if failures:
            raise AlertNotSent("; ".join(failures))

    def _alert(
        self,
        tenant_id: str,
        rule: dict[str, Any],
        incident: Incident,
        event_id: str,
        gate: IncidentGate,
        senders: AlertSenders,
    ) -> None:
        rule_id, subject = rule["_id"], incident.subject
        if gate.quiet(tenant_id, rule_id, subject):
            return  # the same incident, already alerted
        token = gate.lock(tenant_id, rule_id, subject)
        if token is None:
            return  # another consumer is alerting this incident
        try:
            if gate.quiet(tenant_id, rule_id, subject):
                return
            kind = rule["condition"]["kind"]
            doc = self._log.open(
                tenant_id=tenant_id,
                rule_id=rule_id,
                condition=kind,
                subject=subject,
                incident=gate.incident(tenant_id, rule_id, subject, event_id),
                summary=incident.summary,
                targets=[label(t) for t in rule["notify"]],
            )
            alert = Alert(f"Parley: {TITLES[kind]} (tenant {tenant_id})", doc["summary"])
            failed = []
            for index, target in enumerate(rule["notify"]):
                if doc["targets"][index]["outcome"] in SETTLED:
                    continue  # sent (or skipped) by an earlier try of this incident
                try:
                    outcome, error = senders.send(target, alert)
                except AlertNotSent as exc:
                    outcome, error = FAILED, str(exc)
                    failed.append(f"{label(target)}: {exc}")
                self._log.record(doc, index, outcome, error)
            if failed:
                raise AlertNotSent("; ".join(failed))
            self._log.settle(doc)
            gate.alerted(tenant_id, rule_id, subject, rule["quiet_seconds"])
            log.info("alerted rule %s of tenant %s: %s", rule_id, tenant_id, doc["summary"])
        finally:
            gate.unlock(tenant_id, rule_id, subject, token)

    def forget(self, key: str) -> None:
        """Nothing to forget: alerts hold no conversation's data."""
