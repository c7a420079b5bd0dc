"""``parley run``: the whole platform on this machine, in the foreground, until Ctrl-C.

Starts the local services, seeds the demo tenant, then the engine, the ingress, one Celery
worker per queue, beat and Flower as child processes. Ctrl-C (or SIGTERM) stops the children,
then the services, so nothing of ours is left running.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core import dev_secrets, devstack
from core.crypto import new_master_key
from core.errors import ParleyError
from core.settings import Settings, get_settings

DEMO_TENANT = "demo"
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
    }
    for variable, (value, name, make) in made.items():
        env[variable] = (
            value.get_secret_value() if value else dev_secrets.ensure(settings.home, name, make)
        )
    return env


def _seed(env: dict[str, str]) -> None:
    code = (
        "from core.settings import get_settings;"
        "from storage.mongo import connect, database, ensure_indexes;"
        "from storage.tenants import TenantRepository;"
        "s = get_settings(); db = database(connect(s), s); ensure_indexes(db);"
        f"TenantRepository(db).ensure({DEMO_TENANT!r}, 'Demo tenant')"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def _commands(port: int) -> dict[str, list[str]]:
    from tasks.queues import QUEUES

    parley = [sys.executable, "-m", "core.cli"]
    commands = {
        "engine": [*parley, "engine"],
        "ingress": [*parley, "ingress", "--port", str(port)],
        "beat": [*parley, "beat"],
        "flower": [*parley, "flower", "--port", "5555"],
    }
    for queue in QUEUES:
        commands[f"worker-{queue}"] = [*parley, "worker", queue]
    return commands


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        return subprocess.Popen(
            command,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )


def _wait_ready(url: str, children: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                raise ParleyError(f"{name} exited with {child.returncode} during start-up")
        try:
            response = httpx.get(url, timeout=3)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise ParleyError(f"the platform did not become ready: {last}")


def _stop(children: dict[str, subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    for child in children.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def run_platform(port: int) -> int:
    settings = get_settings()
    env = platform_env(settings)
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print("starting local services (a first start builds and downloads; later ones take seconds)")
    for status in devstack.up():
        print(f"  {status.name:<8} {status.state:<9} {status.detail}")
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        _seed(env)
        for name, command in _commands(port).items():
            children[name] = _spawn(command, env, logs / f"{name}.log")
        _wait_ready(f"http://127.0.0.1:{port}/health/ready", children)
        _print_welcome(settings, env["PARLEY_JWT_SECRET"], port, logs)
        commands = _commands(port)
        while not stopping:
            for name, child in list(children.items()):
                if child.poll() is not None and not stopping:
                    # Like a container's restart policy: a crashed process is started again.
                    print(f"{name} exited with {child.returncode}; restarting ({logs}/{name}.log)")
                    children[name] = _spawn(commands[name], env, logs / f"{name}.log")
            time.sleep(0.5)
        return 0
    finally:
        print("\nstopping Parley…")
        _stop(children)
        devstack.down()
        print("stopped.")


def _print_welcome(settings: Settings, jwt_secret: str, port: int, logs: Path) -> None:
    from ingress.tokens import mint_token

    token = mint_token(
        jwt_secret.encode(),
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
  flower    http://127.0.0.1:5555
  engine    grpc 127.0.0.1:50051
  logs      {logs}

Demo tenant "{DEMO_TENANT}", bearer token (24 h):
  {token}

Try it:
  curl -s -X POST {base}/v1/messages \\
    -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\
    -d '{{"user_id": "alice", "text": "hello"}}'
  curl -s {base}/v1/conversations/<conversation_id>/messages -H "Authorization: Bearer {token}"

Ctrl-C stops everything.
""",
        flush=True,
    )
