"""docker-compose.yml: valid against the Compose Specification schema, and shaped as Parley needs.

The schema is the Compose Specification's own ``compose-spec.json`` as vendored by the
``check-jsonschema`` dev dependency; it is loaded from the installed package, never copied here.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import validator_for

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"

SCHEMA_PACKAGE = "check_jsonschema.builtin_schemas.vendor"
SCHEMA_NAME = "compose-spec.json"

QUEUES = ("process", "generate", "deliver", "audit", "webhooks", "maintenance")
# consumers/registry.py, one consumer service each
HANDLERS = ("audit_trail", "webhooks", "notifications", "analytics")
BACKING = {"mongo": "mongo:7", "redis": "redis:7"}
PARLEY_ENV = {
    "PARLEY_MONGO_URL": "mongodb://mongo:27017/",
    "PARLEY_REDIS_URL": "redis://redis:6379/0",
    "PARLEY_BROKER_URL": "redis://redis:6379/1",
    "PARLEY_ENGINE_ADDR": "engine:50051",
}
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|MASTER_KEY|PRIVATE", re.I)
# ``${VAR:?message}`` or ``${VAR?message}``: required from the environment, no default value.
REQUIRED_INTERPOLATION = re.compile(r"^\$\{(?P<var>[A-Z_][A-Z0-9_]*):?\?[^}]*\}$")
LOOPBACK_PORT = re.compile(r"^127\.0\.0\.1:\d+(-\d+)?:\d+(-\d+)?(/(tcp|udp))?$")


def _load_schema() -> dict[str, Any]:
    try:
        text = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_NAME).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        pytest.fail(
            f"the Compose Specification schema ({SCHEMA_NAME}) was not found in the installed "
            f"'check-jsonschema' package ({exc}); install the dev dependencies with "
            "`pip install -e '.[dev]'`",
            pytrace=False,
        )
    schema: dict[str, Any] = json.loads(text)
    return schema


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return _load_schema()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the anchors and ``<<`` merge keys the same way Compose does.
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator_cls = validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def _argv(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def _seconds(duration: str) -> float:
    """A Compose duration such as ``60s``, ``1m30s`` or ``500ms`` in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    assert isinstance(env, dict)
    return env


def _parley_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: svc for name, svc in services.items() if _argv(svc.get("command"))[:1] == ["parley"]
    }


