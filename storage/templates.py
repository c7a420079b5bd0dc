"""The ``templates`` collection: each WhatsApp account's message templates as last synced.

One document per (tenant, channel config, name, language), keyed by that ``_id`` so the send
checks read it by ``_id`` alone (storage/by_id.py). A sync replaces the account's set: what it
no longer lists is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from core.envelopes import ChannelConfig
from core.templates import MessageTemplate, business_account_id, template_key, template_problem
from core.timeutil import utcnow
from storage.by_id import find_by_id

COLLECTION = "templates"


class TemplateDocument(TypedDict):
    _id: str
    tenant_id: str
    channel_config_id: str
    name: str
    language: str
    category: str
    status: str
    parameters: dict[str, int]  # "header", "body", "button:<index>" → how many it takes
    synced_at: datetime


def template_doc_id(tenant_id: str, config_id: str, name: str, language: str) -> str:
    return f"{tenant_id}:{config_id}:{name}:{language}"


class TemplateRepository:
    """Tenant-scoped access to ``templates``."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[TemplateDocument] = db[COLLECTION]

    def replace(
        self, tenant_id: str, config_id: str, templates: Sequence[MessageTemplate]
    ) -> list[TemplateDocument]:
        """Store ``templates`` as the account's whole set; returns them as stored."""
        now = utcnow()
        docs: list[TemplateDocument] = [
            {
                "_id": template_doc_id(tenant_id, config_id, t.name, t.language),
                "tenant_id": tenant_id,
                "channel_config_id": config_id,
                "name": t.name,
                "language": t.language,
                "category": t.category,
                "status": t.status,
                "parameters": dict(t.parameters),
                "synced_at": now,
            }
            for t in templates
        ]
        for doc in docs:
            self._collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        kept = [doc["_id"] for doc in docs]
        self._collection.delete_many(
            {"tenant_id": tenant_id, "channel_config_id": config_id, "_id": {"$nin": kept}}
        )
        return docs

    def find(
        self, tenant_id: str, config_id: str, name: str, language: str
    ) -> MessageTemplate | None:
        doc = find_by_id(
            self._collection,
            template_doc_id(tenant_id, config_id, name, language),
            {"tenant_id": tenant_id},
        )
        if doc is None:
            return None
        return MessageTemplate(
            doc["name"], doc["language"], doc["status"], doc["category"], dict(doc["parameters"])
        )

    def list(self, tenant_id: str, config_id: str | None = None) -> list[TemplateDocument]:
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if config_id is not None:
            query["channel_config_id"] = config_id
        return list(self._collection.find(query).sort("_id", ASCENDING))

    def refusal(self, config: ChannelConfig, parts: Sequence[dict[str, Any]]) -> str | None:
        """Why one of ``parts`` (a WhatsApp reply's) is a template that must not be sent: unknown
        to the account, not approved, or given the wrong number of parameters. None when all
        may go, and always for an account without ``business_account_id`` (nothing synced to
        check against: Graph is the judge there)."""
        if config.channel != "whatsapp" or business_account_id(config) is None:
            return None
        for part in parts:
            if part.get("type") != "template":
                continue
            name, language = template_key(part)
            problem = template_problem(part, self.find(config.tenant_id, config.id, name, language))
            if problem is not None:
                return problem
        return None
