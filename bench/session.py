"""One benchmark run: its settings, ports, databases and processes, and how it starts Parley
(or the bare baselines) and the load against them.

Everything runs on the shared local services but apart from other users of them: Redis
databases 3 (sessions) and 4 (broker) unless ``PARLEY_REDIS_URL``/``PARLEY_BROKER_URL`` say
otherwise, a MongoDB database per platform start (``parley_bench_<run>_<n>``, dropped after),
and free ports on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.config import ROOT, BenchConfig
from bench.profiling import Profiler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    """Parley's settings for every process of the run (read before any Parley import)."""
    from core.crypto import new_master_key

    env = {
        "PARLEY_REDIS_URL": os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/3"),
        "PARLEY_BROKER_URL": os.environ.get("PARLEY_BROKER_URL", "redis://127.0.0.1:6379/4"),
        "PARLEY_JWT_SECRET": secrets.token_urlsafe(32),
        "PARLEY_MASTER_KEY": new_master_key(),
    }
    os.environ.update(env)
    return env


@dataclass(frozen=True)
class Target:
    """What a load needs to reach a running Parley (or a bare baseline)."""

    ingress_port: int
    webhook_path: str = ""
    app_secret: str = ""
    token: str = ""
    database: str = ""  # Parley's MongoDB database, for figures read after a load (R7)


