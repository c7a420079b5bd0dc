"""The explicit registry of channel adapters; the webhook routes and deliver stage look up here."""

from __future__ import annotations

from dataclasses import dataclass

from channels.api import ApiChannel
from channels.base import (
    ChannelAdapter,
    ChoiceAdapter,
    TypingAdapter,
    UnknownChannel,
    WebhookAdapter,
)
from channels.messenger import MESSENGER
from channels.slack import SLACK
from channels.teams import TEAMS
from channels.web import WEB
from channels.whatsapp import WHATSAPP

# The channels whose providers post to ``/webhooks/{channel}/…``.
WEBHOOK_ADAPTERS: dict[str, WebhookAdapter] = {
    "whatsapp": WHATSAPP,
    "messenger": MESSENGER,
    "slack": SLACK,
    "teams": TEAMS,
}
# Every channel the deliver stage can answer on.
ADAPTERS: dict[str, ChannelAdapter] = {
    "api": ApiChannel(name="api"),
    "web": WEB,
    **WEBHOOK_ADAPTERS,
}
# The channels that show partial text: the generate stage streams their replies as they are
# written. The others get whole replies, with a typing indicator where the channel has one.
STREAMING_CHANNELS = frozenset({"web"})
# The channels that can show a typing indicator (Slack's bots cannot: see ``TypingAdapter``).
TYPING_ADAPTERS: dict[str, TypingAdapter] = {
    "whatsapp": WHATSAPP,
    "messenger": MESSENGER,
    "teams": TEAMS,
}

# The channels that update a clicked message to show the choice made on it.
CHOICE_ADAPTERS: dict[str, ChoiceAdapter] = {"slack": SLACK}


@dataclass(frozen=True)
class ChannelSpec:
    """What a tenant must give to connect a provider account."""

    account_id: str  # what the provider calls the account our webhooks name
    secrets: tuple[str, ...]
    options: tuple[str, ...] = ()


SPECS: dict[str, ChannelSpec] = {
    "whatsapp": ChannelSpec(
        "phone_number_id",
        ("access_token", "app_secret", "verify_token"),
        ("quote_replies", "list_button_label", "business_account_id"),
    ),
    "messenger": ChannelSpec("page_id", ("page_token", "app_secret", "verify_token")),
    "slack": ChannelSpec("team_id", ("bot_token", "signing_secret")),
    "teams": ChannelSpec("app_id", ("app_password",), ("azure_tenant",)),
}


def adapter_for(channel: str) -> ChannelAdapter:
    try:
        return ADAPTERS[channel]
    except KeyError:
        raise UnknownChannel(f"no channel adapter named {channel!r}") from None


def webhook_adapter_for(channel: str) -> WebhookAdapter:
    try:
        return WEBHOOK_ADAPTERS[channel]
    except KeyError:
        raise UnknownChannel(f"no channel named {channel!r} takes webhooks") from None


def spec_for(channel: str) -> ChannelSpec:
    try:
        return SPECS[channel]
    except KeyError:
        raise UnknownChannel(f"no connectable channel named {channel!r}") from None
