"""Parley installed from its wheel, as the compose image runs it: a non-root user, no checkout.

Docker is not needed: the wheel is built from this checkout and installed into a fresh
virtualenv whose dependencies are this test run's own (pip fetches only what those lack for the
interpreter the other user can run, at most a small backport), then ``parley beat`` (the compose
``beat`` service's command) runs as a non-root user until its schedule sends a task.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Everything beside the sources that a wheel build must not copy (nor write into).
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".parley", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


def _runner() -> list[str] | None:
    """How to run a command as a non-root user: as we are, or as ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return None
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    runuser = shutil.which("runuser")
    return [runuser, "-u", "nobody", "--"] if runuser else None


RUN_AS_USER = _runner()
pytestmark = pytest.mark.skipif(RUN_AS_USER is None, reason="no non-root user to run as")


@dataclass(frozen=True)
class Installed:
    venv: Path
    home: Path  # the user's home: the image's /var/lib/parley, its WORKDIR

    def run(
        self, argv: list[str], env: dict[str, str], log: Path, **kwargs: object
    ) -> subprocess.Popen[bytes]:
        assert RUN_AS_USER is not None
        with log.open("wb") as out:
            return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
                [*RUN_AS_USER, *argv],
                env={"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.home), **env},
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                **kwargs,
            )


def _version(python: str, as_user: bool) -> str | None:
    command = [*(RUN_AS_USER or []), python] if as_user else [python]
    try:
        found = subprocess.run(
            [*command, "-c", "import sys; print(sys.version)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    return found.stdout.strip() if found.returncode == 0 else None


def _at_least_3_11(version: str) -> bool:
    major, minor = (int(part) for part in version.split()[0].split(".")[:2])
    return (major, minor) >= (3, 11)


def _interpreter() -> str:
    """A Python 3.11+ that the other user runs exactly as we do (ours may live in a private home,
    where the other user's loader finds another libpython and another standard library)."""
    candidates = [getattr(sys, "_base_executable", sys.executable), "/usr/bin/python3"]
    for python in candidates:
        ours = _version(python, as_user=False)
        if ours and ours == _version(python, as_user=True) and _at_least_3_11(ours):
            return python
    pytest.fail(f"no Python 3.11+ that the other user can run among {candidates}")


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    # Under /tmp, readable by the other user (pytest's own tmp_path is private to root).
    base = Path(tempfile.mkdtemp(prefix="parley-wheel-"))
    try:
        base.chmod(0o755)
        source, dist, venv, home = (base / name for name in ("src", "dist", "venv", "home"))
        shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
        # No build isolation: setuptools comes from this environment, nothing is downloaded.
        build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)]
        subprocess.run(build, check=True, timeout=300)
        wheel = str(next(dist.glob("parley-*.whl")))
        python = venv / "bin" / "python"
        subprocess.run([_interpreter(), "-m", "venv", "--without-pip", str(venv)], check=True)
        install = [*pip, "--python", str(python), "install"]
        subprocess.run([*install, "--no-deps", "--no-index", wheel], check=True, timeout=300)
        # The dependencies: this test run's own, on the path after the wheel's site-packages
        # (a plain path line: the .pth files there, this checkout's editable install, stay
        # unread). pip then fetches only what that set lacks for this interpreter's version.
        purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        target = subprocess.run(
            [str(python), "-c", purelib], check=True, capture_output=True, text=True
        ).stdout.strip()
        ours = sysconfig.get_paths()["purelib"]
        (Path(target) / "parley-test-dependencies.pth").write_text(ours + "\n")
        subprocess.run([*install, wheel], check=True, timeout=300)
        home.mkdir()
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(home, nobody.pw_uid, nobody.pw_gid)
        yield Installed(venv, home)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_installed_package_keeps_its_state_in_the_users_home(installed: Installed) -> None:
    code = (
        "import core.settings as s, core.home as h;"
        "settings = s.get_settings();"
        "print(h.checkout(), settings.home, settings.jwt_secret is None, sep='|')"
    )
    # A development secret where a checkout would keep one: an installed Parley never reads it.
    secret_home = installed.home / ".parley"
    secret_home.mkdir(exist_ok=True)
    secret = secret_home / "dev-jwt-secret"
    secret.write_text("s" * 40 + "\n")
    secret.chmod(0o600)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in (secret_home, secret):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    log = installed.home.parent / "settings.log"
    child = installed.run([str(installed.venv / "bin" / "python"), "-c", code], {}, log)
    assert child.wait(timeout=120) == 0, log.read_text()
    assert log.read_text().strip().splitlines()[-1] == f"None|{secret_home}|True"


def test_beat_starts_its_schedule_from_the_installed_wheel_as_a_non_root_user(
    installed: Installed, settings: Settings, broker: redis.Redis
) -> None:
    log = installed.home.parent / "beat.log"
    env = {"PARLEY_BROKER_URL": settings.broker_url, "PYTHONDONTWRITEBYTECODE": "1"}
    beat = installed.run([str(installed.venv / "bin" / "parley"), "beat"], env, log)
    try:
        deadline = time.monotonic() + 90
        while "Sending due task" not in log.read_text() and time.monotonic() < deadline:
            assert beat.poll() is None, f"beat exited with {beat.returncode}:\n{log.read_text()}"
            time.sleep(0.5)
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        broker.delete("maintenance")
    output = log.read_text()
    assert "beat: Starting..." in output and "Sending due task" in output, output
    schedules = list((installed.home / ".parley" / "run").glob("celerybeat-schedule*"))
    assert schedules, output
    site_packages = next((installed.venv / "lib").glob("python3*/site-packages"))
    assert not (site_packages / ".parley").exists()
