"""The processes a benchmark measures — Parley's platform, the bare baselines, Flower — started
from the repository as real processes, each in its own session, with its output in a log file.

``Stack`` also samples the resident memory of every process tree it started, twice a second,
so each scenario can report steady-state and peak RSS per process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

from core.stages import NAMES
from services.devstack import process
from tasks.queues import QUEUES

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


class Stack:
    """Named child processes, started and stopped as groups; RSS samples per process."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        # name -> [(max RSS of one process of its tree, RSS of the whole tree)] in MB
        self.samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._sampling = threading.Event()
        self._lock = threading.Lock()
        self._sampler: threading.Thread | None = None

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        child = process.launch(
            [sys.executable, *argv],
            self.log_dir / f"{name}.log",
            env={**self.env, **(env or {})},
            cwd=ROOT,
        )
        with self._lock:
            self.children[name] = child

    def stop(self, names: list[str] | None = None, timeout: float = 20.0) -> None:
        with self._lock:
            chosen = [n for n in (names or list(self.children)) if n in self.children]
            stopping = [self.children.pop(n) for n in chosen]
        process.stop(stopping, timeout)

    def assert_running(self) -> None:
        with self._lock:
            children = dict(self.children)
        for name, child in children.items():
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited with {child.returncode}: see {name}.log")

    def wait_http(self, url: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.assert_running()
            try:
                response = httpx.get(url, timeout=3)
                # Readiness is 200 while the engine or Kafka still starts ("degraded"): wait.
                if response.status_code == 200 and response.json().get("status") != "degraded":
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.5)
        raise RuntimeError(f"{url} not ready: {last}")

    def wait_workers(self, hostnames: set[str], timeout: float = 120.0) -> None:
        from tasks.app import app as celery_app

        deadline = time.monotonic() + timeout
        names: set[str] = set()
        while time.monotonic() < deadline:
            self.assert_running()
            with celery_app.connection_for_write() as connection:
                replies = celery_app.control.ping(timeout=1.0, connection=connection) or []
            names = {name.split("@")[0] for reply in replies for name in reply}
            if names >= hostnames:
                return
        raise RuntimeError(f"workers did not answer a ping: only {sorted(names)}")

    # -- memory ----------------------------------------------------------------------------

    def start_sampling(self) -> None:
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample, name="rss", daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._sampling.clear()
        if self._sampler is not None:
            self._sampler.join(timeout=5)

    def _sample(self) -> None:
        while self._sampling.is_set():
            with self._lock:
                children = dict(self.children)
            for name, child in children.items():
                sizes = _tree_rss(child.pid)
                if sizes:
                    self.samples[name].append((max(sizes) / MB, sum(sizes) / MB))
            time.sleep(0.5)

    def mark(self) -> dict[str, int]:
        """Where each process's samples stand now; ``memory_since`` reads from there."""
        return {name: len(samples) for name, samples in self.samples.items()}

    def memory_since(self, mark: dict[str, int]) -> dict[str, dict[str, float]]:
        """Per process since ``mark``: steady (median) and peak RSS of its largest process,
        and the peak of its whole tree (a prefork worker's parent and children), in MB."""
        report: dict[str, dict[str, float]] = {}
        for name, samples in self.samples.items():
            window = samples[mark.get(name, 0) :]
            if not window:
                continue
            largest = sorted(s[0] for s in window)
            report[name] = {
                "steady_mb": round(largest[len(largest) // 2], 1),
                "peak_mb": round(largest[-1], 1),
                "tree_peak_mb": round(max(s[1] for s in window), 1),
            }
        return report


def _tree_rss(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [p.memory_info().rss for p in (root, *root.children(recursive=True))]
    except psutil.Error:
        return []


def parley_commands(
    engine_port: int, ingress_port: int, metrics_ports: dict[str, int] | None = None
) -> dict[str, list[str]]:
    """``parley run``'s processes: engine, a worker per queue (pools as in ``tasks.queues``),
    beat and the ingress; a worker named in ``metrics_ports`` serves its metrics there."""
    cli = ["-m", "cli"]
    commands = {"engine": [*cli, "engine", "--port", str(engine_port)]}
    for queue in QUEUES:
        port = (metrics_ports or {}).get(queue)
        metrics = ["--metrics-port", str(port)] if port else []
        commands[f"worker-{queue}"] = [*cli, "worker", *metrics, queue, "--loglevel=WARNING"]
    commands["beat"] = [*cli, "beat", "--loglevel=WARNING"]
    commands["ingress"] = [*cli, "ingress", "--port", str(ingress_port)]
    return commands


def bare_ingress_command(port: int, workers: int = 1) -> list[str]:
    return ["-m", "bench.bare_ingress", "--port", str(port), "--workers", str(workers)]


def bare_worker_commands(concurrency: int | None = None) -> dict[str, list[str]]:
    """One worker per bare stage, each with the pool of Parley's stage and its concurrency, or
    ``concurrency`` when given (R2's scaling levels)."""
    commands = {}
    for stage in NAMES:
        spec = QUEUES[stage]
        commands[f"bare-{stage}"] = [
            "-m",
            "celery",
            "-A",
            "bench.bare_chain",
            "worker",
            f"--queues=bare.{stage}",
            f"--hostname=bare-{stage}@%h",
            f"--pool={spec.pool}",
            f"--concurrency={concurrency or spec.concurrency}",
            "--loglevel=WARNING",
        ]
    return commands
