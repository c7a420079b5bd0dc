"""Apache Kafka 4.1 in KRaft mode (one broker+controller) on 127.0.0.1:9092, and Parley's topics.

The jars come from Maven Central through ``kafka/pom.xml``; ``kafka/log4j2.properties``
sends the broker's log to ``<home>/logs/kafka.log``. ``PARLEY_KAFKA_BOOTSTRAP`` pointing
anywhere else makes Kafka external: nothing is fetched or started, only the topics are made.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # implicit re-export

from core.event_types import EVENT_TYPES
from services.devstack import paths
from services.devstack.errors import DevstackError
from services.devstack.process import ManagedProcess
from services.devstack.service import Service, tcp_open

# One topic per event type Parley publishes (core/event_types.py), so none is made on first use
# with the broker's defaults.
PARLEY_TOPICS: tuple[str, ...] = EVENT_TYPES
TOPIC_PARTITIONS = 3

HOST = "127.0.0.1"
PORT = 9092
CONTROLLER_PORT = 9093
LOCAL_BOOTSTRAP = f"{HOST}:{PORT}"

RESOURCES = paths.PACKAGE_DIR / "kafka"
POM = RESOURCES / "pom.xml"
LOG4J_CONFIG = RESOURCES / "log4j2.properties"

_TOPICS_TIMEOUT_SECONDS = 30.0

logger = logging.getLogger(__name__)
_client_logger = logging.getLogger(f"{__name__}.client")


def service() -> Service:
    """Our single-node Kafka, or the cluster ``PARLEY_KAFKA_BOOTSTRAP`` names."""
    bootstrap = os.environ.get("PARLEY_KAFKA_BOOTSTRAP", "").strip() or LOCAL_BOOTSTRAP
    if bootstrap != LOCAL_BOOTSTRAP:
        return Service(
            name="kafka",
            address=bootstrap,
            answers=lambda: _lists_topics(bootstrap, timeout=5.0),
            after_ready=lambda: ensure_topics(bootstrap),
        )
    home = paths.home() / "kafka"
    libs = home / "libs"
    config = home / "server.properties"
    data = paths.data_dir("kafka")
    java = shutil.which("java") or "/usr/bin/java"
    process = ManagedProcess(
        name="kafka",
        argv=(
            java,
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(config),
        ),
        cwd=home,
    )
    return Service(
        name="kafka",
        address=LOCAL_BOOTSTRAP,
        answers=lambda: tcp_open(HOST, PORT) and _lists_topics(LOCAL_BOOTSTRAP, timeout=3.0),
        process=process,
        prepare=lambda: _prepare(java, libs, config, data),
        after_ready=lambda: ensure_topics(LOCAL_BOOTSTRAP),
        ready_timeout=90.0,
    )


def server_properties(data: Path) -> str:
    """The broker's configuration: KRaft broker+controller, loopback only, replication 1."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{CONTROLLER_PORT}",
        "listeners": f"PLAINTEXT://{HOST}:{PORT},CONTROLLER://{HOST}:{CONTROLLER_PORT}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{PORT}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": str(TOPIC_PARTITIONS),
        "auto.create.topics.enable": "true",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def ensure_topics(bootstrap: str) -> None:
    """Create whichever of PARLEY_TOPICS are missing; existing topics are left as they are."""
    admin = _admin(bootstrap)
    deadline = time.monotonic() + _TOPICS_TIMEOUT_SECONDS
    while True:
        existing = set(admin.list_topics(timeout=10).topics)
        missing = [topic for topic in PARLEY_TOPICS if topic not in existing]
        if not missing:
            return
        new = [NewTopic(name, TOPIC_PARTITIONS, replication_factor=1) for name in missing]
        failures = []
        for topic, future in admin.create_topics(new, request_timeout=15).items():
            try:
                future.result()
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    failures.append((topic, error))
        if not failures:
            return
        # A broker that has just started may still refuse with a retriable error.
        if time.monotonic() >= deadline or not all(error.retriable() for _, error in failures):
            detail = "; ".join(f"{topic}: {error.str()}" for topic, error in failures)
            raise DevstackError(f"could not create Kafka topics on {bootstrap}: {detail}")
        time.sleep(1.0)


def _admin(bootstrap: str) -> AdminClient:
    # librdkafka logs connection errors to stderr unless given a logger.
    return AdminClient({"bootstrap.servers": bootstrap}, logger=_client_logger)


def _lists_topics(bootstrap: str, *, timeout: float) -> bool:
    try:
        _admin(bootstrap).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def _prepare(java: str, libs: Path, config: Path, data: Path) -> None:
    log_file = paths.ensure_dir(paths.logs_dir()) / "kafka-setup.log"
    paths.ensure_dir(data)
    _fetch_libs(libs, log_file)
    config.write_text(server_properties(data))
    if not (data / "meta.properties").exists():
        _format_storage(java, libs, config, log_file)


def _fetch_libs(libs: Path, log_file: Path) -> None:
    """Copy the pom's runtime jars into ``libs`` unless a marker says this pom's jars are there."""
    marker = libs / ".complete"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text().strip() == digest:
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevstackError("fetching the Kafka jars needs Maven (`mvn`) on PATH")
    logger.info("fetching the Kafka jars with Maven into %s (log: %s)", libs, log_file)
    shutil.rmtree(libs, ignore_errors=True)
    # Maven runs on a copy of the pom so it never writes next to Parley's sources.
    pom = paths.ensure_dir(libs.parent) / "pom.xml"
    shutil.copyfile(POM, pom)
    _run_logged(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        log_file,
        what="fetching the Kafka jars",
    )
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise DevstackError(f"Maven finished but {libs} holds no Kafka jar; see {log_file}")
    marker.write_text(digest + "\n")


def _format_storage(java: str, libs: Path, config: Path, log_file: Path) -> None:
    """Give a new data folder its cluster id (``meta.properties``); run once per data folder."""
    tool = [
        java,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{libs}/*",
        "kafka.tools.StorageTool",
    ]
    cluster_id = _run_logged([*tool, "random-uuid"], log_file, what="kafka random-uuid").split()[-1]
    _run_logged(
        [*tool, "format", "-t", cluster_id, "-c", str(config)],
        log_file,
        what="formatting Kafka's storage",
    )


def _run_logged(argv: list[str], log_file: Path, *, what: str) -> str:
    """Run a set-up step; append its output to the log; return its stdout or raise with the tail."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    with log_file.open("a") as log:
        log.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise DevstackError(f"{what} failed (exit {done.returncode}); see {log_file}:\n{tail}")
    return done.stdout
