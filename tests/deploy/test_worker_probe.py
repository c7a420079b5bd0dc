"""The workers' liveness probe, as the manifests write it, run against a real worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from kustomize_render import render
from processes import process_group

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "webhooks"


def _probe() -> list[str]:
    (deployment,) = [
        r
        for r in render(ROOT / "deploy" / "kubernetes" / "base")
        if r["kind"] == "Deployment" and r["metadata"]["name"] == f"parley-worker-{QUEUE}"
    ]
    command: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"][
        "exec"
    ]["command"]
    return command


def _run(command: list[str], hostname: str) -> int:
    # In the pod, HOSTNAME is the pod's name and the worker calls itself <queue>@<that name>.
    env = {
        **os.environ,
        "HOSTNAME": hostname,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=60).returncode


def test_the_liveness_probe_passes_on_a_live_worker_and_fails_without_one(
    tmp_path: Path,
) -> None:
    command = _probe()
    with process_group(tmp_path) as group:
        group.start("worker", "worker", QUEUE, "--concurrency", "1")
        deadline = time.monotonic() + 90
        while _run(command, socket.gethostname()) != 0:
            group.assert_running()
            assert time.monotonic() < deadline, "the probe never passed:\n" + group.log("worker")
        # Another pod's name: no worker of that name answers, and the probe fails.
        assert _run(command, "parley-worker-webhooks-gone") != 0
