"""What the Bot Connector refuses in a message's Adaptive Card attachments, for the Teams fake.

Teams renders Adaptive Cards up to schema 1.5; a card of another version, an element or action
type outside the schema, a TextBlock without text, an Image or ``Action.OpenUrl`` without a URL
is refused as ``BadArgument``. Hero cards and other attachments pass unchecked.
"""

from __future__ import annotations

from typing import Any

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
VERSIONS = frozenset({"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"})
ELEMENTS = frozenset(
    {"TextBlock", "Image", "Container", "ColumnSet", "Column", "FactSet", "ImageSet"}
    | {"ActionSet", "RichTextBlock", "Media", "Table"}
    | {"Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle", "Input.ChoiceSet"}
)
ACTIONS = frozenset(
    {"Action.OpenUrl", "Action.Submit", "Action.Execute", "Action.ShowCard"}
    | {"Action.ToggleVisibility"}
)


def card_problem(activity: dict[str, Any]) -> str | None:
    """Why the connector would refuse the activity's Adaptive Cards, or None."""
    for n, attachment in enumerate(activity.get("attachments") or []):
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE_CARD:
            continue
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return f"attachments[{n}]: the content is not an AdaptiveCard"
        if card.get("version") not in VERSIONS:
            return f"attachments[{n}]: unsupported card version {card.get('version')!r}"
        for element in card.get("body") or []:
            problem = _element(element)
            if problem:
                return f"attachments[{n}].body: {problem}"
        for action in card.get("actions") or []:
            problem = _action(action)
            if problem:
                return f"attachments[{n}].actions: {problem}"
    return None


def _element(element: Any) -> str | None:
    kind = element.get("type") if isinstance(element, dict) else None
    if kind not in ELEMENTS:
        return f"unknown element type {kind!r}"
    if kind == "TextBlock" and not str(element.get("text") or "").strip():
        return "a TextBlock needs text"
    if kind == "Image" and not str(element.get("url") or ""):
        return "an Image needs a url"
    return None


def _action(action: Any) -> str | None:
    kind = action.get("type") if isinstance(action, dict) else None
    if kind not in ACTIONS:
        return f"unknown action type {kind!r}"
    if kind == "Action.OpenUrl" and not str(action.get("url") or "").startswith(
        ("https://", "http://", "tel:", "mailto:")
    ):
        return "an Action.OpenUrl needs a url"
    return None
