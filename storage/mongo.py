"""MongoDB connection and the indexes Parley declares in code and ensures at start-up.

The same code runs on MongoDB 7 and on FerretDB v1, so it avoids transactions, change streams,
partial indexes and aggregation beyond the basics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pymongo
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database

from core.settings import Settings
from storage.round_trips import MONGO_LISTENER

Document = dict[str, object]

# An index build on a large collection can take minutes; start-up may wait that long.
INDEX_BUILD_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: list[tuple[str, int]]
    name: str
    unique: bool = False
    options: dict[str, object] = field(default_factory=dict)

    def model(self) -> IndexModel:
        return IndexModel(self.keys, name=self.name, unique=self.unique, **self.options)


# Tenant-leading compound indexes: every query Parley makes starts with the tenant.
INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec(
        "conversations",
        [("tenant_id", ASCENDING), ("open_key", ASCENDING)],
        "tenant_open_key_unique",
        unique=True,
    ),
    IndexSpec(
        "conversations",
        [("tenant_id", ASCENDING), ("last_message_at", DESCENDING)],
        "tenant_recent",
    ),
    # ``GET /v1/conversations`` lists a tenant's in id order.
    IndexSpec("conversations", [("tenant_id", ASCENDING), ("_id", ASCENDING)], "tenant_order"),
    # The idle beat job scans open conversations by their last activity (across tenants).
    IndexSpec(
        "conversations",
        [("state", ASCENDING), ("last_message_at", ASCENDING)],
        "open_idle",
    ),
    # One message per idempotency key / provider message id per tenant: the atomic dedupe.
    IndexSpec(
        "messages",
        [("tenant_id", ASCENDING), ("dedupe_key", ASCENDING)],
        "tenant_dedupe_key_unique",
        unique=True,
    ),
    IndexSpec(
        "messages",
        [("tenant_id", ASCENDING), ("conversation_id", ASCENDING), ("_id", ASCENDING)],
        "tenant_conversation_order",
    ),
    # For the beat job that releases idempotency keys past their window (across tenants).
    IndexSpec(
        "messages",
        [("idempotency_key", ASCENDING), ("created_at", ASCENDING)],
        "idempotency_window",
    ),
    # Status callbacks find our outbound message by the provider's id.
    IndexSpec(
        "messages",
        [("tenant_id", ASCENDING), ("provider_message_ids", ASCENDING)],
        "tenant_provider_message_ids",
    ),
    # Messenger read/delivery watermarks cover a user's outbound messages up to a time.
    IndexSpec(
        "messages",
        [("tenant_id", ASCENDING), ("channel_config_id", ASCENDING), ("user_id", ASCENDING)],
        "tenant_config_user",
    ),
    # A provider account belongs to one tenant.
    IndexSpec(
        "channel_configs",
        [("channel", ASCENDING), ("account_id", ASCENDING)],
        "channel_account_unique",
        unique=True,
    ),
    IndexSpec("channel_configs", [("tenant_id", ASCENDING), ("_id", ASCENDING)], "tenant_configs"),
    # ``GET /v1/templates`` and a sync's clean-up read an account's templates.
    IndexSpec(
        "templates",
        [("tenant_id", ASCENDING), ("channel_config_id", ASCENDING), ("_id", ASCENDING)],
        "tenant_config_templates",
    ),
    IndexSpec(
        "audit",
        [("tenant_id", ASCENDING), ("conversation_id", ASCENDING), ("created_at", ASCENDING)],
        "tenant_conversation_time",
    ),
    # Dead letters are listed per tenant in id order, by default only the open ones.
    IndexSpec(
        "dead_letters",
        [("tenant_id", ASCENDING), ("state", ASCENDING), ("_id", ASCENDING)],
        "tenant_state_order",
    ),
    IndexSpec("dead_letters", [("tenant_id", ASCENDING), ("_id", ASCENDING)], "tenant_order"),
    # A tenant's API keys in issue order; verifying a key needs only ``_id`` (its key id).
    IndexSpec("api_keys", [("tenant_id", ASCENDING), ("_id", ASCENDING)], "tenant_keys"),
    # ``GET /v1/admin/widgets`` lists a tenant's in id order; a CORS preflight asks whether any
    # widget allows an origin. Uploads are read by ``_id`` alone.
    IndexSpec("widgets", [("tenant_id", ASCENDING), ("_id", ASCENDING)], "tenant_order"),
    IndexSpec("widgets", [("allowed_origins", ASCENDING)], "allowed_origins"),
    # Outbound webhooks (storage/webhook_subscriptions.py, storage/webhook_deliveries.py): a
    # tenant's subscriptions in id order; a subscription's delivery log newest first; the
    # deliveries ahead of one in its (subscription, conversation) order; the re-drive scan.
    IndexSpec(
        "webhook_subscriptions", [("tenant_id", ASCENDING), ("_id", ASCENDING)], "tenant_order"
    ),
    IndexSpec(
        "webhook_deliveries",
        [("subscription_id", ASCENDING), ("log_id", DESCENDING)],
        "subscription_log",
    ),
    IndexSpec(
        "webhook_deliveries",
        [("order_key", ASCENDING), ("sequence", ASCENDING)],
        "order_key_sequence",
    ),
    IndexSpec(
        "webhook_deliveries",
        [("status", ASCENDING), ("next_attempt_at", ASCENDING)],
        "due",
    ),
    # Notifications (storage/notification_rules.py, storage/notifications.py): a tenant's rules
    # in id order, its alerts newest first.
    IndexSpec("notification_rules", [("tenant_id", ASCENDING), ("_id", ASCENDING)], "tenant_order"),
    IndexSpec("notifications", [("tenant_id", ASCENDING), ("log_id", DESCENDING)], "tenant_log"),
    # The admin audit trail (storage/admin_audit.py): a failed authentication counts into its
    # minute's bucket (unique); listed per tenant newest first; swept by its ``at``.
    IndexSpec("admin_audit", [("bucket", ASCENDING)], "bucket_unique", unique=True),
    IndexSpec("admin_audit", [("tenant_id", ASCENDING), ("_id", DESCENDING)], "tenant_order"),
    IndexSpec("admin_audit", [("at", ASCENDING)], "at"),
    # Retention of the event stores (storage/retention.py) scans each by its age.
    IndexSpec("event_log", [("logged_at", ASCENDING)], "logged_at"),
    IndexSpec("processed_events", [("at", ASCENDING)], "at"),
    IndexSpec(
        "webhook_deliveries", [("status", ASCENDING), ("updated_at", ASCENDING)], "finished_age"
    ),
    IndexSpec("retention_runs", [("tenant_id", ASCENDING), ("at", ASCENDING)], "tenant_time"),
    # Analytics reports match a tenant's facts in a time range; a tombstone finds a
    # conversation's (storage/analytics.py).
    IndexSpec("analytics_facts", [("tenant_id", ASCENDING), ("at", ASCENDING)], "tenant_at"),
    IndexSpec("analytics_facts", [("conversation_id", ASCENDING)], "conversation"),
    # The same, for the reference Analytics Engine's own facts (services/analytics_engine).
    IndexSpec("analytics_engine_facts", [("tenant_id", ASCENDING), ("at", ASCENDING)], "tenant_at"),
    IndexSpec("analytics_engine_facts", [("conversation_id", ASCENDING)], "conversation"),
)


def connect(settings: Settings) -> MongoClient[Document]:
    """A client for this process; call after fork, never at import.

    Every operation is bounded by ``PARLEY_MONGO_TIMEOUT_SECONDS`` (``timeoutMS``: server
    selection, connection, the server's answer and pymongo's own retry together); past it
    pymongo raises ``NetworkTimeout``, or ``ExecutionTimeout`` when the server stopped the
    operation, both transient (``tasks.policy``).
    """
    return MongoClient(
        settings.mongo_url,
        tz_aware=True,
        timeoutMS=round(settings.mongo_timeout_seconds * 1000),
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        appname="parley",
        event_listeners=[MONGO_LISTENER],  # round trips counted per stage (round_trips.py)
    )


def database(client: MongoClient[Document], settings: Settings) -> Database[Document]:
    return client[settings.mongo_db]


def ensure_indexes(db: Database[Document]) -> None:
    """Create every declared index that is missing, one at a time.

    Only the missing ones are sent: FerretDB v1 drops the connection when a single
    ``createIndexes`` command repeats several indexes that already exist.
    """
    with pymongo.timeout(INDEX_BUILD_TIMEOUT_SECONDS):
        _create_missing(db)


def _create_missing(db: Database[Document]) -> None:
    existing: dict[str, set[str]] = {}
    for spec in INDEXES:
        names = existing.get(spec.collection)
        if names is None:
            names = {index["name"] for index in db[spec.collection].list_indexes()}
            existing[spec.collection] = names
        if spec.name not in names:
            db[spec.collection].create_indexes([spec.model()])
            names.add(spec.name)
