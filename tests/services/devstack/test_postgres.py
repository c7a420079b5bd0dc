"""The PostgreSQL service FerretDB's ``postgresql`` handler runs on: a cluster of its own, on
loopback only, run by a non-root account, stopped and started again with its data, and a
FerretDB on it that answers.

The tests make a cluster apart (a folder under the state folder, a free port), so they neither
need the shared one nor disturb a FerretDB that runs on it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

import services.devstack as devstack
from services.devstack import mongo, paths, postgres
from services.devstack.process import ManagedProcess
from services.devstack.service import Service, bring_down, bring_up
from tests.services.devstack.listening import is_loopback, listening_addresses
from tests.testenv import free_port


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    # Not pytest's tmp_path: its folders are private to us, and when we are root the cluster
    # runs as the `postgres` account, which must reach its data.
    folder = Path(tempfile.mkdtemp(prefix="test-postgres-", dir=paths.ensure_dir(paths.home())))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(home: Path) -> Iterator[Service]:
    service = postgres.service(home=home, port=free_port())
    try:
        yield service
    finally:
        bring_down(service)


@pytest.fixture(scope="module")
def started(cluster: Service) -> int:
    status = bring_up(cluster)
    assert status.state == "up", status
    assert status.pid is not None
    return status.pid


def _port(service: Service) -> int:
    return int(service.address.rpartition(":")[2])


def _binaries(home: Path) -> Path:
    return postgres.bin_dir(home / "data" / "postgres")


def test_the_cluster_listens_on_its_port_on_loopback_only(cluster: Service, started: int) -> None:
    addresses = listening_addresses(started)
    assert {port for _, port in addresses} == {_port(cluster)}
    for address, port in addresses:
        assert is_loopback(address), f"postgres listens on {address}:{port}"


def test_the_cluster_has_no_unix_socket_and_lets_in_127_0_0_1_alone(
    home: Path, started: int
) -> None:
    data = home / "data" / "postgres"
    assert not list(data.glob(".s.PGSQL.*"))
    rules = [
        line.split() for line in (data / "pg_hba.conf").read_text().splitlines() if line[:1] != "#"
    ]
    assert rules == [["host", "all", "all", "127.0.0.1/32", "trust"]]


def test_the_server_does_not_run_as_root(started: int) -> None:
    uids = next(
        line.split()[1:]
        for line in Path(f"/proc/{started}/status").read_text().splitlines()
        if line.startswith("Uid:")
    )
    assert "0" not in uids


def test_ferretdbs_database_is_there_once_it_answers(
    cluster: Service, home: Path, started: int
) -> None:
    rows = postgres.psql(_binaries(home), _port(cluster), "SELECT datname FROM pg_database")
    assert postgres.DATABASE in rows.splitlines()


def test_ferretdb_on_the_postgresql_handler_answers_a_ping_and_round_trips_a_document(
    cluster: Service, home: Path, started: int
) -> None:
    binary = paths.bin_dir() / "ferretdb"
    state = home / "ferretdb-state"
    mongo._prepare(binary, home / "unused", state)  # builds FerretDB only if it is missing
    port = free_port()
    ferretdb = ManagedProcess(
        name="ferretdb",
        argv=mongo.ferretdb_argv(
            binary,
            "postgresql",
            data=home / "unused",
            state=state,
            port=port,
            postgresql_url=postgres.url(_port(cluster)),
        ),
        cwd=state,
        home=home,
    )
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    ferretdb.start()
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=30_000)
    try:
        assert client.admin.command("ping")["ok"] == 1.0
        collection = client["parley_test_devstack"][f"probe_{uuid.uuid4().hex}"]
        collection.insert_one({"_id": "m1", "text": "hello"})
        assert collection.find_one({"_id": "m1"}) == {"_id": "m1", "text": "hello"}
        tables = postgres.psql(
            _binaries(home),
            _port(cluster),
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'parley_test_devstack'",
            database=postgres.DATABASE,
        )
        assert int(tables) >= 1  # the document is in PostgreSQL, not somewhere else
        client.drop_database("parley_test_devstack")
    finally:
        client.close()
        ferretdb.stop()


def test_postgres_is_a_default_service_only_on_the_postgresql_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PARLEY_MONGO_URL", raising=False)
    monkeypatch.setattr(mongo, "handler", lambda: "sqlite")
    assert "postgres" not in devstack.default_names()
    monkeypatch.setattr(mongo, "handler", lambda: "postgresql")
    assert devstack.default_names() == ("redis", "postgres", "mongo", "kafka", "clamav")
    # A MongoDB of one's own needs no PostgreSQL, whatever the handler says.
    monkeypatch.setenv("PARLEY_MONGO_URL", "mongodb://127.0.0.1:27017/")
    assert "postgres" not in devstack.default_names()


def test_ferretdbs_command_line_names_the_chosen_backend_alone(tmp_path: Path) -> None:
    on_sqlite = mongo.ferretdb_argv(
        tmp_path / "ferretdb", "sqlite", data=tmp_path / "d", state=tmp_path, port=27017
    )
    on_postgresql = mongo.ferretdb_argv(
        tmp_path / "ferretdb", "postgresql", data=tmp_path / "d", state=tmp_path, port=27017
    )
    assert "--handler=sqlite" in on_sqlite and f"--sqlite-url=file:{tmp_path / 'd'}/" in on_sqlite
    assert not any(arg.startswith("--postgresql-url") for arg in on_sqlite)
    assert "--handler=postgresql" in on_postgresql
    assert f"--postgresql-url={postgres.url()}" in on_postgresql
    assert not any(arg.startswith("--sqlite-url") for arg in on_postgresql)


def test_stopped_and_started_again_it_keeps_its_data(
    cluster: Service, home: Path, started: int
) -> None:
    binaries, port = _binaries(home), _port(cluster)
    postgres.psql(binaries, port, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")

    assert bring_down(cluster).state == "down"
    assert not cluster.answers()
    assert bring_up(cluster).state == "up"

    assert postgres.psql(binaries, port, "SELECT n FROM kept") == "7"
    postgres.psql(binaries, port, "DROP TABLE kept")
