"""The test run's environment, fixed before any Parley module reads its settings.

Tests use their own MongoDB database and Redis databases, so they never touch the data of a
``make run`` on the same machine. Values are only set when absent, so importing this module twice
(or from a child process) keeps one environment.
"""

from __future__ import annotations

import os
import secrets
import socket

from cryptography.fernet import Fernet


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_defaults = {
    "PARLEY_MONGO_DB": f"parley_test_{os.getpid()}_{secrets.token_hex(3)}",
    "PARLEY_REDIS_URL": "redis://127.0.0.1:6379/13",
    "PARLEY_BROKER_URL": "redis://127.0.0.1:6379/14",
    "PARLEY_JWT_SECRET": "test-secret-" + secrets.token_hex(16),
    "PARLEY_ENGINE_TIMEOUT_SECONDS": "3",
    "PARLEY_OPENAI_TIMEOUT_SECONDS": "2",
    "PARLEY_MASTER_KEY": Fernet.generate_key().decode(),
}
for _name, _value in _defaults.items():
    os.environ.setdefault(_name, _value)
if "PARLEY_ENGINE_PORT" not in os.environ:
    _port = free_port()
    os.environ["PARLEY_ENGINE_PORT"] = str(_port)
    os.environ["PARLEY_ENGINE_ADDR"] = f"127.0.0.1:{_port}"

ENGINE_PORT = int(os.environ["PARLEY_ENGINE_PORT"])
