"""Profiles of the processes a scenario drives, with py-spy, when ``PARLEY_BENCH_PROFILE=1``.

py-spy samples a running process from outside (no code change, no restart), so the profile is
of the very processes being measured. Each profile is kept as collapsed stacks
(``<name>.txt``, for flamegraph tools) with a summary beside it (``<name>.summary.txt``): the
share of samples in which each of Parley's own functions was on the stack, and the leaf frames
that take the most. Profiling costs CPU on a 2-core machine, so figures of a profiled run are
not comparable with others.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.config import ROOT
from services.devstack import process

PARLEY_PACKAGES = ("ingress/", "tasks/", "storage/", "channels/", "processors/", "core/", "protos/")
RATE = 100  # samples a second


def _py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class Profiler:
    """``start`` py-spy on some processes; ``finish`` waits for it and writes the summaries."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, pid: int, seconds: float) -> None:
        py_spy = _py_spy()
        if py_spy is None:
            print("  py-spy not found: no profile", flush=True)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [py_spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", str(RATE)]
        argv += ["-f", "raw", "-o", str(self.folder / f"{name}.txt"), "--nonblocking"]
        argv += ["--subprocesses", "--threads"]
        self._running.append((name, process.launch(argv, self.folder / f"{name}.log", cwd=ROOT)))

    def finish(self) -> dict[str, str]:
        """Wait for every profile started; their summaries, by name."""
        summaries: dict[str, str] = {}
        for name, spy in self._running:
            spy.wait()
            raw = self.folder / f"{name}.txt"
            if raw.exists():
                text = summarize(raw)
                (self.folder / f"{name}.summary.txt").write_text(text)
                summaries[name] = str(self.folder / f"{name}.summary.txt")
        self._running.clear()
        return summaries


def summarize(raw: Path, top: int = 30) -> str:
    """Parley's functions by share of samples on the stack, then the busiest leaf frames."""
    on_stack: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        leaves[frames[-1]] += samples
        for frame in set(frames):
            if any(f"({package}" in frame for package in PARLEY_PACKAGES):
                on_stack[frame] += samples
    lines = [f"{total} samples (threads and subprocesses together; idle threads left out)", ""]
    lines.append("Parley's functions, share of samples on the stack:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in on_stack.most_common(top)]
    lines.append("")
    lines.append("Leaf frames, share of samples:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in leaves.most_common(top)]
    return "\n".join(lines) + "\n"
