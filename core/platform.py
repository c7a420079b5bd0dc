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
from collections.abc import Callable
from pathlib import Path

import httpx

from core import devstack
from core.crypto import new_master_key
from core.devstack.paths import home as parley_home
from core.errors import ParleyError

DEMO_TENANT = "demo"
READY_TIMEOUT = 90.0


def _dev_secret(name: str, make: Callable[[], str]) -> str:
    """A per-checkout development secret, made once and kept in the git-ignored folder."""
    path = parley_home() / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make())
    secret: str = path.read_text().strip()
    return secret


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
    env = dict(os.environ)
    env.setdefault(
        "PARLEY_JWT_SECRET", _dev_secret("dev-jwt-secret", lambda: secrets.token_urlsafe(32))
    )
    env.setdefault("PARLEY_MASTER_KEY", _dev_secret("dev-master-key", new_master_key))
    for name in ("PARLEY_JWT_SECRET", "PARLEY_MASTER_KEY"):
        os.environ[name] = env[name]
    logs = parley_home() / "logs"
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
        _print_welcome(port, logs)
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


def _print_welcome(port: int, logs: Path) -> None:
    from core.settings import get_settings
    from ingress.tokens import mint_token

    token = mint_token(get_settings().require_jwt_secret(), DEMO_TENANT, "demo-user", 24 * 3600)
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
