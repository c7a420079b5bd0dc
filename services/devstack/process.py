"""The processes Parley starts: children it owns (``launch`` and ``stop``, for ``parley run``, the
tests and the bench), and a long-running one it starts detached and later stops, tracked by a
pid file (``ManagedProcess``, for the local services).

Every child is started in its own session, so a signal to its process group reaches its whole
tree (a prefork worker's pool as well), with its output appended to a log file.

The pid file (``<home>/run/<name>.pid``) is JSON holding the pid, the process's start time
(clock ticks since boot, from ``/proc/<pid>/stat``) and the argv it was started with. A pid
counts as ours only while all three still match, so a recycled pid or a pid file copied from
elsewhere is never signalled; a pid file that no longer matches is stale and is removed.
Output goes to ``<home>/logs/<name>.log``, appended, behind a header line for each start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from services.devstack import paths
from services.devstack.errors import DevstackError

# Runs in a throw-away interpreter so the service is re-parented at once: the caller never
# owns a child it would have to reap, and Popen never warns about a child left running.
# An ``as_user`` (root only) sets the child's uid, primary group and that user's groups.
_LAUNCHER = """
import os, pwd, subprocess, sys
log_path, cwd, as_user, *argv = sys.argv[1:]
ids = {}
if as_user:
    account = pwd.getpwnam(as_user)
    ids = dict(
        user=account.pw_uid, group=account.pw_gid,
        extra_groups=os.getgrouplist(as_user, account.pw_gid),
    )
with open(log_path, "ab") as log:
    child = subprocess.Popen(
        argv, cwd=cwd or None, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True, **ids,
    )
print(child.pid, flush=True)
os._exit(0)
"""

_LOG_ROTATE_BYTES = 50 * 1024 * 1024
_KILL_GRACE_SECONDS = 5.0
_EXEC_WAIT_SECONDS = 5.0


def launch(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as a child in a session of its own, its output appended to ``log``.

    ``env`` holds variables added to the caller's environment.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(children: Iterable[subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    """SIGTERM each child's process group, SIGKILL what is left after ``grace`` seconds."""
    running = list(children)
    for child in running:
        if child.poll() is None:
            signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in running:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(child, signal.SIGKILL)
            child.wait()


def signal_group(child: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Signal the child's whole process group (it leads one: ``launch`` made it a session)."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(child.pid, signum)


@dataclass(frozen=True)
class _Record:
    pid: int
    started: int
    argv: tuple[str, ...]


@dataclass(frozen=True)
class ManagedProcess:
    """One named process: ``start`` launches it detached, ``stop`` ends exactly that process.

    ``env`` holds variables added to the caller's environment. ``home`` defaults to the
    devstack folder (``.parley/`` or ``PARLEY_HOME``) as it is when the object is built.
    ``as_user`` runs the process as that account (the caller must be root: PostgreSQL refuses
    to run as root). ``stop_signal`` asks it to stop (PostgreSQL's fast shutdown is SIGINT;
    its SIGTERM waits for every client to disconnect).
    """

    name: str
    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] | None = field(default=None, compare=False)
    home: Path = field(default_factory=paths.home)
    as_user: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid if the process we started is still running; a stale pid file is removed."""
        record = self._read_record()
        if record is None:
            return None
        if _is_running(record):
            return record.pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> int:
        """Launch the process detached (new session, output to the log) unless it already runs."""
        running = self.pid()
        if running is not None:
            return running
        paths.ensure_dir(self.pid_file.parent)
        paths.ensure_dir(self.log_file.parent)
        self._open_log_section()
        env = {**os.environ, **self.env} if self.env else None
        launcher = subprocess.run(
            [
                sys.executable,
                "-c",
                _LAUNCHER,
                str(self.log_file),
                str(self.cwd or ""),
                self.as_user or "",
                *self.argv,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if launcher.returncode != 0:
            raise DevstackError(f"{self.name}: could not launch {self.argv[0]}: {launcher.stderr}")
        pid = int(launcher.stdout.split()[-1])
        self._write_record(self._await_exec(pid))
        return pid

    def stop(self, timeout: float = 20.0) -> int | None:
        """Send ``stop_signal``, SIGKILL it after ``timeout`` seconds; return the pid it had.

        Returns None when nothing of ours was running. Raises DevstackError if it survives SIGKILL.
        """
        record = self._read_record()
        if record is None or not _is_running(record):
            self.pid_file.unlink(missing_ok=True)
            return None
        _signal(record.pid, self.stop_signal)
        if not _wait_gone(record, timeout):
            _signal(record.pid, signal.SIGKILL)
            if not _wait_gone(record, _KILL_GRACE_SECONDS):
                raise DevstackError(f"{self.name} (pid {record.pid}) survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)
        return record.pid

    def _await_exec(self, pid: int) -> _Record:
        """The new process's record, once /proc shows it running the argv it was started with.

        The launcher hears of the pid as exec begins, and the kernel fills in the command line
        late in exec: for that moment /proc shows an empty one. A record written then would look
        stale to the next ``pid()``, which would remove it and lose track of a live process, so
        the record is written only after the command line has appeared.
        """
        deadline = time.monotonic() + _EXEC_WAIT_SECONDS
        while True:
            started = _start_ticks(pid)
            record = _Record(pid, started, self.argv) if started is not None else None
            if record is None or not _is_alive(record):
                tail = self.log_tail()
                raise DevstackError(f"{self.name} exited at once; last log lines:\n{tail}")
            if _is_running(record):
                return record
            if time.monotonic() >= deadline:
                _signal(pid, signal.SIGKILL)
                raise DevstackError(
                    f"{self.name} (pid {pid}) did not show the command it was started with "
                    f"within {_EXEC_WAIT_SECONDS:.0f} s: {_cmdline(pid)!r}; it was killed"
                )
            time.sleep(0.01)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log, or a note that there is none."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 64 * 1024))
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_file})"
        return "\n".join(text.splitlines()[-lines:])

    def _open_log_section(self) -> None:
        if self.log_file.exists() and self.log_file.stat().st_size > _LOG_ROTATE_BYTES:
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with self.log_file.open("a") as log:
            log.write(f"=== {stamp} starting: {shlex.join(self.argv)}\n")

    def _read_record(self) -> _Record | None:
        try:
            raw = json.loads(self.pid_file.read_text())
            return _Record(int(raw["pid"]), int(raw["started"]), tuple(raw["argv"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            self.pid_file.unlink(missing_ok=True)
            return None

    def _write_record(self, record: _Record) -> None:
        body = {"pid": record.pid, "started": record.started, "argv": list(record.argv)}
        partial = self.pid_file.with_suffix(".pid.tmp")
        partial.write_text(json.dumps(body) + "\n")
        partial.replace(self.pid_file)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _is_alive(record: _Record) -> bool:
    """The recorded process (same pid, same start time) exists and is not a zombie."""
    fields = _stat_fields(record.pid)
    return fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == record.started


def _cmdline(pid: int) -> tuple[str, ...] | None:
    """The process's argv as /proc shows it: empty while exec is still under way."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return tuple(arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1])


def _is_running(record: _Record) -> bool:
    """Alive and still running the recorded argv."""
    return _is_alive(record) and _cmdline(record.pid) == record.argv


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process's whole group when it leads one (it does when we started it)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(record: _Record, timeout: float) -> bool:
    # Not _is_running: an exiting process drops its cmdline before it is really gone.
    deadline = time.monotonic() + timeout
    while _is_alive(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
