"""The child processes of ``parley run``: started, restarted with backoff, and stopped.

A child that exits is started again after 1 s, then 2, 4, 8 … up to 60 s while it keeps
exiting; once it has stayed up 60 s, its next exit counts as the first again. After 10 exits
in a row without such a stable run the supervisor gives up and ``parley run`` stops: a child
that cannot stay up is a bug or a broken setting, and a platform with a part missing fails in
confusing ways (messages accepted, never answered), so it stops loudly and says which and why.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ParleyError
from services.devstack import process
from services.devstack.log_tail import LogTail


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 60.0
    stable_after: float = 60.0  # seconds up after which an exit counts as the first again
    max_exits: int = 10  # exits in a row after which the child is not started again

    def delay(self, exits: int) -> float:
        """The wait before the restart that follows the ``exits``-th exit in a row."""
        return float(min(self.first_delay * 2 ** (exits - 1), self.max_delay))


def describe_exit(returncode: int) -> str:
    """``exited with code 3`` or ``was killed by SIGKILL``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        return f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


@dataclass
class _Child:
    name: str
    argv: Sequence[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    exits: int = 0  # in a row, without a stable run between them
    restart_at: float | None = None


class Supervisor:
    """Runs named commands as children, each in its own session, its output in its log file."""

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        env: Mapping[str, str],
        cwd: Path,
        logs: Path,
        *,
        policy: RestartPolicy = RestartPolicy(),
        say: Callable[[str], None] = print,
        tail: LogTail | None = None,
    ) -> None:
        self._children = {
            name: _Child(name, argv, logs / f"{name}.log") for name, argv in commands.items()
        }
        self._env = dict(env)
        self._cwd = cwd
        self._policy = policy
        self._say = say
        self._tail = tail

    def start(self) -> None:
        for child in self._children.values():
            self._spawn(child)

    def check_started(self) -> None:
        """During start-up an exit is fatal: it is a broken setting, not a crash to wait out."""
        self._pump()
        for child in self._children.values():
            if child.process is not None and child.process.poll() is not None:
                raise ParleyError(
                    f"{child.name} {describe_exit(child.process.returncode)} during start-up; "
                    f"its log: {child.log}"
                )

    def check(self) -> None:
        """Notice exits, restart children whose wait is over; raises once one is given up."""
        self._pump()
        now = time.monotonic()
        for child in self._children.values():
            if child.process is not None and child.process.poll() is not None:
                self._exited(child, child.process.returncode, now)
            elif child.process is None and child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)
                self._say(f"parley: {child.name} started again")

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every child's process group, SIGKILL what is left after ``grace`` seconds."""
        process.stop((c.process for c in self._children.values() if c.process is not None), grace)
        self._pump()

    def _exited(self, child: _Child, returncode: int, now: float) -> None:
        uptime = now - child.started_at
        child.exits = 1 if uptime >= self._policy.stable_after else child.exits + 1
        child.process = None
        why = f"{child.name} {describe_exit(returncode)} after {uptime:.1f} s"
        if child.exits >= self._policy.max_exits:
            raise ParleyError(
                f"{why}, its {child.exits}th exit in a row without staying up "
                f"{self._policy.stable_after:g} s; not starting it again. Its log: {child.log}"
            )
        delay = self._policy.delay(child.exits)
        child.restart_at = now + delay
        self._say(
            f"parley: {why}; starting it again in {delay:g} s "
            f"(exit {child.exits} of {self._policy.max_exits} in a row; log: {child.log})"
        )

    def _spawn(self, child: _Child) -> None:
        if self._tail is not None:
            self._tail.follow(child.name, child.log)
        child.process = process.launch(child.argv, child.log, env=self._env, cwd=self._cwd)
        child.started_at = time.monotonic()
        child.restart_at = None

    def _pump(self) -> None:
        if self._tail is not None:
            self._tail.pump()
