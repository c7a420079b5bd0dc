"""deploy/kubernetes: rendered offline, every object valid against Kubernetes' own schemas (the
``kubernetes-validate`` package ships them), every ScaledObject against KEDA's, and shaped as
Parley runs: a worker per queue, a consumer per handler, one beat, grace that outlasts a task.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator
from kustomize_render import Unsupported, containers, key, load_documents, render

import celeryconfig
from consumers.registry import HANDLERS
from core.settings import Settings
from tasks.queues import QUEUES, worker_concurrency

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAYS = {path.name: path for path in sorted((KUBERNETES / "overlays").iterdir())}
TREES = {"base": BASE, **OVERLAYS}
# The oldest Kubernetes minor the manifests promise to run on (docs/deploy.md).
KUBERNETES_VERSION = "1.29"
SCALEDOBJECT_SCHEMA = json.loads(
    (Path(__file__).parent / "keda_scaledobject.schema.json").read_text(encoding="utf-8")
)
SECRET = "parley-secrets"
REQUIRED_SECRETS = ("PARLEY_JWT_SECRET", "PARLEY_MASTER_KEY")
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|MASTER_KEY|PRIVATE", re.I)
DEFAULTS = Settings.model_fields

Resource = dict[str, Any]


@pytest.fixture(scope="module", params=sorted(TREES))
def tree(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    return request.param, render(TREES[request.param])


def _by_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _container(deployment: Resource) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = only
    return found


def _pod(deployment: Resource) -> dict[str, Any]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _default(name: str) -> Any:
    return DEFAULTS[name].default


def _scaledobject_errors(resource: Resource) -> list[str]:
    validator = Draft202012Validator(SCALEDOBJECT_SCHEMA)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(resource)
    ]


# --- schemas --------------------------------------------------------------------------------


def test_every_object_is_valid_against_the_kubernetes_schemas(
    tree: tuple[str, list[Resource]],
) -> None:
    name, resources = tree
    native = [r for r in resources if r["kind"] != "ScaledObject"]
    assert native
    for resource in native:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {key(resource)} at {path}: {exc.message}")


def test_the_secret_example_is_a_valid_secret() -> None:
    (secret,) = load_documents(KUBERNETES / "secret.example.yaml")
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_schemas_reject_a_broken_deployment() -> None:
    deployment = _by_kind(render(BASE), "Deployment")["parley-ingress"]
    _pod(deployment)["terminationGracePeriod"] = 30  # a misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_scaledobject_is_valid_against_the_keda_schema(
    tree: tuple[str, list[Resource]],
) -> None:
    name, resources = tree
    scaled = _by_kind(resources, "ScaledObject")
    assert scaled
    for so_name, resource in scaled.items():
        assert _scaledobject_errors(resource) == [], f"{name}: {so_name}"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda so: so["spec"].pop("scaleTargetRef"),
        lambda so: so["spec"].update(maxReplicaCount="10"),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(listLength=8),
        lambda so: so["spec"]["triggers"][0]["metadata"].pop("listName"),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(list_name="process"),
        lambda so: so["spec"].update(minReplicas=1),
    ],
)
def test_the_keda_schema_rejects_a_broken_scaledobject(breakage: Any) -> None:
    scaled = _by_kind(render(BASE), "ScaledObject")["parley-worker-process"]
    breakage(scaled)
    assert _scaledobject_errors(scaled)


# --- rendering --------------------------------------------------------------------------------


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(Unsupported):
        render(tmp_path)


def test_overlays_patch_what_they_name() -> None:
    production = render(OVERLAYS["production"])
    for resource in production:
        assert resource["metadata"]["namespace"] == "parley"
        for container in containers(resource):
            assert container["image"] == "registry.example.com/parley:0.1.0"
    ingress = _container(_by_kind(production, "Deployment")["parley-ingress"])
    assert ingress["resources"]["requests"] == {"cpu": "1", "memory": "512Mi"}
    assert ingress["livenessProbe"]["httpGet"]["path"] == "/health/live"  # merged, not replaced
    assert (
        _by_kind(production, "ScaledObject")["parley-worker-generate"]["spec"]["maxReplicaCount"]
        == 40
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl (kustomize) here")
@pytest.mark.parametrize("name", sorted(TREES))
def test_the_renderer_agrees_with_kustomize(name: str) -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(TREES[name])], capture_output=True, text=True, check=True
    ).stdout
    theirs = {key(r): r for r in yaml.safe_load_all(built) if r}
    ours = {key(r): r for r in render(TREES[name])}
    assert ours == theirs


# --- shape ------------------------------------------------------------------------------------


def test_every_queue_has_one_worker_deployment(tree: tuple[str, list[Resource]]) -> None:
    _, resources = tree
    workers = {
        name: d
        for name, d in _by_kind(resources, "Deployment").items()
        if _container(d)["command"][:2] == ["parley", "worker"]
    }
    assert {_container(d)["command"][2] for d in workers.values()} == set(QUEUES)
    for queue in QUEUES:
        deployment = workers[f"parley-worker-{queue}"]
        assert _container(deployment)["command"] == ["parley", "worker", queue]
        probe = " ".join(_container(deployment)["livenessProbe"]["exec"]["command"])
        assert "celery -A tasks.app inspect ping" in probe
        # the worker's hostname is <queue>@%h (cli/main.py); %h is the pod's HOSTNAME
        assert f"--destination {queue}@$HOSTNAME" in probe


def test_every_queue_scales_on_its_redis_list(tree: tuple[str, list[Resource]]) -> None:
    _, resources = tree
    scaled = _by_kind(resources, "ScaledObject")
    settings = _by_kind(resources, "ConfigMap")["parley-settings"]["data"]
    broker = urlsplit(settings["PARLEY_BROKER_URL"])
    assert settings["KEDA_REDIS_ADDRESS"] == f"{broker.hostname}:{broker.port}"
    deployments = _by_kind(resources, "Deployment")
    sized = Settings(worker_concurrency=settings.get("PARLEY_WORKER_CONCURRENCY", ""))
    assert len(scaled) == len(QUEUES)
    for queue in QUEUES:
        so = scaled[f"parley-worker-{queue}"]["spec"]
        assert so["scaleTargetRef"] == {"name": f"parley-worker-{queue}"}
        assert f"parley-worker-{queue}" in deployments
        assert "replicas" not in deployments[f"parley-worker-{queue}"]["spec"]  # KEDA's to set
        (trigger,) = so["triggers"]
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        assert metadata["listName"] == queue
        assert metadata["addressFromEnv"] == "KEDA_REDIS_ADDRESS"
        assert metadata["databaseIndex"] == broker.path.strip("/")
        # A replica per worker's worth of waiting tasks: the concurrency the pods will run.
        assert metadata["listLength"] == str(worker_concurrency(queue, sized))
        assert 1 <= so["minReplicaCount"] <= so["maxReplicaCount"]


def test_one_trigger_per_queue_suffices_because_parley_sends_no_priorities() -> None:
    # Kombu's Redis transport puts a message of priority p >= 3 on "<queue>\x06\x16<step>", and
    # one without priority on "<queue>" itself; KEDA's trigger reads the plain list only. Parley
    # sets no priority anywhere, so the sub-lists stay empty; a priority would need a trigger per
    # sub-list (docs/deploy.md), and this test fails first.
    assert getattr(celeryconfig, "task_default_priority", None) is None
    assert getattr(celeryconfig, "task_queue_max_priority", None) is None
    assert "priority_steps" not in celeryconfig.broker_transport_options
    sources = [*ROOT.glob("tasks/*.py"), *ROOT.glob("ingress/*.py"), *ROOT.glob("consumers/*.py")]
    for source in sources:
        assert not re.search(r"\bpriority\s*=", source.read_text(encoding="utf-8")), source


def test_every_handler_has_one_consumer_deployment(tree: tuple[str, list[Resource]]) -> None:
    _, resources = tree
    commands = [
        _container(d)["command"]
        for d in _by_kind(resources, "Deployment").values()
        if _container(d)["command"][:2] == ["parley", "consume"]
    ]
    assert sorted(c[2] for c in commands) == sorted(HANDLERS)
    assert all(len(c) == 3 for c in commands)


def test_beat_runs_exactly_once(tree: tuple[str, list[Resource]]) -> None:
    _, resources = tree
    beats = [
        d
        for d in _by_kind(resources, "Deployment").values()
        if _container(d)["command"] == ["parley", "beat"]
    ]
    (beat,) = beats
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    name = beat["metadata"]["name"]
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        targets = [r["spec"]["scaleTargetRef"]["name"] for r in _by_kind(resources, kind).values()]
        assert name not in targets


def test_the_ingress_is_probed_served_and_autoscaled(tree: tuple[str, list[Resource]]) -> None:
    _, resources = tree
    deployment = _by_kind(resources, "Deployment")["parley-ingress"]
    container = _container(deployment)
    assert container["command"][:2] == ["parley", "ingress"]
    port = int(container["command"][container["command"].index("--port") + 1])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    service = _by_kind(resources, "Service")["parley-ingress"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = _by_kind(resources, "HorizontalPodAutoscaler")["parley-ingress"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "parley-ingress",
    }
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]


def test_the_engine_is_served_where_the_workers_look_for_it(
    tree: tuple[str, list[Resource]],
) -> None:
    _, resources = tree
    deployment = _by_kind(resources, "Deployment")["parley-engine"]
    container = _container(deployment)
    assert container["command"][:2] == ["parley", "engine"]
    assert container["livenessProbe"]["grpc"] == {"port": _default("engine_port")}
    service = _by_kind(resources, "Service")["parley-engine"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    settings = _by_kind(resources, "ConfigMap")["parley-settings"]["data"]
    assert settings["PARLEY_ENGINE_ADDR"] == f"parley-engine:{service['spec']['ports'][0]['port']}"


def test_grace_outlasts_the_longest_task(tree: tuple[str, list[Resource]]) -> None:
    _, resources = tree
    deployments = _by_kind(resources, "Deployment")
    mongo = _default("mongo_timeout_seconds")
    longest = {
        # prefork: Celery's hard limit ends any task
        "process": celeryconfig.task_time_limit,
        "maintenance": celeryconfig.task_time_limit,
        # threads: each blocking call carries its bound (the stage's lease, tasks/*.py)
        "generate": _default("engine_timeout_seconds") + 10 + mongo,
        "deliver": 4 * _default("channel_send_timeout_seconds") + mongo,
        "audit": _default("kafka_publish_timeout_seconds") + mongo,
        "webhooks": _default("webhooks_timeout_seconds") + mongo,
    }
    assert set(longest) == set(QUEUES)
    for queue, seconds in longest.items():
        grace = _pod(deployments[f"parley-worker-{queue}"])["terminationGracePeriodSeconds"]
        assert grace > seconds, queue


def test_every_parley_container_is_configured_alike(tree: tuple[str, list[Resource]]) -> None:
    _, resources = tree
    deployments = _by_kind(resources, "Deployment")
    assert deployments
    envs = []
    for name, deployment in deployments.items():
        pod, container = _pod(deployment), _container(deployment)
        assert container["command"][0] == "parley", name
        assert not container["image"].endswith(":latest") and ":" in container["image"], name
        assert container["envFrom"] == [{"configMapRef": {"name": "parley-settings"}}], name
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
        }
        for secret in REQUIRED_SECRETS:
            assert refs[secret] == {"name": SECRET, "key": secret}, name
        for entry in container["env"]:
            assert "value" not in entry or not SECRET_WORDS.search(entry["name"]), name
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, name
        # Service links would set PARLEY_ENGINE_PORT=tcp://… for the Service parley-engine,
        # which Parley reads as its engine_port setting and refuses.
        assert pod["enableServiceLinks"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        envs.append(container["env"])
    assert all(env == envs[0] for env in envs)


def test_every_setting_in_the_configmap_is_one_parley_reads(
    tree: tuple[str, list[Resource]],
) -> None:
    _, resources = tree
    data = _by_kind(resources, "ConfigMap")["parley-settings"]["data"]
    for name, value in data.items():
        assert isinstance(value, str), name
        if name == "KEDA_REDIS_ADDRESS":
            continue
        assert name.startswith("PARLEY_") and name[7:].lower() in DEFAULTS, name
        assert not SECRET_WORDS.search(name.replace("ALLOW_PRIVATE", "")), name
    Settings.model_validate({k[7:].lower(): v for k, v in data.items() if k.startswith("PARLEY_")})


def test_disruption_budgets_cover_every_deployment_but_beat(
    tree: tuple[str, list[Resource]],
) -> None:
    _, resources = tree
    budgets = _by_kind(resources, "PodDisruptionBudget")
    for name, deployment in _by_kind(resources, "Deployment").items():
        if _container(deployment)["command"] == ["parley", "beat"]:
            assert name not in budgets
            continue
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"], name
        assert budgets[name]["spec"]["maxUnavailable"] == 1, name


def test_the_secret_example_holds_no_real_value_and_every_key_used() -> None:
    (secret,) = load_documents(KUBERNETES / "secret.example.yaml")
    assert secret["metadata"]["name"] == SECRET
    values = secret["stringData"]
    for name, value in values.items():
        assert value == "" or value.startswith("REPLACE"), name
    used = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for d in _by_kind(render(BASE), "Deployment").values()
        for e in _container(d)["env"]
        if "valueFrom" in e
    }
    assert used == set(values)
    # never rendered: the real Secret is made in the cluster, not from the repository
    for resources in (render(path) for path in TREES.values()):
        assert not _by_kind(resources, "Secret")
