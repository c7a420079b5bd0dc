"""Per-provider test scenarios: how to register an account and what its webhooks look like.

Each scenario gives a fresh provider account, the body to register it, and correctly signed
webhooks (raw bytes + headers) built with the provider fakes' helpers.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes import messenger as fb
from tests.fakes import slack as sl
from tests.fakes import whatsapp as wa

Signed = tuple[bytes, dict[str, str]]


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


@dataclass
class WhatsAppScenario:
    account_id: str = field(default_factory=lambda: "2" + _digits(14))
    user: str = field(default_factory=lambda: "1555" + _digits(7))
    app_secret: str = "FAKE-wa-app-secret-" + secrets.token_hex(8)
    verify_token: str = "FAKE-wa-verify-" + secrets.token_hex(4)
    access_token: str = wa.DEFAULT_ACCESS_TOKEN
    channel: str = "whatsapp"

    def registration(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "account_id": self.account_id,
            "secrets": {
                "access_token": self.access_token,
                "app_secret": self.app_secret,
                "verify_token": self.verify_token,
            },
        }

    def secret_values(self) -> list[str]:
        return [self.app_secret, self.verify_token, self.access_token]

    def inbound_text(
        self, text: str, message_id: str | None = None, account: str | None = None
    ) -> Signed:
        payload = wa.inbound_text(
            text, phone_number_id=account or self.account_id, user=self.user, wamid=message_id
        )
        return wa.signed_webhook(payload, self.app_secret)

    def inbound_location(
        self, latitude: float, longitude: float, place: dict[str, str] | None = None
    ) -> Signed:
        payload = wa.inbound_location(
            latitude, longitude, place, phone_number_id=self.account_id, user=self.user
        )
        return wa.signed_webhook(payload, self.app_secret)

    def status(self, provider_id: str, state: str) -> Signed:
        payload = wa.status_callback(provider_id, state, self.account_id, recipient=self.user)
        return wa.signed_webhook(payload, self.app_secret)

    def signed_with(self, raw: bytes, secret: str) -> dict[str, str]:
        return wa.signed_webhook(json.loads(raw), secret)[1]


@dataclass
class MessengerScenario:
    account_id: str = field(default_factory=lambda: "1" + _digits(14))
    user: str = field(default_factory=lambda: "7" + _digits(15))
    app_secret: str = "FAKE-fb-app-secret-" + secrets.token_hex(8)
    verify_token: str = "FAKE-fb-verify-" + secrets.token_hex(4)
    page_token: str = fb.PAGE_TOKEN
    channel: str = "messenger"

    def registration(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "account_id": self.account_id,
            "secrets": {
                "page_token": self.page_token,
                "app_secret": self.app_secret,
                "verify_token": self.verify_token,
            },
        }

    def secret_values(self) -> list[str]:
        return [self.app_secret, self.verify_token, self.page_token]

    def inbound_text(
        self, text: str, message_id: str | None = None, account: str | None = None
    ) -> Signed:
        payload = fb.inbound_text(account or self.account_id, self.user, text, mid=message_id)
        return fb.signed_webhook(payload, self.app_secret)

    def status(self, provider_id: str, state: str) -> Signed:
        watermark = int(time.time() * 1000) + 1000
        if state == "read":
            payload = fb.read(self.account_id, self.user, watermark)
        else:
            payload = fb.delivery(self.account_id, self.user, watermark, mids=[provider_id])
        return fb.signed_webhook(payload, self.app_secret)

    def signed_with(self, raw: bytes, secret: str) -> dict[str, str]:
        return fb.signed_webhook(json.loads(raw), secret)[1]


@dataclass
class SlackScenario:
    account_id: str = field(default_factory=lambda: "T0FAKE" + secrets.token_hex(3).upper())
    user: str = field(default_factory=lambda: "U0FAKE" + secrets.token_hex(3).upper())
    dm_channel: str = field(default_factory=lambda: "D0FAKE" + secrets.token_hex(3).upper())
    signing_secret: str = "FAKE-slack-signing-" + secrets.token_hex(8)
    bot_token: str = sl.BOT_TOKEN
    channel: str = "slack"

    def registration(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "account_id": self.account_id,
            "secrets": {"bot_token": self.bot_token, "signing_secret": self.signing_secret},
        }

    def secret_values(self) -> list[str]:
        return [self.signing_secret, self.bot_token]

    def inbound_text(
        self,
        text: str,
        message_id: str | None = None,
        account: str | None = None,
        timestamp: int | None = None,
    ) -> Signed:
        ts = message_id or f"{int(time.time())}.{_digits(6)}"
        event_id = "Ev0FAKE" + secrets.token_hex(5).upper()
        payload = sl.event_message_im(
            account or self.account_id, self.dm_channel, self.user, text, ts, event_id
        )
        return sl.signed_webhook(payload, self.signing_secret, timestamp=timestamp)

    def signed_with(self, raw: bytes, secret: str) -> dict[str, str]:
        return sl.signed_request(raw, secret)


def post(url: str, signed: tuple[bytes, dict[str, str]]) -> httpx.Response:
    """POST a signed webhook (its raw body and headers, as a scenario builds them) to ``url``."""
    raw, headers = signed
    return httpx.post(url, content=raw, headers=headers)
