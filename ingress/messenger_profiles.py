"""A Messenger channel's profile as an admin writes it (Get Started, greeting, persistent menu),
checked against Meta's documented limits so a bad one is a clear 422, never a Graph error later;
and applying it to the page from the admin route.

Limits (Messenger Profile API): Get Started ``payload`` ≤ 1000 characters; greeting ``text`` ≤
160 per locale; a persistent menu per locale with 1 to 20 items, each a ``postback`` (``title`` ≤
30, ``payload`` ≤ 1000) or a ``web_url`` (``title`` ≤ 30, an ``https`` URL: the webview opens
nothing else); greetings and menus each need a ``default`` locale, each locale once; a menu needs
the Get Started button.

Applying is one bounded call (``PARLEY_CHANNEL_SEND_TIMEOUT_SECONDS``) from the admin route, which
is the one place the ingress calls a provider inline: the admin waits for its answer, and the
result is kept on the channel (``profile``: ``applied``, or ``failed`` with the error), so a
refused or unreachable Graph is visible instead of a 5xx. Saving again retries it.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from channels.base import ChannelError
from channels.messenger_profile import apply_profile
from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig
from core.timeutil import utcnow

# Meta's locales: "default", or a language and region such as en_US.
LOCALE = r"^(default|[a-z]{2}_[A-Z]{2})$"
_STRICT = ConfigDict(extra="forbid", strict=True)


class GetStarted(BaseModel):
    model_config = _STRICT
    payload: str = Field(min_length=1, max_length=1000)


class Greeting(BaseModel):
    model_config = _STRICT
    locale: str = Field(pattern=LOCALE)
    text: str = Field(min_length=1, max_length=160)


class MenuItem(BaseModel):
    model_config = _STRICT
    type: Literal["postback", "web_url"]
    title: str = Field(min_length=1, max_length=30)
    payload: str | None = Field(default=None, min_length=1, max_length=1000)
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    webview_height_ratio: Literal["compact", "tall", "full"] | None = None

    @model_validator(mode="after")
    def _has_what_its_type_needs(self) -> MenuItem:
        if self.type == "postback" and (self.payload is None or self.url is not None):
            raise ValueError("a postback item has a payload and no url")
        if self.type == "web_url":
            if self.url is None or self.payload is not None:
                raise ValueError("a web_url item has a url and no payload")
            parts = urlsplit(self.url)
            if parts.scheme != "https" or not parts.hostname:
                raise ValueError("a web_url item's url must be an https URL with a host")
        return self


class Menu(BaseModel):
    model_config = _STRICT
    locale: str = Field(pattern=LOCALE)
    composer_input_disabled: bool = False
    call_to_actions: list[MenuItem] = Field(min_length=1, max_length=20)


class MessengerProfileIn(BaseModel):
    """What the page shows before and around a conversation; any part may be left out."""

    model_config = _STRICT
    get_started: GetStarted | None = None
    greeting: list[Greeting] | None = Field(default=None, min_length=1, max_length=100)
    persistent_menu: list[Menu] | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("greeting", "persistent_menu")
    @classmethod
    def _one_per_locale_and_a_default(cls, items: list[Any] | None) -> list[Any] | None:
        if items is None:
            return None
        locales = [item.locale for item in items]
        if "default" not in locales:
            raise ValueError("one entry must have the locale 'default'")
        if len(set(locales)) != len(locales):
            raise ValueError("each locale may appear once")
        return items

    @model_validator(mode="after")
    def _menu_needs_get_started(self) -> MessengerProfileIn:
        if self.persistent_menu is not None and self.get_started is None:
            raise ValueError(
                "a persistent_menu needs get_started (Messenger shows no menu without it)"
            )
        return self

    def wire(self) -> dict[str, Any]:
        """The profile as Graph takes it: unset parts and fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


_SECRETISH = re.compile(r"(access_token=)[^&\s]+")


def apply(
    profile: dict[str, Any], config: ChannelConfig, runtime: ChannelRuntime
) -> dict[str, Any]:
    """Apply ``profile`` to the page; the outcome to keep on the channel, never raised."""
    try:
        apply_profile(profile, config, runtime)
    except ChannelError as exc:
        error = _SECRETISH.sub(r"\1…", str(exc))[:300]
        return {"state": "failed", "at": utcnow(), "error": error}
    return {"state": "applied", "at": utcnow()}
