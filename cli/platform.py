"""``parley run``: the whole platform on this machine, in the foreground, until Ctrl-C.

Starts the local services, seeds the demo tenant, then the engine, the ingress, one Celery
worker per queue, one event consumer per handler (consumers/registry.py), beat and Flower as
child processes (``services/devstack/supervisor.py`` restarts a crashed one with backoff), and
echoes their logs behind their names unless ``--quiet``. Ctrl-C (or SIGTERM) stops the
children, then the services, so nothing of ours is left running. The ingress's processes and
each queue's worker concurrency come from the environment the children inherit
(``PARLEY_INGRESS_WORKERS``, ``PARLEY_WORKER_CONCURRENCY``: docs/operations.md).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from core import dev_secrets
from core.crypto import new_master_key
from core.errors import ParleyError
from core.settings import Settings, get_settings
from services import devstack
from services.devstack.log_tail import LogTail, wants_colour
from services.devstack.supervisor import Supervisor

DEMO_TENANT = "demo"
DEMO_WIDGET = "wgt_demo"
READY_TIMEOUT = 90.0


def platform_env(settings: Settings) -> dict[str, str]:
    """The children's environment: ours, the state folder, and the secrets every shell shares.

    Secrets not set in the environment are the checkout's development ones, made on the first
    run and kept in the state folder (mode 0600), where ``parley token`` in any shell reads them.
    """
    env = dict(os.environ)
    env["PARLEY_HOME"] = str(settings.home)
    made = {
        "PARLEY_JWT_SECRET": (
            settings.jwt_secret,
            dev_secrets.JWT_SECRET,
            lambda: secrets.token_urlsafe(32),
        ),
        "PARLEY_MASTER_KEY": (settings.master_key, dev_secrets.MASTER_KEY, new_master_key),
        "PARLEY_FLOWER_BASIC_AUTH": (
            settings.flower_basic_auth,
            dev_secrets.FLOWER_BASIC_AUTH,
            lambda: f"parley:{secrets.token_urlsafe(18)}",
        ),
    }
    for variable, (value, name, make) in made.items():
        env[variable] = (
            value.get_secret_value() if value else dev_secrets.ensure(settings.home, name, make)
        )
    return env


def demo_origins(port: int) -> list[str]:
    """Where the demo page is opened from: the ingress itself, by address or by name."""
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


def seed_demo(port: int) -> None:
    """The demo tenant and its widget, created once; the widget allows the ingress's ``port``."""
    from core.crypto import SecretBox
    from storage.mongo import connect, database, ensure_indexes
    from storage.tenants import TenantRepository
    from storage.widgets import WidgetRepository

    settings = get_settings()
    client = connect(settings)
    try:
        db = database(client, settings)
        ensure_indexes(db)
        TenantRepository(db).ensure(DEMO_TENANT, "Demo tenant")
        WidgetRepository(db, SecretBox(settings.require_master_key())).ensure(
            DEMO_WIDGET,
            DEMO_TENANT,
            allowed_origins=demo_origins(port),
            title="Parley demo café",
            greeting="Hi! I'm the demo café's bot. Ask me about opening hours or prices.",
        )
    finally:
        client.close()


def _seed(env: dict[str, str], port: int) -> None:
    # In a child, with the environment the platform's processes get (state folder, secrets).
    code = f"from cli.platform import seed_demo; seed_demo({port})"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


# ``parley run``'s workers serve their metrics on consecutive ports from this one (docs/metrics.md).
WORKER_METRICS_BASE_PORT = 9101


def worker_metrics_ports() -> dict[str, int]:
    from tasks.queues import QUEUES

    return {queue: WORKER_METRICS_BASE_PORT + n for n, queue in enumerate(QUEUES)}


def _worker_metrics_urls() -> str:
    ports = worker_metrics_ports().values()
    return f"http://127.0.0.1:{min(ports)}/metrics … :{max(ports)} (one per queue)"


def _commands(port: int) -> dict[str, list[str]]:
    from consumers.registry import HANDLERS

    parley = [sys.executable, "-m", "cli"]
    commands = {
        "engine": [*parley, "engine"],
        "ingress": [*parley, "ingress", "--port", str(port)],
        "beat": [*parley, "beat"],
        "flower": [*parley, "flower", "--port", "5555"],
    }
    for queue, metrics_port in worker_metrics_ports().items():
        commands[f"worker-{queue}"] = [
            *parley,
            "worker",
            "--metrics-port",
            str(metrics_port),
            queue,
        ]
    for handler in HANDLERS:
        commands[f"consume-{handler}"] = [*parley, "consume", handler]
    return commands


def _wait_ready(url: str, supervisor: Supervisor, stopping: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = ""
    while time.monotonic() < deadline and not stopping():
        supervisor.check_started()
        try:
            response = httpx.get(url, timeout=3)
            # Locally every part is ours: wait for all of them, not only what accepting needs.
            if response.status_code == 200 and response.json().get("status") == "ready":
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    if not stopping():
        raise ParleyError(f"the platform did not become ready: {last}")


def run_platform(port: int, quiet: bool = False) -> int:
    settings = get_settings()
    env = platform_env(settings)
    env.setdefault("PARLEY_DEMO_WIDGET_ID", DEMO_WIDGET)
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print("starting local services (a first start builds and downloads; later ones take seconds)")
    for status in devstack.up():
        print(f"  {status.name:<8} {status.state:<9} {status.detail}")
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    tail = None if quiet else LogTail(sys.stdout, colour=wants_colour(sys.stdout))
    supervisor = Supervisor(
        _commands(port), env, Path(__file__).resolve().parents[1], logs, tail=tail
    )
    try:
        _seed(env, port)
        supervisor.start()
        _wait_ready(f"http://127.0.0.1:{port}/health/ready", supervisor, lambda: stopping)
        if not stopping:
            _print_welcome(settings, env, port, logs)
        while not stopping:
            supervisor.check()
            time.sleep(0.25)
        return 0
    finally:
        print("\nstopping Parley…", flush=True)
        supervisor.stop()
        devstack.down()
        print("stopped.")


def _print_welcome(settings: Settings, env: dict[str, str], port: int, logs: Path) -> None:
    from core.tokens import mint_token

    token = mint_token(
        env["PARLEY_JWT_SECRET"].encode(),
        DEMO_TENANT,
        "demo-user",
        24 * 3600,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    base = f"http://127.0.0.1:{port}"
    print(
        f"""
Parley is running.
  ingress   {base}  (ready: {base}/health/ready)
  flower    http://127.0.0.1:5555  (login {env["PARLEY_FLOWER_BASIC_AUTH"]})
  metrics   {base}/metrics; workers {_worker_metrics_urls()}
  engine    grpc {settings.engine_addr}
  logs      {logs}

Demo tenant "{DEMO_TENANT}", bearer token (24 h; `parley token --tenant demo` mints one in any
shell of this checkout):
  {token}

Try it in a browser (the demo tenant's chat widget):
  {base}/demo

or with curl:
  curl -s -X POST {base}/v1/messages \\
    -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\
    -d '{{"user_id": "alice", "text": "hello"}}'
  curl -s {base}/v1/conversations/<conversation_id>/messages -H "Authorization: Bearer {token}"

Each process's log follows, behind its name (`parley run --quiet` leaves them to the files).
Ctrl-C stops everything.
""",
        flush=True,
    )
