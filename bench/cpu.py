"""CPU time per message: what each process of the platform, each local service and the load
itself spent while a pipeline load ran, divided by the messages it carried.

On a machine with N cores no pipeline can carry more than N seconds of CPU per second, so the
sum of these figures bounds throughput from above: a turn costing 100 ms of CPU in all caps R2
at 20 messages a second on two cores, whatever the queueing does.
"""

from __future__ import annotations

import resource
from typing import Any

import psutil

from bench.stack import Stack

# The local services, found by what they run (they are not the benchmark's children). The
# PostgreSQL under FerretDB's ``postgresql`` handler does FerretDB's storage work there, in a
# process per connection (their titles start ``postgres:``), so it is counted beside FerretDB.
SERVICES = {
    "redis": "redis-server",
    "ferretdb": "ferretdb",
    "postgres": "postgres",
    "kafka": "kafka.Kafka",
}


def snapshot(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) so far: each of the stack's process trees, each service,
    and the load processes this one has waited for."""
    seconds = {name: _tree_cpu(child.pid) for name, child in dict(stack.children).items()}
    for service, needle in SERVICES.items():
        seconds[service] = sum(
            _cpu(p) for p in psutil.process_iter(["cmdline"]) if _runs(p, needle)
        )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds["load"] = usage.ru_utime + usage.ru_stime
    return seconds


def per_message(before: dict[str, float], after: dict[str, float], messages: int) -> dict[str, Any]:
    """Milliseconds of CPU per message, by process (those above 0.05 ms) and in all."""
    spent = {
        name: (after[name] - before.get(name, 0.0)) * 1000 / max(1, messages) for name in after
    }
    by_process = {name: round(ms, 2) for name, ms in sorted(spent.items()) if ms >= 0.05}
    return {"total_ms": round(sum(by_process.values()), 1), "by_process": by_process}


def _runs(process: psutil.Process, needle: str) -> bool:
    cmdline = process.info.get("cmdline") or []
    return any(needle in part for part in cmdline[:8])


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _tree_cpu(pid: int) -> float:
    """CPU of a process and its live children (a prefork worker's pool processes included;
    children that already exited are counted in their parent's ``children_*`` times)."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        own = times.user + times.system + times.children_user + times.children_system
        return float(own) + sum(_cpu(child) for child in root.children(recursive=True))
    except psutil.Error:
        return 0.0
