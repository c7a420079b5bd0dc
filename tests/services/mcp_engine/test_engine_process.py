"""`python -m services.mcp_engine` serves real gRPC, reads its settings and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from services.mcp_engine.rules import DEFAULT_RULES_FILE

ROOT = Path(__file__).resolve().parents[3]
START_SECONDS = 15.0

RULES = {
    "default": {
        "greeting": {"name": "greeting", "keywords": ["hi"], "parts": [{"text": "Hi from file"}]},
        "intents": [{"name": "ping", "keywords": ["ping"], "parts": [{"text": "pong"}]}],
        "fallback": {"parts": [{"text": "?"}]},
    }
}


def engine_env(rules_file: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PARLEY_ENGINE_BACKEND": "rules",
        "PARLEY_ENGINE_RULES_FILE": str(rules_file),
    }


@pytest.fixture
def engine_process(
    request: pytest.FixtureRequest, tmp_path: Path, unused_port: int
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The engine on ``RULES``, or on the rules file a test passes as the fixture's param."""
    rules_file = getattr(request, "param", None)
    if rules_file is None:
        rules_file = tmp_path / "rules.json"
        rules_file.write_text(json.dumps(RULES))
    command = [sys.executable, "-m", "services.mcp_engine", "--port", str(unused_port)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=engine_env(rules_file),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, f"127.0.0.1:{unused_port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def wait_until_serving(client: EngineClient, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not client.is_serving(timeout=0.5):
        assert process.poll() is None, "the engine exited during start-up"
        assert time.monotonic() < deadline, "the engine did not report SERVING in time"
        time.sleep(0.05)


def test_engine_process_serves_rules_from_its_settings_and_stops_on_sigterm(
    engine_process: tuple[subprocess.Popen[str], str],
) -> None:
    process, addr = engine_process
    client = EngineClient(addr)
    try:
        wait_until_serving(client, process)
        request = pb.GenerateRequest(tenant_id="acme", conversation_id="c-1", text="PING!")

        reply = client.generate(request, timeout=5.0)

        assert (reply.intent, [part.text for part in reply.parts]) == ("ping", ["pong"])
    finally:
        client.close()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "MCP engine stopping" in stderr


@pytest.mark.parametrize("engine_process", [DEFAULT_RULES_FILE], indirect=True)
def test_engine_process_answers_in_the_users_language_with_its_entities(
    engine_process: tuple[subprocess.Popen[str], str],
) -> None:
    process, addr = engine_process
    order = pb.Entity(type="order_number", text="1234", value="1234")
    processing = pb.ProcessingResult(language="fr", entities=[order])
    text = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à jean@example.fr"
    request = pb.GenerateRequest(
        tenant_id="acme", conversation_id="c-1", text=text, processing=processing
    )
    client = EngineClient(addr)
    try:
        wait_until_serving(client, process)

        reply = client.generate(request, timeout=5.0)
    finally:
        client.close()

    assert reply.intent == "cancel_order"
    assert reply.parts[0].text.startswith("Votre commande 1234 : ")


def test_engine_process_refuses_a_bad_rules_file(tmp_path: Path, unused_port: int) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text("{not json")

    done = subprocess.run(
        [sys.executable, "-m", "services.mcp_engine", "--port", str(unused_port)],
        cwd=ROOT,
        env=engine_env(rules_file),
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )

    assert done.returncode == 1
    assert f"mcp engine: engine rules file {rules_file}: " in done.stderr