def _dependencies(service: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        yield from ((name, None) for name in depends_on)
    else:
        yield from depends_on.items()


def _python_healthchecks(services: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for name, svc in services.items():
        test = _argv((svc.get("healthcheck") or {}).get("test"))
        if test[:3] == ["CMD", "python", "-c"]:
            yield name, test[3]


# --- the schema ----------------------------------------------------------------------------


def test_schema_is_the_compose_specification(schema: dict[str, Any]) -> None:
    assert schema.get("title") == "Compose Specification"
    assert "services" in schema["properties"]


def test_compose_file_is_valid_against_the_compose_specification(
    schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    errors = _schema_errors(schema, compose)
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(errors)


@pytest.mark.parametrize(
    "bad_service",
    [
        {"image": "redis:7", "no_such_key": True},
        {"image": "redis:7", "depends_on": {"mongo": {"condition": "service_ready"}}},
        {"image": "redis:7", "healthcheck": {"test": ["CMD", "true"], "interval": 10}},
        {"build": {"context": ".", "dockerfile_inline": ["FROM scratch"]}},
    ],
)
def test_schema_rejects_malformed_services(
    schema: dict[str, Any], bad_service: dict[str, Any]
) -> None:
    # The validation above is only worth something if the schema really bites.
    assert _schema_errors(schema, {"services": {"broken": bad_service}})


# --- backing services ----------------------------------------------------------------------


def test_backing_services_use_the_real_images(services: dict[str, dict[str, Any]]) -> None:
    for name, image in BACKING.items():
        assert services[name]["image"] == image
    assert services["kafka"]["image"].startswith("apache/kafka:")


def test_redis_keeps_an_append_only_file(services: dict[str, dict[str, Any]]) -> None:
    argv = _argv(services["redis"].get("command"))
    assert "--appendonly" in argv
    assert argv[argv.index("--appendonly") + 1] == "yes"


def test_backing_services_have_the_expected_healthchecks(
    services: dict[str, dict[str, Any]],
) -> None:
    mongo = _argv(services["mongo"]["healthcheck"]["test"])
    assert mongo[:2] == ["CMD", "mongosh"] and "db.adminCommand('ping')" in mongo
    assert _argv(services["redis"]["healthcheck"]["test"]) == ["CMD", "redis-cli", "ping"]
    kafka = _argv(services["kafka"]["healthcheck"]["test"])
    assert kafka[1] == "/opt/kafka/bin/kafka-broker-api-versions.sh"
    assert kafka[kafka.index("--bootstrap-server") + 1] == "localhost:9092"


def test_kafka_runs_kraft_single_node_combined(services: dict[str, dict[str, Any]]) -> None:
    env = _environment(services["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    node_id = env["KAFKA_NODE_ID"]
    controller_names = env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node_id}@")

    listeners = dict(item.split("://", 1)[0:2] for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(
        item.split("://", 1)[0:2] for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    protocols = dict(
        item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) == set(protocols), "every listener needs a security protocol"
    assert set(controller_names) <= set(listeners)
    assert not set(controller_names) & set(advertised), "controllers are not advertised"
    # The healthcheck talks to localhost:9092 inside the container.
    assert "localhost:9092" in advertised.values()

    # Parley's containers reach the broker on an advertised listener that names the service.
    bootstrap = _environment(services["engine"])["PARLEY_KAFKA_BOOTSTRAP"]
    assert bootstrap in advertised.values()
    assert bootstrap.split(":")[0] == "kafka"

    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert int(env[key]) == 1, key


def test_data_lives_on_named_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    kafka_dirs = _environment(services["kafka"])["KAFKA_LOG_DIRS"]
    expected = {"mongo": "/data/db", "redis": "/data", "kafka": kafka_dirs}
    for name, target in expected.items():
        mounts = {}
        for volume in services[name].get("volumes", []):
            source, _, rest = volume.partition(":")
            mounts[rest.split(":")[0]] = source
        assert target in mounts, f"{name} keeps {target} on no volume"
        assert mounts[target] in declared, f"{name}: {mounts[target]} is not a named volume"


# --- Parley's own services -----------------------------------------------------------------


def test_every_queue_has_exactly_one_worker(services: dict[str, dict[str, Any]]) -> None:
    workers: dict[str, list[str]] = {}
    for name, svc in services.items():
        argv = _argv(svc.get("command"))
        if argv[:2] == ["parley", "worker"]:
            assert len(argv) >= 3, f"{name}: worker without a queue"
            workers.setdefault(argv[2], []).append(name)
    assert set(workers) == set(QUEUES)
    for queue, names in workers.items():
        assert len(names) == 1, f"queue {queue} has workers {names}"
        assert names[0] == f"worker-{queue.replace('_', '-')}"


def test_workers_shut_down_warm(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if _argv(svc.get("command"))[:2] != ["parley", "worker"]:
            continue
        assert svc.get("init") is True, name
        assert svc.get("stop_signal", "SIGTERM") == "SIGTERM", name
        assert _seconds(svc.get("stop_grace_period", "10s")) >= 30, name


def test_parley_processes_and_their_commands(services: dict[str, dict[str, Any]]) -> None:
    parley = _parley_services(services)
    expected = {
        "engine": ["parley", "engine", "--host", "0.0.0.0"],
        # Inside its container the ingress listens on every interface; the port is published
        # on 127.0.0.1 only (see test_published_ports_are_bound_to_loopback).
        "ingress": ["parley", "ingress", "--host", "0.0.0.0", "--port", "8000"],
        "beat": ["parley", "beat"],
        "flower": ["parley", "flower", "--address", "0.0.0.0", "--port", "5555"],
    }
    for name, argv in expected.items():
        assert _argv(parley[name]["command"]) == argv
    assert len(parley) == len(expected) + len(QUEUES) + len(HANDLERS)


def test_every_event_handler_has_exactly_one_consumer(services: dict[str, dict[str, Any]]) -> None:
    consumers: dict[str, list[str]] = {}
    for name, svc in services.items():
        argv = _argv(svc.get("command"))
        if argv[:2] == ["parley", "consume"]:
            consumers.setdefault(argv[2], []).append(name)
            assert svc.get("stop_signal", "SIGTERM") == "SIGTERM", name
    assert set(consumers) == set(HANDLERS)
    for handler, names in consumers.items():
        assert names == [f"consume-{handler.replace('_', '-')}"], names


def test_parley_services_share_one_image_and_settings(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    shared = compose["x-parley"]
    for name, svc in _parley_services(services).items():
        assert svc["build"] == shared["build"], name
        assert svc["image"] == shared["image"], name
        env = _environment(svc)
        # Flower alone has a login, required like the secrets (no default in the file).
        own = {"PARLEY_FLOWER_BASIC_AUTH"} if name == "flower" else set()
        assert set(env) == set(_environment(shared)) | own, name
        assert {k: v for k, v in env.items() if k not in own} == _environment(shared), name
        for login in own:
            match = REQUIRED_INTERPOLATION.match(str(env[login]))
            assert match and match.group("var") == login, name
        for key, value in PARLEY_ENV.items():
            assert env[key] == value, f"{name}: {key}"
        for secret in ("PARLEY_JWT_SECRET", "PARLEY_MASTER_KEY"):
            match = REQUIRED_INTERPOLATION.match(str(env[secret]))
            assert match and match.group("var") == secret, name


def _dockerfile_lines(compose: dict[str, Any]) -> list[str]:
    """The image's Dockerfile, as compose builds it: ``build: .`` is the repository's own."""
    build = compose["x-parley"]["build"]
    context = build if isinstance(build, str) else build["context"]
    assert context == "."
    name = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    text = (ROOT / name).read_text(encoding="utf-8")
    # Continuation lines joined, comments and blank lines dropped.
    text = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_image_is_built_from_this_distribution(compose: dict[str, Any]) -> None:
    lines = _dockerfile_lines(compose)
    assert all(
        re.match(r"FROM python:3\.11[.\d]*-slim", line)
        for line in lines
        if line.startswith("FROM ")
    )
    assert any(re.match(r"RUN pip install (--\S+ )*\.( |$)", line) for line in lines)

    copied: set[str] = set()
    for line in lines:
        if line.startswith("COPY "):
            copied.update(a.rstrip("/") for a in line.split()[1:-1] if not a.startswith("--"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    modules = {f"{m}.py" for m in pyproject["tool"]["setuptools"].get("py-modules", [])}
    needed = packages | modules | {"pyproject.toml", pyproject["project"]["readme"]}
    assert needed <= copied, f"the image misses {sorted(needed - copied)}"


def test_parley_processes_keep_their_state_where_the_image_user_may_write(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    lines = _dockerfile_lines(compose)
    useradd = shlex.split(next(line for line in lines if line.startswith("RUN useradd ")))
    user, uid, home = (
        useradd[-1],
        useradd[useradd.index("--uid") + 1],
        useradd[useradd.index("--home-dir") + 1],
    )
    assert "--create-home" in useradd
    assert [line for line in lines if line.startswith("USER ")][-1] in {
        f"USER {user}",
        f"USER {uid}",
    }
    for name, svc in _parley_services(services).items():
        # Installed, Parley's default state folder is not in a checkout: it must be named.
        state = _environment(svc).get("PARLEY_HOME")
        assert state == home or str(state).startswith(home + "/"), name


def test_parley_servers_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    engine = _argv(services["engine"]["healthcheck"]["test"])
    assert "grpc_health.v1" in engine[-1] and "SERVING" in engine[-1]
    ingress = _argv(services["ingress"]["healthcheck"]["test"])
    assert "urllib" in ingress[-1] and "127.0.0.1:8000/health/ready" in ingress[-1]


def test_python_healthchecks_compile(services: dict[str, dict[str, Any]]) -> None:
    snippets = dict(_python_healthchecks(services))
    assert {"engine", "ingress"} <= set(snippets)
    for name, code in snippets.items():
        compile(code, f"<healthcheck of {name}>", "exec")


# --- wiring, exposure, secrets -------------------------------------------------------------


def test_dependencies_wait_for_health(services: dict[str, dict[str, Any]]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services.items():
        for target, spec in _dependencies(svc):
            assert target in services, f"{name} depends on unknown service {target}"
            assert isinstance(spec, dict), f"{name} -> {target}: use the long form with a condition"
            assert spec.get("condition") in conditions, f"{name} -> {target}"
            if "healthcheck" in services[target]:
                assert spec["condition"] == "service_healthy", f"{name} -> {target}"


def test_services_depend_on_what_they_use(services: dict[str, dict[str, Any]]) -> None:
    def needs(name: str) -> set[str]:
        return {target for target, _ in _dependencies(services[name])}

    assert {"mongo", "redis"} <= needs("ingress")
    for queue in QUEUES:
        assert {"mongo", "redis"} <= needs(f"worker-{queue.replace('_', '-')}"), queue
    assert "engine" in needs("worker-generate")
    assert "kafka" in needs("worker-audit")
    assert "redis" in needs("beat") and "redis" in needs("flower")


def test_published_ports_are_bound_to_loopback(services: dict[str, dict[str, Any]]) -> None:
    published = {}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert LOOPBACK_PORT.match(str(port)), f"{name}: {port!r} is not bound to 127.0.0.1"
            published[name] = port
    assert {"ingress", "flower", "engine"} <= set(published)
    assert "127.0.0.1:8000:8000" in services["ingress"]["ports"]
    assert "127.0.0.1:5555:5555" in services["flower"]["ports"]


def test_no_literal_secret(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for key, value in _environment(svc).items():
            if SECRET_WORDS.search(key):
                assert REQUIRED_INTERPOLATION.match(str(value)), (
                    f"{name}: {key} must come from the environment as ${{VAR:?message}}, "
                    "without a default"
                )
    # No default value for a secret hidden anywhere in the text either (``${X_SECRET:-...}``).
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    defaults = re.findall(r"\$\{([A-Z0-9_]+):?-[^}]*\}", text)
    assert not [var for var in defaults if SECRET_WORDS.search(var)]


def test_schema_validation_catches_a_broken_copy(
    schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["ingress"]["ports"] = "127.0.0.1:8000:8000"
    assert _schema_errors(schema, broken)