class Session:
    def __init__(self, config: BenchConfig) -> None:
        from bench.stack import Stack

        self.config = config
        self.run_id = f"{int(time.time()) % 10**6:06d}{secrets.randbelow(100):02d}"
        self.env = _environment()
        self.engine_port, self.ingress_port = free_port(), free_port()
        self.bare_port, self.fake_port = free_port(), free_port()
        self.metrics_urls: dict[str, str] = {}  # the running platform's metrics endpoints
        self.env.update(
            {
                "PARLEY_ENGINE_ADDR": f"127.0.0.1:{self.engine_port}",
                "PARLEY_WHATSAPP_API_BASE": f"http://127.0.0.1:{self.fake_port}",
            }
        )
        os.environ.update(self.env)
        self.home = ROOT / ".parley" / "bench" / self.run_id
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.stack = Stack(self.home / "logs", self.env)
        self.profiles: dict[str, str] = {}
        self._databases = itertools.count(1)
        self._loads = itertools.count(1)
        from core.settings import get_settings
        from storage.mongo import connect

        get_settings.cache_clear()
        self.settings = get_settings()
        self.mongo = connect(self.settings)

    def profile(self, processes: dict[str, str], seconds: float) -> Profiler | None:
        """py-spy on running processes (profile name -> process name) for ``seconds``, if the
        run profiles."""
        if not self.config.profile:
            return None
        profiler = Profiler(self.home / "profiles")
        for label, name in processes.items():
            profiler.start(label, self.stack.children[name].pid, seconds)
        return profiler

    def keep_profiles(self, profiler: Profiler | None) -> None:
        if profiler is not None:
            self.profiles.update(profiler.finish())

    def database_name(self) -> str:
        return f"parley_bench_{self.run_id}_{next(self._databases)}"

    def load(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Run the load process with ``plan``; its result."""
        number = next(self._loads)
        plan_file = self.home / f"load-{number}.plan.json"
        result_file = self.home / f"load-{number}.result.json"
        plan_file.write_text(json.dumps(plan))
        with (self.home / "logs" / "load.log").open("ab") as log:
            subprocess.run(
                [sys.executable, "-m", "bench.loadgen", str(plan_file), str(result_file)],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
        result: dict[str, Any] = json.loads(result_file.read_text())
        return result

    def traffic(self, kind: str, target: Target, conversations: int) -> dict[str, Any]:
        from bench.seeding import PHONE_NUMBER_ID

        return {
            "kind": kind,
            "run": f"{self.run_id}{next(self._loads):04d}",
            "port": target.ingress_port,
            "conversations": conversations,
            "webhook_path": target.webhook_path,
            "phone_number_id": PHONE_NUMBER_ID,
            "app_secret": target.app_secret,
            "token": target.token,
            "database": target.database,
        }

    @contextmanager
    def parley(
        self,
        label: str,
        celery: dict[str, Any] | None = None,
        workers: bool = True,
        flower: bool = False,
        stored: int = 0,
        tenant_settings: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> Iterator[Target]:
        """Parley's platform on a fresh database (``stored`` messages seeded first), its Celery
        settings overridden by ``celery`` (``bench.celery_overrides``) when given, the bench
        tenant's settings extended by ``tenant_settings`` (R8's processing off), and ``env``
        laid over its processes' settings (the scaling levels' ``PARLEY_INGRESS_WORKERS`` and
        ``PARLEY_WORKER_CONCURRENCY``)."""
        from bench.celery_overrides import command as overridden
        from bench.seeding import prepare, seed_history
        from bench.stack import parley_commands
        from core.stages import NAMES

        name = self.database_name()
        db = self.mongo[name]
        tenancy = prepare(db, self.settings, tenant_settings or {})
        if stored:
            seconds = seed_history(db, tenancy.config_id, stored)
            print(f"  seeded {stored} messages in {seconds:.0f} s", flush=True)
            self.seeding_seconds = seconds
        # The chain's workers serve their metrics, whose round-trip counters R2 reads.
        ports = {stage: free_port() for stage in NAMES}
        self.metrics_urls = {
            "ingress": f"http://127.0.0.1:{self.ingress_port}/metrics",
            **{stage: f"http://127.0.0.1:{port}/metrics" for stage, port in ports.items()},
        }
        commands = parley_commands(self.engine_port, self.ingress_port, ports)
        if celery:
            commands = {each: overridden(argv, celery) for each, argv in commands.items()}
        if not workers:
            commands = {"ingress": commands["ingress"]}
        if flower:
            commands["flower"] = ["-m", "cli", "flower", "--port", str(free_port())]
        names = list(commands)
        extra = {**(env or {}), "PARLEY_MONGO_DB": name}
        try:
            for each, argv in commands.items():
                own = {"PARLEY_HOME": str(self.home / "home")} if each == "beat" else {}
                self.stack.start(each, argv, {**extra, **own})
            base = f"http://127.0.0.1:{self.ingress_port}"
            self.stack.wait_http(f"{base}/health/{'ready' if workers else 'live'}")
            if workers:
                from tasks.queues import QUEUES

                self.stack.wait_workers(set(QUEUES))
            print(f"  parley up ({label})", flush=True)
            yield Target(
                self.ingress_port, tenancy.webhook_path, tenancy.app_secret, tenancy.token, name
            )
        finally:
            self.stack.stop(names)
            self._forget_queues()
            self.mongo.drop_database(name)

    @contextmanager
    def bare(self) -> Iterator[Target]:
        """The baselines: the bare ingress (R1) and the bare chain's workers (R2, R3)."""
        from bench.stack import bare_ingress_command, bare_worker_commands
        from core.stages import NAMES

        commands = {
            "bare-ingress": bare_ingress_command(self.bare_port),
            **bare_worker_commands(),
        }
        try:
            for name, argv in commands.items():
                self.stack.start(name, argv)
            self.stack.wait_workers({f"bare-{stage}" for stage in NAMES})
            yield Target(self.bare_port)
        finally:
            self.stack.stop(list(commands))

    @contextmanager
    def bare_ingress(self, workers: int) -> Iterator[Target]:
        """The bare route served by ``workers`` uvicorn processes, on a port of its own."""
        from bench.stack import bare_ingress_command

        port, name = free_port(), f"bare-ingress-{workers}"
        try:
            self.stack.start(name, bare_ingress_command(port, workers))
            self.stack.wait_http(f"http://127.0.0.1:{port}/health/live")
            yield Target(port)
        finally:
            self.stack.stop([name])

    @contextmanager
    def bare_chain(self, concurrency: int) -> Iterator[None]:
        """The bare chain's workers at ``concurrency`` each, in place of the session's (which
        come back after), so the chain's tasks reach only these."""
        from bench.stack import bare_worker_commands
        from core.stages import NAMES

        hostnames = {f"bare-{stage}" for stage in NAMES}
        self.stack.stop(sorted(hostnames))
        scaled = bare_worker_commands(concurrency)
        try:
            for name, argv in scaled.items():
                self.stack.start(name, argv)
            self.stack.wait_workers(hostnames)
            yield
        finally:
            self.stack.stop(list(scaled))
            for name, argv in bare_worker_commands().items():
                self.stack.start(name, argv)
            self.stack.wait_workers(hostnames)

    def _forget_queues(self) -> None:
        """Parley's queues after a platform stops: what a worker-less R1 left must not reach
        the next platform's workers (their messages live in a database that is gone)."""
        import redis

        from tasks.queues import QUEUES

        client = redis.Redis.from_url(self.settings.broker_url)
        try:
            steps = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's priority lists
            client.delete(*(f"{queue}{step}" for queue in QUEUES for step in steps))
        finally:
            client.close()

    def close(self) -> None:
        import redis

        self.stack.stop()
        self.mongo.close()
        for url in (self.settings.redis_url, self.settings.broker_url):
            client = redis.Redis.from_url(url)
            try:
                client.flushdb()  # the run's own databases (3 and 4 unless told otherwise)
            finally:
                client.close()
