"""The one launcher for child processes: own session, output appended to a log, a stop that
reaches the whole tree and ends with SIGKILL for a child that ignores SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from services.devstack import process


def test_a_child_writes_to_its_log_after_what_is_there_with_the_added_environment(
    tmp_path: Path,
) -> None:
    log = tmp_path / "logs" / "child.log"
    log.parent.mkdir()
    log.write_bytes(b"earlier run\n")
    code = "import os, sys; print(os.environ['PARLEY_PROBE']); print('err', file=sys.stderr)"
    child = process.launch([sys.executable, "-c", code], log, env={"PARLEY_PROBE": "seen"})
    assert child.wait(timeout=30) == 0
    assert log.read_text().splitlines() == ["earlier run", "seen", "err"]


def test_a_child_leads_its_own_process_group(tmp_path: Path) -> None:
    child = process.launch([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "c")
    try:
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
    finally:
        process.stop([child])
    assert child.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    child = process.launch([sys.executable, "-c", code], log)
    while "ready" not in (log.read_text() if log.exists() else ""):
        assert child.poll() is None
        time.sleep(0.01)
    process.stop([child], grace=0.5)
    assert child.returncode == -signal.SIGKILL


def test_stopping_a_child_that_already_exited_is_quiet(tmp_path: Path) -> None:
    child = process.launch([sys.executable, "-c", "pass"], tmp_path / "done.log")
    child.wait(timeout=30)
    process.stop([child])
    process.signal_group(child, signal.SIGKILL)
    assert child.returncode == 0
