"""Local services answer real requests on loopback; ManagedProcess stops only its own process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from pymongo import MongoClient
from starlette.testclient import TestClient

import services.devstack as devstack
from cli.platform import platform_env
from core import dev_secrets
from core.settings import Settings
from ingress.app import create_app
from services.devstack import DevstackError, ManagedProcess, ServiceStatus, mongo
from services.devstack import process as process_module
from services.devstack.kafka import PARLEY_TOPICS
from tests.services.devstack.listening import is_loopback, listening_addresses

ROOT = Path(__file__).resolve().parents[3]

PORTS = {
    "redis": (6379,),
    "postgres": (5433,),
    "mongo": (27017,),
    "kafka": (9092, 9093),
    "clamav": (3310,),
}
KAFKA = os.environ.get("PARLEY_KAFKA_BOOTSTRAP") or "127.0.0.1:9092"
MONGO = os.environ.get("PARLEY_MONGO_URL") or "mongodb://127.0.0.1:27017/?directConnection=true"


@pytest.fixture(scope="module")
def services() -> dict[str, ServiceStatus]:
    return {service.name: service for service in devstack.up()}


def test_every_service_is_up_or_external(services: dict[str, ServiceStatus]) -> None:
    assert list(services) == list(devstack.default_names())
    for service in devstack.status():
        assert service.state in ("up", "external"), service


def test_up_again_leaves_running_services_alone(services: dict[str, ServiceStatus]) -> None:
    again = {service.name: service.pid for service in devstack.up()}
    assert again == {name: service.pid for name, service in services.items()}


def test_an_unknown_service_name_is_refused() -> None:
    with pytest.raises(DevstackError, match="unknown service"):
        devstack.status(["mysql"])


def test_redis_stores_and_returns_a_value(services: dict[str, ServiceStatus]) -> None:
    key = f"parley:test:devstack:{uuid.uuid4()}"
    with redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5) as client:
        client.set(key, "hello", ex=60)
        assert client.get(key) == b"hello"
        client.delete(key)
        if services["redis"].state == "up":
            assert client.config_get("appendonly") == {"appendonly": "yes"}


def test_mongo_round_trips_a_document(services: dict[str, ServiceStatus]) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(MONGO, serverSelectionTimeoutMS=5000)
    try:
        collection = client["parley_test_devstack"][f"probe_{uuid.uuid4().hex}"]
        collection.insert_one({"_id": "m1", "text": "hello"})
        assert collection.find_one({"_id": "m1"}) == {"_id": "m1", "text": "hello"}
        collection.drop()
    finally:
        client.close()


def test_kafka_has_parley_topics_with_three_partitions(services: dict[str, ServiceStatus]) -> None:
    topics = AdminClient({"bootstrap.servers": KAFKA}).list_topics(timeout=10).topics
    for name in PARLEY_TOPICS:
        assert name in topics, name
        assert len(topics[name].partitions) == 3


def test_kafka_delivers_a_produced_message(services: dict[str, ServiceStatus]) -> None:
    topic = f"parley.test.devstack.{uuid.uuid4().hex}"
    admin = AdminClient({"bootstrap.servers": KAFKA})
    admin.create_topics([NewTopic(topic, 1, replication_factor=1)])[topic].result(timeout=30)
    try:
        producer = Producer({"bootstrap.servers": KAFKA})
        producer.produce(topic, key=b"k", value=b"hello")
        assert producer.flush(15) == 0
        consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": topic})
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        try:
            message = consumer.poll(15)
            assert message is not None and message.error() is None
            assert message.value() == b"hello"
        finally:
            consumer.close()
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)


def test_our_services_listen_on_loopback_only(services: dict[str, ServiceStatus]) -> None:
    ours = [service for service in services.values() if service.state == "up"]
    assert ours, "no service was started by devstack; nothing of ours to inspect"
    for service in ours:
        assert service.pid is not None
        addresses = listening_addresses(service.pid)
        assert {port for _, port in addresses} >= set(PORTS[service.name]), service
        for address, port in addresses:
            assert is_loopback(address), f"{service.name} listens on {address}:{port}"


def test_managed_process_stops_the_process_it_started(tmp_path: Path) -> None:
    worker = _sleeper(tmp_path)
    pid = worker.start()
    try:
        assert worker.start() == pid
        assert worker.pid() == pid
        assert json.loads(worker.pid_file.read_text())["pid"] == pid
        assert "started" in _wait_for_log(worker, "started")
    finally:
        assert worker.stop(timeout=10) == pid
    assert not _running(pid)
    assert not worker.pid_file.exists()
    assert worker.stop() is None
    assert worker.pid() is None


def test_managed_process_leaves_a_pid_it_did_not_start_alone(tmp_path: Path) -> None:
    worker = _sleeper(tmp_path)
    stranger = _sleeper(tmp_path / "stranger")
    own_record = worker.pid_file
    worker.start()
    stranger_pid = stranger.start()
    original = own_record.read_text()
    try:
        forged = json.loads(original) | {"pid": stranger_pid}
        own_record.write_text(json.dumps(forged))
        assert worker.pid() is None
        assert worker.stop(timeout=2) is None
        assert _running(stranger_pid)
        assert not own_record.exists()
    finally:
        own_record.write_text(original)
        worker.stop(timeout=10)
        stranger.stop(timeout=10)


def test_the_pid_file_is_written_only_once_exec_has_filled_in_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a moment after the launcher hears of a new pid, /proc shows an empty command line
    (the kernel fills it in late in exec). That moment is too short to hit on demand, so the
    first reads of the new process's command line are made to see it; a record written then
    was judged stale by the next ``pid()`` and removed while the process ran (a ledger run lost
    track of its restarted Redis that way)."""
    real_cmdline = process_module._cmdline
    reads: list[int] = []

    def exec_still_under_way(pid: int) -> tuple[str, ...] | None:
        reads.append(pid)
        return () if len(reads) <= 3 else real_cmdline(pid)

    monkeypatch.setattr(process_module, "_cmdline", exec_still_under_way)
    worker = _sleeper(tmp_path)
    pid = worker.start()
    try:
        assert len(reads) > 3, "start() returned before it saw the command line"
        assert worker.pid() == pid
        assert worker.pid_file.exists()
    finally:
        assert worker.stop(timeout=10) == pid


