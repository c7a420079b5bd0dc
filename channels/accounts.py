"""A provider account is bound only after its credentials prove it: the shape each channel's
account id must have, and the one provider call per channel that proves the secrets are the
account's, made before a channel config is stored.

    ChannelError
    ├── AccountNotProven      the provider refused the credentials, or they are another
    │                         account's (core.errors.PermanentError)          → 422
    └── AccountCheckFailed    the provider could not be asked: unreachable, timed out, 5xx,
                              throttled (core.errors.TransientError)            → 502

    whatsapp   Graph ``GET /{phone_number_id}?fields=id`` with the access token; ``id`` must match
    messenger  Graph ``GET /me?fields=id`` with the page token; ``id`` must be the page id (a
               page token's ``/me`` is its page; ``GET /{page_id}`` also answers tokens that may
               read any public page, so it proves nothing)
    slack      ``auth.test`` with the bot token; ``team_id`` must match
    teams      a Bot Framework client-credentials token for the app id and its password

Error messages name the check and the provider's error code, never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from channels.base import ChannelError, SendRejected
from channels.meta import graph_error
from channels.runtime import ChannelRuntime
from channels.slack_api import RATE_LIMIT_ERRORS, TRANSIENT_ERRORS
from channels.teams_auth import DEFAULT_TENANT, SCOPE
from core.errors import PermanentError, TransientError
from core.retry_after import retry_after_seconds

WHATSAPP_CHECK = "graph-phone-number"
MESSENGER_CHECK = "graph-page-token"
SLACK_CHECK = "slack-auth-test"
TEAMS_CHECK = "bot-framework-token"
_SLACK_RETRYABLE = RATE_LIMIT_ERRORS | TRANSIENT_ERRORS
# Graph codes that refuse these credentials whatever the HTTP status: bad request or no such
# object / no permission on it (100, 10, 2xx), invalid or expired token (190).
_GRAPH_REFUSALS = frozenset({10, 100, 190} | set(range(200, 300)))


class AccountNotProven(ChannelError, PermanentError):
    """The provider did not accept the credentials as the account's; ``check`` names the call."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


class AccountCheckFailed(ChannelError, TransientError):
    """The provider could not be asked whether the credentials are the account's."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


Prover = Callable[[str, Mapping[str, str], Mapping[str, str], ChannelRuntime], None]


@dataclass(frozen=True)
class AccountRule:
    """What a channel's account id looks like, and how its credentials are proven."""

    pattern: re.Pattern[str]
    shape: str  # the pattern in words, for the field error
    check: str  # the proving call, as problems and the docs name it
    prove: Prover
    lower_case: bool = False  # ids compared case-insensitively by the provider


def account_id_for(channel: str, account_id: str) -> str:
    """The account id as stored (GUIDs lower-cased); ValueError if it is not the channel's shape."""
    rule = ACCOUNTS[channel]
    if not rule.pattern.fullmatch(account_id):
        raise ValueError(f"a {channel} account id is {rule.shape}")
    return account_id.lower() if rule.lower_case else account_id


def prove_account(
    channel: str,
    account_id: str,
    secrets: Mapping[str, str],
    options: Mapping[str, str],
    runtime: ChannelRuntime,
) -> str:
    """Ask the provider, with these credentials, whether they are ``account_id``'s; the check
    that proved it. Raises AccountNotProven or AccountCheckFailed."""
    rule = ACCOUNTS[channel]
    rule.prove(account_id, secrets, options, runtime)
    return rule.check


def _prove_whatsapp(
    account_id: str, secrets: Mapping[str, str], options: Mapping[str, str], runtime: ChannelRuntime
) -> None:
    url = f"{runtime.urls.whatsapp_api.rstrip('/')}/{quote(account_id, safe='')}"
    found = _graph_id(url, secrets.get("access_token", ""), WHATSAPP_CHECK, runtime)
    if found != account_id:
        raise AccountNotProven(WHATSAPP_CHECK, f"Graph answered another number than {account_id}")


def _prove_messenger(
    account_id: str, secrets: Mapping[str, str], options: Mapping[str, str], runtime: ChannelRuntime
) -> None:
    url = f"{runtime.urls.messenger_api.rstrip('/')}/me"
    found = _graph_id(url, secrets.get("page_token", ""), MESSENGER_CHECK, runtime)
    if found != account_id:
        raise AccountNotProven(MESSENGER_CHECK, f"the page_token is not page {account_id}'s")


