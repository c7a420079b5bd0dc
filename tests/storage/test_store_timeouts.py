"""A MongoDB-wire server that stops answering costs a bounded wait and a transient error, never
a thread for ever; the timeout errors pymongo raises are retried, not dead-lettered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import ExecutionTimeout, NetworkTimeout, WTimeoutError
from pymongo.uri_parser import parse_uri

from core.errors import NotFound
from core.settings import Settings
from storage.dead_letters import DeadLetterRepository
from storage.mongo import connect, database
from tasks.policy import INFRASTRUCTURE_ERRORS, infrastructure_retry, transient_store_error
from tests.fakes.stalling_proxy import StallingProxy


@pytest.fixture
def stalling(settings: Settings) -> Iterator[tuple[StallingProxy, MongoClient[Any]]]:
    """A client whose every operation goes through a proxy the test can stall."""
    host, port = parse_uri(settings.mongo_url)["nodelist"][0]
    with StallingProxy(port, host) as proxy:
        through_proxy = Settings(
            mongo_url=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
            mongo_db=settings.mongo_db,
            mongo_timeout_seconds=1.0,
        )
        client = connect(through_proxy)
        try:
            yield proxy, client
        finally:
            proxy.close()  # first: the client's goodbye to a stalled server would wait
            client.close()


# Without an operation timeout the call below waits for ever: the server's monitoring still
# answers, so nothing else ends the wait. The pytest timeout turns that into a failure (in a
# thread: a signal raised inside pymongo's socket read can leave its pool locked).
@pytest.mark.timeout(60, method="thread")
def test_a_repository_call_to_a_server_that_stopped_answering_raises_a_transient_error(
    settings: Settings, stalling: tuple[StallingProxy, MongoClient[Any]], tenant: str
) -> None:
    proxy, client = stalling
    repo = DeadLetterRepository(database(client, settings))
    with pytest.raises(NotFound):
        repo.get(tenant, "dl_none")  # the server answers through the proxy
    proxy.stall()

    with pytest.raises(INFRASTRUCTURE_ERRORS) as raised:
        repo.get(tenant, "dl_none")

    assert isinstance(raised.value, NetworkTimeout)
    assert proxy.held >= 1


@pytest.mark.parametrize(
    "error",
    [
        NetworkTimeout("timed out"),
        ExecutionTimeout("operation exceeded time limit", 50),
        WTimeoutError("waiting for replication timed out", 64),
    ],
)
def test_the_stores_timeout_errors_are_retried_by_every_stage(error: Exception) -> None:
    assert isinstance(error, infrastructure_retry()["autoretry_for"])
    assert isinstance(error, INFRASTRUCTURE_ERRORS)


def test_a_server_side_time_limit_is_a_passing_store_refusal() -> None:
    assert transient_store_error(ExecutionTimeout("operation exceeded time limit", 50))


@pytest.mark.timeout(60, method="thread")
def test_the_ingress_answers_503_problem_when_mongodb_stops_answering(
    settings: Settings, tenant: str
) -> None:
    from starlette.testclient import TestClient

    from core.tokens import mint_token
    from ingress.app import create_app

    host, port = parse_uri(settings.mongo_url)["nodelist"][0]
    with StallingProxy(port, host) as proxy:
        through_proxy = Settings(
            mongo_url=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
            mongo_db=settings.mongo_db,
            mongo_timeout_seconds=1.0,
            tenant_cache_seconds=0,
        )
        token = mint_token(settings.require_jwt_secret(), tenant, "ops", 600)
        with TestClient(create_app(through_proxy), raise_server_exceptions=False) as client:
            proxy.stall()
            answer = client.get(
                "/v1/messages/msg_none", headers={"Authorization": f"Bearer {token}"}
            )
            proxy.close()  # first: the client's goodbye to a stalled server would wait
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["type"].endswith("unavailable")
