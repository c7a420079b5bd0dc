"""Notification rules: what a tenant wants to be told about, and where.

A rule is a ``condition`` (one of ``CONDITION_KINDS``, docs/notifications.md says what each
means), the ``notify`` targets (an email address, a Slack incoming-webhook URL or a phone
number for SMS) and a ``quiet_seconds``: one incident alerts once, and the rule stays quiet that
long after. The ingress validates a rule before it is stored; the ``notifications`` event
handler (consumers/notifications.py) reads a tenant's rules for each event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from core.errors import NotFound
from core.ids import new_id
from core.timeutil import utcnow

RuleDocument = dict[str, Any]

DEAD_LETTERS_ABOVE = "dead_letters_above"
DELIVERY_RATE_BELOW = "delivery_rate_below"
CREDENTIALS_REFUSED = "credentials_refused"
ENDPOINT_DISABLED = "endpoint_disabled"
CONDITION_KINDS = (DEAD_LETTERS_ABOVE, DELIVERY_RATE_BELOW, CREDENTIALS_REFUSED, ENDPOINT_DISABLED)

# The kinds of target a rule notifies, by the key that names each in ``notify``.
EMAIL, SLACK, SMS = "email", "slack_webhook_url", "sms"
TARGET_KINDS = (EMAIL, SLACK, SMS)
DEFAULT_QUIET_SECONDS = 3600


class NotificationRuleRepository:
    """Tenant-scoped access to ``notification_rules``."""

    def __init__(self, db: Database[Any], clock: Callable[[], datetime] = utcnow) -> None:
        self._collection: Collection[RuleDocument] = db["notification_rules"]
        self._clock = clock

    def create(
        self,
        tenant_id: str,
        condition: dict[str, Any],
        notify: list[dict[str, str]],
        quiet_seconds: int,
    ) -> RuleDocument:
        doc: RuleDocument = {
            "_id": new_id("ntr"),
            "tenant_id": tenant_id,
            "condition": condition,
            "notify": notify,
            "quiet_seconds": quiet_seconds,
            "created_at": self._clock(),
        }
        self._collection.insert_one(doc)
        return doc

    def delete(self, tenant_id: str, rule_id: str) -> None:
        """``NotFound`` for a missing rule or another tenant's."""
        result = self._collection.delete_one({"_id": rule_id, "tenant_id": tenant_id})
        if result.deleted_count != 1:
            raise NotFound(f"notification rule {rule_id} not found")

    def of_kinds(self, tenant_id: str, kinds: tuple[str, ...]) -> list[RuleDocument]:
        """The tenant's rules whose condition is one of ``kinds``, oldest first."""
        query = {"tenant_id": tenant_id, "condition.kind": {"$in": list(kinds)}}
        return list(self._collection.find(query).sort("_id", ASCENDING))

    # Last: below it, ``list`` in an annotation would name this method.
    def list(self, tenant_id: str) -> list[RuleDocument]:
        return list(self._collection.find({"tenant_id": tenant_id}).sort("_id", ASCENDING))