def _graph_id(url: str, token: str, check: str, runtime: ChannelRuntime) -> str:
    """The ``id`` of the Graph object read with ``token`` (sent as a header: URLs get logged)."""
    headers = {"Authorization": f"Bearer {token}"}
    response = _call(runtime, check, "GET", url, params={"fields": "id"}, headers=headers)
    body = _json_object(response)
    status = response.status_code
    if response.is_success:
        if not isinstance(body.get("id"), str | int):
            raise AccountCheckFailed(check, f"Graph answered HTTP {status} without an id")
        return str(body["id"])
    error = graph_error(status, body, retry_after_seconds(response.headers), _GRAPH_REFUSALS)
    if isinstance(error, SendRejected):
        code = f" (Graph error {error.code})" if error.code else ""
        raise AccountNotProven(check, f"Graph refused the token with HTTP {status}{code}")
    raise AccountCheckFailed(check, f"Graph failed with HTTP {status}; retry later")


def _prove_slack(
    account_id: str, secrets: Mapping[str, str], options: Mapping[str, str], runtime: ChannelRuntime
) -> None:
    url = f"{runtime.urls.slack_api.rstrip('/')}/auth.test"
    headers = {"Authorization": f"Bearer {secrets.get('bot_token', '')}"}
    response = _call(runtime, SLACK_CHECK, "POST", url, headers=headers)
    body = _json_object(response)
    status, error = response.status_code, str(body.get("error") or "")
    said = error or f"HTTP {status}"
    if status == 429 or status >= 500 or error in _SLACK_RETRYABLE:
        raise AccountCheckFailed(SLACK_CHECK, f"Slack auth.test failed: {said}; retry later")
    if body.get("ok") is not True and (error or status >= 400):
        raise AccountNotProven(SLACK_CHECK, f"Slack auth.test refused the bot_token: {said}")
    if body.get("ok") is not True:  # a 2xx that is not Slack's answer (a proxy's page)
        raise AccountCheckFailed(SLACK_CHECK, f"Slack auth.test answered HTTP {status}, not JSON")
    if body.get("team_id") != account_id:
        raise AccountNotProven(SLACK_CHECK, f"the bot_token is not team {account_id}'s")


def _prove_teams(
    account_id: str, secrets: Mapping[str, str], options: Mapping[str, str], runtime: ChannelRuntime
) -> None:
    tenant = options.get("azure_tenant") or DEFAULT_TENANT
    url = runtime.urls.teams_token_url.format(tenant=quote(tenant, safe=""))
    form = {
        "grant_type": "client_credentials",
        "client_id": account_id,
        "client_secret": secrets.get("app_password", ""),
        "scope": SCOPE,
    }
    response = _call(runtime, TEAMS_CHECK, "POST", url, data=form)
    body = _json_object(response)
    status = response.status_code
    if status == 429 or status >= 500:
        raise AccountCheckFailed(TEAMS_CHECK, f"the token endpoint failed with HTTP {status}")
    if status != 200:
        said = str(body.get("error") or f"HTTP {status}")
        raise AccountNotProven(TEAMS_CHECK, f"no Bot Framework token for app {account_id}: {said}")
    if not isinstance(body.get("access_token"), str):
        raise AccountCheckFailed(TEAMS_CHECK, "the token endpoint answered without a token")


def _call(
    runtime: ChannelRuntime, check: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    try:
        return runtime.http.request(method, url, timeout=runtime.send_timeout, **kwargs)
    except httpx.TimeoutException as exc:
        raise AccountCheckFailed(check, f"{check} timed out; retry later") from exc
    except httpx.TransportError as exc:
        raise AccountCheckFailed(
            check, f"{check}: provider unreachable ({type(exc).__name__})"
        ) from exc


def _json_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


_META_ID = re.compile(r"[0-9]{1,32}")
ACCOUNTS: dict[str, AccountRule] = {
    "whatsapp": AccountRule(
        _META_ID, "digits only, at most 32 (a phone_number_id)", WHATSAPP_CHECK, _prove_whatsapp
    ),
    "messenger": AccountRule(
        _META_ID, "digits only, at most 32 (a page id)", MESSENGER_CHECK, _prove_messenger
    ),
    "slack": AccountRule(
        re.compile(r"T[A-Z0-9]{1,31}"),
        "T and upper-case letters or digits, at most 32 (a team id)",
        SLACK_CHECK,
        _prove_slack,
    ),
    "teams": AccountRule(
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "a GUID (the bot's Microsoft app id)",
        TEAMS_CHECK,
        _prove_teams,
        lower_case=True,
    ),
}
