"""Alerts by SMS through a Twilio-compatible Messages API.

One ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json``, form-encoded ``To``, ``From`` and
``Body``, HTTP Basic auth with the account SID and auth token; Twilio answers 201 with the
message resource. 429, 5xx or no answer is ``AlertNotSent``; another 4xx (a bad number, bad
credentials) is ``AlertRefused``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from channels.alerts import Alert, AlertNotSent, AlertRefused

TOO_MANY_REQUESTS = 429
# An SMS of more than this many characters is sent as several, each one billed.
MAX_BODY_CHARS = 320


@dataclass(frozen=True)
class SmsAccount:
    base_url: str
    account_sid: str
    auth_token: SecretStr
    sender: str

    @property
    def messages_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


def send_sms(client: httpx.Client, account: SmsAccount, to: str, alert: Alert) -> None:
    body = f"{alert.title}: {alert.text}"[:MAX_BODY_CHARS]
    try:
        answer = client.post(
            account.messages_url,
            data={"To": to, "From": account.sender, "Body": body},
            auth=(account.account_sid, account.auth_token.get_secret_value()),
        )
    except httpx.HTTPError as exc:
        raise AlertNotSent(f"the SMS API could not be reached: {type(exc).__name__}") from exc
    if 200 <= answer.status_code < 300:
        return
    if answer.status_code == TOO_MANY_REQUESTS or answer.status_code >= 500:
        raise AlertNotSent(f"the SMS API answered HTTP {answer.status_code}")
    raise AlertRefused(f"the SMS API answered HTTP {answer.status_code}")
