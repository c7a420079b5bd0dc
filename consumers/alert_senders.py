"""Sending one alert to one of a rule's targets, with the clients and accounts the settings
give; a target whose channel is not configured is skipped, never an error."""

from __future__ import annotations

import logging

import httpx

from channels.alert_email import SmtpServer, send_email
from channels.alert_slack import send_slack
from channels.alert_sms import SmsAccount, send_sms
from channels.alerts import Alert, AlertRefused, masked_url
from channels.webhook_post import webhook_client
from core.settings import Settings
from storage.notification_rules import EMAIL, SLACK, SMS
from storage.notifications import REFUSED, SENT, SKIPPED

log = logging.getLogger("parley.consumers.notifications")


def label(target: dict[str, str]) -> str:
    """How the alert log names a target: never a Slack URL's secret path."""
    if SLACK in target:
        return f"slack:{masked_url(target[SLACK])}"
    kind = EMAIL if EMAIL in target else SMS
    return f"{kind}:{target[kind]}"


class AlertSenders:
    """This process's alert clients, built from the settings once."""

    def __init__(self, settings: Settings) -> None:
        timeout = settings.alert_timeout_seconds
        self._allow_private = settings.webhooks_allow_private
        self._smtp = (
            SmtpServer(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_from,
                settings.smtp_starttls,
                settings.smtp_username,
                settings.smtp_password,
                timeout,
            )
            if settings.smtp_host
            else None
        )
        self._sms = (
            SmsAccount(
                settings.sms_base_url,
                settings.sms_account_sid,
                settings.sms_auth_token,
                settings.sms_from,
            )
            if settings.sms_account_sid and settings.sms_auth_token and settings.sms_from
            else None
        )
        self._slack_http = webhook_client(self._allow_private, timeout)
        self._sms_http = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)

    def send(self, target: dict[str, str], alert: Alert) -> tuple[str, str | None]:
        """``(outcome, error)``: sent, skipped or refused; ``AlertNotSent`` when it may work
        on a later try."""
        try:
            if SLACK in target:
                send_slack(self._slack_http, target[SLACK], alert, self._allow_private)
            elif EMAIL in target:
                if self._smtp is None:
                    return self._skipped(target, "no SMTP server is configured (PARLEY_SMTP_HOST)")
                send_email(self._smtp, target[EMAIL], alert)
            else:
                if self._sms is None:
                    return self._skipped(
                        target, "no SMS account is configured (PARLEY_SMS_ACCOUNT_SID)"
                    )
                send_sms(self._sms_http, self._sms, target[SMS], alert)
        except AlertRefused as exc:
            log.warning("alert to %s refused: %s", label(target), exc)
            return REFUSED, str(exc)
        return SENT, None

    @staticmethod
    def _skipped(target: dict[str, str], why: str) -> tuple[str, str | None]:
        log.warning("alert to %s skipped: %s", label(target), why)
        return SKIPPED, why

    def close(self) -> None:
        self._slack_http.close()
        self._sms_http.close()
