"""Alerts by email: one message over SMTP (``PARLEY_SMTP_*``), STARTTLS and a login when set.

An unreachable server, a timeout or a 4xx reply is ``AlertNotSent`` (tried again); a 5xx reply
(a refused sender or recipient) is ``AlertRefused``.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from pydantic import SecretStr

from channels.alerts import Alert, AlertNotSent, AlertRefused


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sender: str
    starttls: bool
    username: str | None
    password: SecretStr | None
    timeout_seconds: float


def send_email(server: SmtpServer, to: str, alert: Alert) -> None:
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = to
    message["Subject"] = alert.title
    message.set_content(alert.text)
    try:
        with smtplib.SMTP(server.host, server.port, timeout=server.timeout_seconds) as smtp:
            if server.starttls:
                smtp.starttls()
            if server.username:
                password = server.password.get_secret_value() if server.password else ""
                smtp.login(server.username, password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise AlertRefused(f"the SMTP server refused the recipient {to}") from exc
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise AlertRefused(f"the SMTP server refused the email ({exc.smtp_code})") from exc
        raise AlertNotSent(f"the SMTP server answered {exc.smtp_code}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertNotSent(f"the SMTP server could not be reached: {type(exc).__name__}") from exc
