"""A WhatsApp Business account's message templates: read from Graph, and sends checked against them.

Graph lists them at ``GET /{waba-id}/message_templates?fields=name,language,status,category,
components``, a page at a time (``paging.cursors.after`` while ``paging.next`` is there). What
Parley keeps of each is how many parameters its header, body and each button take, so a
template part with the wrong count (or a template that is unknown, or not ``APPROVED``) is
refused before any send, with the reason, instead of by Graph (132000, 132001) after one.

The WABA id is the WhatsApp channel config's ``business_account_id`` option.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote as percent_encode

import httpx

from channels.base import SendFailed, SendRejected
from channels.meta import graph_error
from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig
from core.retry_after import retry_after_seconds
from core.templates import BUSINESS_ACCOUNT_OPTION, MessageTemplate, business_account_id

FIELDS = "name,language,status,category,components"
PAGE_SIZE = 100
MAX_PAGES = 50  # 5,000 templates: far more than Meta lets an account keep
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_MEDIA_FORMATS = frozenset({"IMAGE", "VIDEO", "DOCUMENT", "LOCATION"})


def fetch_templates(config: ChannelConfig, runtime: ChannelRuntime) -> list[MessageTemplate]:
    """Every template of the config's WhatsApp Business account, all pages."""
    waba = business_account_id(config)
    if waba is None:
        raise SendRejected(f"the WhatsApp channel config has no {BUSINESS_ACCOUNT_OPTION} option")
    token = config.secrets.get("access_token", "")
    if not token:
        raise SendRejected("the WhatsApp channel config has no access token")
    url = (
        f"{runtime.urls.whatsapp_api.rstrip('/')}/{percent_encode(waba, safe='')}/message_templates"
    )
    params: dict[str, str | int] = {"fields": FIELDS, "limit": PAGE_SIZE}
    found: list[MessageTemplate] = []
    for _ in range(MAX_PAGES):
        page = _get(runtime, url, params, token)
        found += [t for t in map(_template, _records(page.get("data"))) if t is not None]
        paging = _object(page.get("paging"))
        after = _object(paging.get("cursors")).get("after")
        if not paging.get("next") or not isinstance(after, str) or not after:
            break
        params = {**params, "after": after}
    return found


def _get(runtime: ChannelRuntime, url: str, params: dict[str, Any], token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = runtime.http.get(
            url, params=params, headers=headers, timeout=runtime.send_timeout
        )
    except httpx.TimeoutException as exc:
        raise SendFailed("reading the WhatsApp templates timed out") from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"reading the WhatsApp templates failed: {type(exc).__name__}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not response.is_success:
        raise graph_error(
            response.status_code, answer, retry_after_seconds(response.headers), frozenset({100})
        )
    if not isinstance(answer, dict):
        raise SendFailed("Graph answered the template list without a JSON object")
    return answer


def _template(item: dict[str, Any]) -> MessageTemplate | None:
    name, language = item.get("name"), item.get("language")
    if not isinstance(name, str) or not name or not isinstance(language, str) or not language:
        return None
    return MessageTemplate(
        name=name,
        language=language,
        status=str(item.get("status") or ""),
        category=str(item.get("category") or ""),
        parameters=parameter_counts(_records(item.get("components"))),
    )


def parameter_counts(components: list[dict[str, Any]]) -> dict[str, int]:
    """How many parameters a send must give each component of a template definition."""
    counts: dict[str, int] = {}
    for component in components:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            media = str(component.get("format", "")).upper() in _MEDIA_FORMATS
            counts["header"] = 1 if media else _placeholders(component.get("text"))
        elif kind == "BODY":
            counts["body"] = _placeholders(component.get("text"))
        elif kind == "BUTTONS":
            for index, button in enumerate(_records(component.get("buttons"))):
                if str(button.get("type", "")).upper() == "QUICK_REPLY":
                    counts[f"button:{index}"] = 1  # its payload
                elif _placeholders(button.get("url")):
                    counts[f"button:{index}"] = 1  # the URL's dynamic suffix
    return {key: count for key, count in counts.items() if count}


def _placeholders(text: Any) -> int:
    return len(set(_PLACEHOLDER.findall(text))) if isinstance(text, str) else 0


def _records(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
