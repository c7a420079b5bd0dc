"""An SMTP server as a real local process thread (aiosmtpd): it keeps every email it is sent,
and can be stopped and started again on the same port to play a server that is down."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from testenv import free_port


@dataclass(frozen=True)
class Email:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        return body.get_content() if body is not None else ""


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.emails: list[Email] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.emails.append(Email(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Email]:
        with self._arrived:
            return [e for e in self.emails if address in e.recipients]

    def wait_for(self, address: str, count: int, timeout: float = 60.0) -> list[Email]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.to_unlocked(address)) >= count, timeout)
        got = self.to(address)
        assert len(got) >= count, f"{len(got)} of {count} emails to {address} arrived"
        return got

    def to_unlocked(self, address: str) -> list[Email]:
        return [e for e in self.emails if address in e.recipients]

    def env(self) -> dict[str, str]:
        """The settings that send Parley's alert emails here."""
        return {
            "PARLEY_SMTP_HOST": "127.0.0.1",
            "PARLEY_SMTP_PORT": str(self.port),
            "PARLEY_SMTP_FROM": "alerts@parley.test",
            "PARLEY_SMTP_STARTTLS": "false",
        }

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
