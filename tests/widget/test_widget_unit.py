"""The widget's unit tests (``tests/widget/*.test.cjs``) run by Node's built-in test runner."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
AT_LEAST = 20  # the tests written so far: fewer means some silently stopped running


def test_the_widget_logic_passes_its_node_tests() -> None:
    node = shutil.which("node")
    assert node, "node is not installed: the widget's unit tests need Node.js (apt install nodejs)"
    run = subprocess.run(
        [node, "--test", str(HERE.relative_to(ROOT)) + "/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = dict(
        re.findall(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", run.stdout, re.M)
    )
    failures = "\n".join(line for line in run.stdout.splitlines() if line.startswith("not ok"))
    assert run.returncode == 0, f"node --test failed:\n{failures}\n{run.stdout[-4000:]}{run.stderr}"
    assert int(summary.get("pass", 0)) >= AT_LEAST, summary
    assert summary.get("fail") == "0" and summary.get("skipped") == "0", summary
