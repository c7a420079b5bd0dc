"""What the load sends: signed WhatsApp webhooks, ``POST /v1/messages`` with a JWT, the same
bodies to the bare route, or bare chains straight onto the broker.

Every message gets a unique id (the WhatsApp ``wamid``, or the chain's id) that the provider
fake sees again in the reply (``context.message_id``: the channel config quotes replies), so
the load can match each delivery to its send. Users are taken round-robin from
``conversations`` of them, so that many conversations are open at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from bench.httpwire import build_request

# The rules engine answers this with one text part (``opening_hours``): one send per turn.
TEXT = "Hello, what are your opening hours this week?"
DISPLAY_NUMBER = "15550100001"


@dataclass(frozen=True)
class Traffic:
    """How to build message ``i`` of a run; ``run`` keeps ids unique across runs."""

    kind: str  # whatsapp | api | bare-whatsapp | bare-api | chain
    run: str
    host: str = "127.0.0.1"
    port: int = 0
    conversations: int = 100
    webhook_path: str = ""
    phone_number_id: str = ""
    app_secret: str = ""
    token: str = ""
    database: str = ""  # Parley's, to read which messages a reply answered (bench/loadgen.py)

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> Traffic:
        return cls(**plan)

    def message_id(self, i: int) -> str:
        return f"wamid.BENCH{self.run}x{i:08d}"

    def user(self, i: int) -> str:
        return f"1555{self.run[-4:]}{i % self.conversations:06d}"

    def request(self, i: int) -> bytes:
        """The HTTP request that carries message ``i``."""
        path, body, headers = self.message(i)
        return build_request(self.host, self.port, path, body, headers)

    def message(self, i: int) -> tuple[str, bytes, dict[str, str]]:
        """Message ``i``'s path, body and headers."""
        if self.kind in ("whatsapp", "bare-whatsapp"):
            body, headers = self._webhook(i)
            return (self.webhook_path if self.kind == "whatsapp" else "/bare"), body, headers
        body = json.dumps({"user_id": self.user(i), "text": TEXT}, separators=(",", ":")).encode()
        if self.kind == "api":
            return "/v1/messages", body, {"Authorization": f"Bearer {self.token}"}
        return "/bare", body, {}

    def _webhook(self, i: int) -> tuple[bytes, dict[str, str]]:
        user = self.user(i)
        message = {
            "from": user,
            "id": self.message_id(i),
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": TEXT},
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": DISPLAY_NUMBER,
                "phone_number_id": self.phone_number_id,
            },
            "contacts": [{"profile": {"name": "Bench User"}, "wa_id": user}],
            "messages": [message],
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "100000000000001", "changes": [{"value": value, "field": "messages"}]}
            ],
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        digest = hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        return raw, {"X-Hub-Signature-256": f"sha256={digest}"}
