"""The benchmark's Celery variants live in the bench: the production config holds none, and a
process the bench starts with overrides runs its tasks on them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.celery_overrides import command
from bench.r4_durability import CELERY_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]


def test_celeryconfig_reads_no_benchmark_switch() -> None:
    assert "PARLEY_BENCH" not in (ROOT / "celeryconfig.py").read_text()


def test_a_parley_command_runs_through_the_overrides() -> None:
    argv = command(["-m", "cli", "worker", "deliver"], {"task_acks_late": False})
    overrides = '{"task_acks_late": false}'
    assert argv == ["-m", "bench.celery_overrides", overrides, "worker", "deliver"]


def test_overridden_settings_reach_the_stage_tasks() -> None:
    probe = (
        "import json, sys\n"
        "from bench.celery_overrides import apply\n"
        "apply(json.loads(sys.argv[1]))\n"
        "from tasks.app import app\n"
        "from tasks.deliver import deliver\n"
        "print(json.dumps([deliver.acks_late, deliver.reject_on_worker_lost,"
        " app.conf.worker_prefetch_multiplier]))\n"
    )
    for overrides, expected in (({}, [True, True, 1]), (CELERY_DEFAULTS, [False, False, 4])):
        out = subprocess.run(
            [sys.executable, "-c", probe, json.dumps(overrides)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(out) == expected
