"""A Teams Adaptive Card ``Action.Execute``: the ``invoke`` activity named ``adaptiveCard/action``.

Teams waits for the answer in the HTTP response to that very POST, and gives up after about
five seconds (the invoke limit Microsoft documents for card and message-extension actions;
other activities have the Bot Connector's fifteen). So the answer is built here, from the
activity alone, with no call out: the card refreshed to show the choice, "✓ <choice>", in an
invoke response (``statusCode`` 200, ``type`` ``application/vnd.microsoft.card.adaptive``).
The action is also the user's next turn, which the bot answers as it answers any message.

The action's ``data`` is the card's own: ``id`` (or ``payload``, else the ``verb``) names the
option and ``title`` is what the user chose, as Parley's buttons carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.teams_activity import mapping, reply_to_of, timestamp
from channels.teams_format import ADAPTIVE_CARD_VERSION
from core.envelopes import InboundMessage, Webhook

ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = ADAPTIVE_CARD_VERSION  # Universal Actions' (channels/teams_format.py)
CHOSEN = "✓"
# An invoke that is not a usable Action.Execute still gets an invoke response, Teams' error kind.
INVALID_ACTION = {
    "statusCode": 400,
    "type": "application/vnd.microsoft.error",
    "value": {"code": "BadRequest", "message": "not an Action.Execute this bot can take"},
}


def card_action(value: Any) -> tuple[str, str, dict[str, Any]] | None:
    """(option id, title, data) of an ``Action.Execute``'s invoke ``value``; None when it is
    not one (no action, or another action type)."""
    action = value.get("action") if isinstance(value, Mapping) else None
    if not isinstance(action, Mapping) or action.get("type") != "Action.Execute":
        return None
    raw = action.get("data")
    data = dict(raw) if isinstance(raw, Mapping) else ({} if raw is None else {"value": raw})
    verb = str(action.get("verb") or "")
    option = str(data.get("id") or data.get("payload") or verb or action.get("id") or "execute")
    title = str(data.get("title") or verb or option)
    return option, title, data


def refreshed_card(title: str) -> dict[str, Any]:
    """The card that replaces the clicked one: the choice, and no buttons left to press."""
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": [{"type": "TextBlock", "text": f"{CHOSEN} {title}", "wrap": True}],
    }


def invoke_response(title: str) -> dict[str, Any]:
    """The HTTP body answering the invoke: an ``AdaptiveCardInvokeResponse``."""
    return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": refreshed_card(title)}


def card_execute(activity: Mapping[str, Any], account_id: str, bot_id: str) -> Webhook:
    """An ``Action.Execute``: the user's next turn, and the refreshed card to answer with now."""
    accounts = frozenset({account_id}) if account_id else frozenset()
    found = card_action(activity.get("value"))
    sender = mapping(activity.get("from"))
    user_id, activity_id = str(sender.get("id") or ""), str(activity.get("id") or "")
    if found is None or not user_id or not activity_id or user_id == bot_id:
        return Webhook(account_ids=accounts, response=INVALID_ACTION)
    option, title, data = found
    # The answer goes under the card's message (replyToId), where the user clicked.
    under = str(activity.get("replyToId") or activity_id)
    message = InboundMessage(
        provider_message_id=activity_id,
        account_id=account_id,
        user_id=user_id,
        kind="interactive",
        text=title,
        content={"type": "card_action", "id": option, "title": title, "values": data},
        reply_to=reply_to_of(activity, bot_id, under),
        user_name=str(sender["name"]) if sender.get("name") else None,
        sent_at=timestamp(activity.get("timestamp")),
    )
    return Webhook(messages=[message], account_ids=accounts, response=invoke_response(title))