def test_a_stale_pid_file_is_removed(tmp_path: Path) -> None:
    worker = _sleeper(tmp_path)
    pid = worker.start()
    record = worker.pid_file.read_text()
    worker.stop(timeout=10)
    worker.pid_file.write_text(record)
    assert not _running(pid)
    assert worker.pid() is None
    assert not worker.pid_file.exists()


def _sleeper(home: Path) -> ManagedProcess:
    code = "import time; print('started', flush=True); time.sleep(60)"
    return ManagedProcess(name="sleeper", argv=(sys.executable, "-c", code), home=home)


def _wait_for_log(process: ManagedProcess, text: str) -> str:
    deadline = time.monotonic() + 5
    while text not in process.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    return process.log_tail()


def _running(pid: int) -> bool:
    """True unless the pid is gone or a zombie (exited, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_the_ferretdb_patch_replaces_its_one_line_and_refuses_other_sources(
    tmp_path: Path,
) -> None:
    relative, old, new = mongo._ID_LOOKUP_PATCH
    source = tmp_path / "src"
    (source / relative).parent.mkdir(parents=True)
    (source / relative).write_text(f"const (\n\t{old}\n)\n")

    mongo._patch(source, relative, old, new)

    assert (source / relative).read_text() == f"const (\n\t{new}\n)\n"
    with pytest.raises(DevstackError, match="expected"):
        mongo._patch(source, relative, old, new)  # already patched: the line is gone


def test_the_postgresql_id_patch_looks_ids_up_by_the_indexed_expression_with_equals(
    tmp_path: Path,
) -> None:
    relative, old, new = mongo._PG_ID_LOOKUP_PATCH
    source = tmp_path / "src"
    (source / relative).parent.mkdir(parents=True)
    (source / relative).write_text(f"\tcase string:\n{old}\n")

    mongo._patch(source, relative, old, new)

    patched = (source / relative).read_text()
    assert 'if k == "_id"' in patched and "metadata.IDColumn, p.Next()" in patched
    assert patched.endswith(old + "\n")  # every other field keeps FerretDB's own filter
    (source / relative).write_text(f"{old}{old}")
    with pytest.raises(DevstackError, match="expected"):
        mongo._patch(source, relative, old, new)  # not exactly once: checked by hand first


def test_a_ferretdb_binary_built_without_the_current_patch_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "ferretdb"
    binary.write_text("#!/bin/sh\necho 'version: v1.24.2'\n")
    binary.chmod(0o755)
    built: list[Path] = []
    monkeypatch.setattr(mongo, "build_ferretdb", built.append)

    mongo._prepare(binary, tmp_path / "data", tmp_path / "state")
    assert built == [binary]  # no marker: an unpatched build

    mongo._marker(binary).write_text(mongo.FERRETDB_BUILD + "\n")
    mongo._prepare(binary, tmp_path / "data", tmp_path / "state")
    assert built == [binary]  # current marker: left alone


# --- the state folder and a checkout's development secrets --------------------------------


def test_parley_token_in_another_shell_uses_the_secret_parley_run_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    # What `parley run` does before it starts anything: make the checkout's secrets.
    env = platform_env(Settings(home=home, jwt_secret=None, master_key=None))
    jwt_file, key_file = home / dev_secrets.JWT_SECRET, home / dev_secrets.MASTER_KEY
    assert env["PARLEY_JWT_SECRET"] == jwt_file.read_text().strip()
    assert env["PARLEY_MASTER_KEY"] == key_file.read_text().strip()
    for path in (jwt_file, key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    # A second shell: no secret in its environment, only the checkout.
    shell = {
        k: v for k, v in os.environ.items() if k not in ("PARLEY_JWT_SECRET", "PARLEY_MASTER_KEY")
    }
    shell["PARLEY_HOME"] = str(home)
    minted = subprocess.run(
        [sys.executable, "-m", "cli", "token", "--tenant", "demo"],
        env=shell,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert minted.returncode == 0, minted.stderr
    assert env["PARLEY_JWT_SECRET"] not in minted.stdout + minted.stderr
    token = minted.stdout.strip()

    # The platform started by `parley run` reads the same secret and accepts the token.
    monkeypatch.delenv("PARLEY_JWT_SECRET")
    monkeypatch.delenv("PARLEY_MASTER_KEY")
    monkeypatch.setenv("PARLEY_HOME", str(home))
    platform = Settings()
    assert platform.require_jwt_secret() == env["PARLEY_JWT_SECRET"].encode()
    assert platform.require_master_key() == env["PARLEY_MASTER_KEY"].encode()
    with TestClient(create_app(platform)) as client:
        answer = client.get(
            "/v1/messages/msg_nothing", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 404, answer.text  # authenticated: only the message is missing


def test_a_second_parley_run_keeps_the_first_ones_secrets(tmp_path: Path) -> None:
    unset = {"jwt_secret": None, "master_key": None, "flower_basic_auth": None}
    first = platform_env(Settings(home=tmp_path, **unset))
    again = platform_env(Settings(home=tmp_path, **unset))
    assert again["PARLEY_JWT_SECRET"] == first["PARLEY_JWT_SECRET"]
    assert again["PARLEY_MASTER_KEY"] == first["PARLEY_MASTER_KEY"]
    assert again["PARLEY_FLOWER_BASIC_AUTH"] == first["PARLEY_FLOWER_BASIC_AUTH"]
    user, _, password = first["PARLEY_FLOWER_BASIC_AUTH"].partition(":")
    assert user == "parley" and len(password) >= 20
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [dev_secrets.FLOWER_BASIC_AUTH, dev_secrets.JWT_SECRET, dev_secrets.MASTER_KEY]
    )


def test_the_state_folder_is_parley_home_else_the_checkouts_dot_parley(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARLEY_HOME", raising=False)
    assert Settings().home == ROOT / ".parley"
    monkeypatch.setenv("PARLEY_HOME", "")
    assert Settings().home == ROOT / ".parley"
    monkeypatch.setenv("PARLEY_HOME", str(tmp_path / "elsewhere"))
    assert Settings().home == tmp_path / "elsewhere"
