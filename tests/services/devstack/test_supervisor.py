"""``parley run``'s children: restarted with growing waits, given up loudly, logs echoed."""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.main import build_parser
from core.errors import ParleyError
from services.devstack.log_tail import LogTail, wants_colour
from services.devstack.supervisor import RestartPolicy, Supervisor

QUICK = RestartPolicy(first_delay=0.01, max_delay=0.04, stable_after=3600, max_exits=4)


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def supervise(
    tmp_path: Path, commands: dict[str, list[str]], policy: RestartPolicy
) -> tuple[Supervisor, list[str], io.StringIO]:
    said: list[str] = []
    echoed = io.StringIO()
    tail = LogTail(echoed, colour=False)
    supervisor = Supervisor(
        commands,
        dict(os.environ),
        tmp_path,
        tmp_path / "logs",
        policy=policy,
        say=said.append,
        tail=tail,
    )
    return supervisor, said, echoed


def run_until(step: Callable[[], None], done: Callable[[], object]) -> None:
    """Call ``step`` until ``done()`` holds or it raises; a bound keeps a bug from hanging."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, "the supervisor never got there"
        step()
        time.sleep(0.01)


def test_the_waits_double_from_one_second_to_a_minute() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_crashing_child_is_started_again_after_growing_waits_then_given_up_loudly(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "steady.pid"
    commands = {
        "flaky": child("print('flaky is up', flush=True); raise SystemExit(3)"),
        "steady": child(
            f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        ),
    }
    supervisor, said, echoed = supervise(tmp_path, commands, QUICK)
    supervisor.start()
    try:
        run_until(lambda: None, pid_file.exists)
        with pytest.raises(ParleyError) as gave_up:
            run_until(supervisor.check, lambda: False)
    finally:
        supervisor.stop()

    exits = [line for line in said if "starting it again in" in line]
    assert len(exits) == 3
    for n, (line, wait) in enumerate(zip(exits, ("0.01", "0.02", "0.04"), strict=True), 1):
        assert re.match(
            rf"parley: flaky exited with code 3 after [\d.]+ s; starting it again in {wait} s "
            rf"\(exit {n} of 4 in a row; log: .*flaky\.log\)$",
            line,
        ), line
    assert said.count("parley: flaky started again") == 3
    assert not [line for line in said if "steady" in line]
    message = str(gave_up.value)
    assert message.startswith("flaky exited with code 3 after")
    assert "its 4th exit in a row without staying up 3600 s; not starting it again" in message
    assert str(tmp_path / "logs" / "flaky.log") in message
    # Four runs, each one's output echoed once behind the child's name.
    assert echoed.getvalue().count("flaky              | flaky is up\n") == 4
    assert (tmp_path / "logs" / "flaky.log").read_text().count("flaky is up") == 4
    # Stopping ends the children that were still running.
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_child_killed_by_a_signal_is_named_by_its_signal(tmp_path: Path) -> None:
    commands = {"victim": child("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")}
    supervisor, said, _ = supervise(tmp_path, commands, QUICK)
    supervisor.start()
    try:
        run_until(supervisor.check, lambda: said)
    finally:
        supervisor.stop()
    assert said[0].startswith("parley: victim was killed by SIGKILL after ")


def test_a_child_that_stayed_up_long_enough_starts_again_from_the_first_wait(
    tmp_path: Path,
) -> None:
    always_stable = RestartPolicy(first_delay=0.01, max_delay=0.04, stable_after=0, max_exits=2)
    commands = {"flaky": child("raise SystemExit(1)")}
    supervisor, said, _ = supervise(tmp_path, commands, always_stable)
    supervisor.start()
    try:
        run_until(supervisor.check, lambda: said.count("parley: flaky started again") >= 5)
    finally:
        supervisor.stop()
    exits = [line for line in said if "starting it again" in line]
    assert len(exits) >= 5
    assert all("starting it again in 0.01 s (exit 1 of 2 in a row" in line for line in exits)


def test_an_exit_during_start_up_stops_the_start(tmp_path: Path) -> None:
    commands = {"broken": child("raise SystemExit(2)")}
    supervisor, _, _ = supervise(tmp_path, commands, QUICK)
    supervisor.start()
    try:
        with pytest.raises(ParleyError, match=r"^broken exited with code 2 during start-up"):
            run_until(supervisor.check_started, lambda: False)
    finally:
        supervisor.stop()


def test_the_log_echo_is_coloured_only_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert not wants_colour(io.StringIO())
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert wants_colour(terminal)
        monkeypatch.setenv("NO_COLOR", "1")
        assert not wants_colour(terminal)
    os.close(leader)

    log = tmp_path / "ingress.log"
    log.write_text("from an earlier run\n")
    out = io.StringIO()
    tail = LogTail(out, colour=True)
    tail.follow("ingress", log)
    with log.open("a") as handle:
        handle.write("ready\n" + "x" * 500 + "\npartial")
    tail.pump()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # not the earlier run's line, not the unfinished one
    assert lines[0] == "\033[36mingress            |\033[0m ready"
    assert lines[1].endswith("x" * 199 + "…")


def test_parley_run_takes_quiet() -> None:
    assert build_parser().parse_args(["run", "--quiet"]).quiet is True
    assert build_parser().parse_args(["run"]).quiet is False
