"""Channel configurations: a tenant's provider accounts, with their secrets sealed at rest.

A provider account (channel, account id) belongs to at most one tenant: the unique index makes a
second registration of the same WhatsApp number or Slack team fail instead of splitting traffic.
``create`` stores what it is given: callers prove the account with its provider first
(``channels.accounts``), so the first tenant to register an account is one that holds its keys.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.cloudevents import CloudEvent
from core.crypto import SecretBox
from core.envelopes import ChannelConfig, ChannelEvent
from core.errors import Conflict, NotFound
from core.ids import new_id
from core.timeutil import as_utc, utcnow
from storage.by_id import find_by_id, update_by_id
from storage.outbox import PendingEvents, push

ConfigDocument = dict[str, Any]
COLLECTION = "channel_configs"


class ChannelConfigRepository:
    def __init__(self, db: Database[Any], box: SecretBox) -> None:
        self._collection: Collection[ConfigDocument] = db[COLLECTION]
        self._box = box
        self._pending = PendingEvents(db)

    def create(
        self,
        tenant_id: str,
        channel: str,
        account_id: str,
        secrets: dict[str, str],
        options: dict[str, str],
        messenger_profile: dict[str, Any] | None = None,
    ) -> ConfigDocument:
        doc: ConfigDocument = {
            "_id": new_id("chc"),
            "tenant_id": tenant_id,
            "channel": channel,
            "account_id": account_id,
            "options": options,
            "sealed_secrets": self._box.seal(secrets),
            "secret_names": sorted(secrets),
            "state": "active",
            "created_at": utcnow(),
        }
        if messenger_profile is not None:
            doc["messenger_profile"] = messenger_profile
        try:
            self._collection.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict(f"this {channel} account is already registered") from None
        return doc

    def list(self, tenant_id: str) -> list[ConfigDocument]:
        return list(self._collection.find({"tenant_id": tenant_id}).sort("_id", 1))

    def get(self, tenant_id: str, config_id: str) -> ConfigDocument:
        doc = find_by_id(self._collection, config_id, {"tenant_id": tenant_id})
        if doc is None:
            raise NotFound(f"channel config {config_id} not found")
        return doc

    def save_profile(
        self, tenant_id: str, config_id: str, messenger_profile: dict[str, Any] | None
    ) -> ConfigDocument:
        """Keep the page profile the tenant wants (None: none), before it is applied."""
        change: dict[str, Any] = (
            {"$set": {"messenger_profile": messenger_profile}}
            if messenger_profile is not None
            else {"$unset": {"messenger_profile": ""}}
        )
        doc = self.get(tenant_id, config_id)
        update_by_id(self._collection, config_id, {"tenant_id": tenant_id}, change, current=doc)
        return self.get(tenant_id, config_id)

    def note_profile(
        self, tenant_id: str, config_id: str, outcome: dict[str, Any]
    ) -> ConfigDocument:
        """How applying the saved profile to the page went (``profile``: applied or failed)."""
        doc = self.get(tenant_id, config_id)
        update = {"$set": {"profile": outcome}}
        update_by_id(self._collection, config_id, {"tenant_id": tenant_id}, update, current=doc)
        return self.get(tenant_id, config_id)

    def record_installation(
        self, tenant_id: str, config_id: str, change: ChannelEvent, event: CloudEvent
    ) -> bool:
        """The provider's last word on the bot's installation (``installation``: installed or
        uninstalled, where, since when), with its event in the config's outbox, in one update.
        A redelivery (its event already noted) changes nothing; a word older than the one
        stored is told but does not turn the state back. Whether this call recorded it."""
        if not self._pending.note(COLLECTION, config_id, [event.id]):
            return False
        at = change.at or utcnow()
        installation = {
            "state": change.kind.value,
            "at": at,
            "conversation_id": change.conversation_id,
            **{k: change.detail.get(k) for k in ("conversation_type", "team_id", "source")},
        }
        doc = find_by_id(self._collection, config_id, {"tenant_id": tenant_id})
        if doc is None:
            return False
        stored_at = (doc.get("installation") or {}).get("at")
        told = push([event])
        if stored_at is None or as_utc(stored_at) <= as_utc(at):
            # Compare-and-set on what was read: a concurrent word wins, this one is still told.
            unchanged = (
                {"installation.at": stored_at}
                if stored_at is not None
                else {"installation": {"$exists": False}}
            )
            update = {"$set": {"installation": installation}, **told}
            if update_by_id(self._collection, config_id, unchanged, update, current=doc):
                return True
        return update_by_id(self._collection, config_id, {}, told, current=doc)

    def for_webhook(self, channel: str, config_id: str) -> ChannelConfig:
        """The config a webhook URL names; the tenant comes from it, not from the request."""
        doc = find_by_id(self._collection, config_id, {"channel": channel, "state": "active"})
        if doc is None:
            raise NotFound(f"no {channel} channel config {config_id}")
        return self._open(doc)

    def for_delivery(self, tenant_id: str, config_id: str) -> ChannelConfig:
        return self._open(self.get(tenant_id, config_id))

    def _open(self, doc: ConfigDocument) -> ChannelConfig:
        return ChannelConfig(
            id=doc["_id"],
            tenant_id=doc["tenant_id"],
            channel=doc["channel"],
            account_id=doc["account_id"],
            options=dict(doc.get("options", {})),
            secrets=self._box.open(doc["sealed_secrets"]),
        )
