"""The storage wiring the ingress and the workers share: one set of clients and repositories
built from the settings, reaching the configured databases."""

from __future__ import annotations

import redis

from core.ids import new_id
from core.settings import Settings
from storage.wiring import Storage


def test_the_wiring_reaches_the_configured_redis_databases_and_mongo(
    settings: Settings, redis_client: redis.Redis
) -> None:
    storage = Storage(settings, redis_timeout_seconds=2)
    try:
        key = new_id("wiring")
        storage.redis.set(key, "sessions", ex=60)
        assert redis_client.get(key) == b"sessions"
        broker_db = redis.Redis.from_url(settings.broker_url).connection_pool.connection_kwargs[
            "db"
        ]
        assert storage.broker.connection_pool.connection_kwargs["db"] == broker_db
        assert storage.redis.connection_pool.connection_kwargs["socket_connect_timeout"] == 2
        assert storage.db.name == settings.mongo_db
        assert storage.db.command("ping")["ok"] == 1
    finally:
        storage.close()
