"""The Teams activities that are not a user's message but change the bot's place: installed or
removed (``conversationUpdate`` naming the bot itself in ``membersAdded``/``membersRemoved``, and
``installationUpdate`` ``add``/``remove``), others joining or leaving, and meetings starting and
ending (``event`` activities ``application/vnd.microsoft.meetingStart``/``meetingEnd``).

Teams tells an install twice (a conversationUpdate and an installationUpdate, with different
ids); both are kept, each with its ``source``, and the channel's state is the same after either.
A meeting's details arrive with Pascal-case names (``Id``, ``MeetingType``, ``Title``,
``StartTime``/``EndTime``); the join URL is left out: it lets anyone holding it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.teams_activity import listed, mapping, timestamp
from core.envelopes import ChannelEvent, ChannelEventKind

MEETING_START = "application/vnd.microsoft.meetingStart"
MEETING_END = "application/vnd.microsoft.meetingEnd"
MEETING_EVENTS = {
    MEETING_START: (ChannelEventKind.MEETING_STARTED, "StartTime"),
    MEETING_END: (ChannelEventKind.MEETING_ENDED, "EndTime"),
}


def lifecycle_events(
    activity: Mapping[str, Any], account_id: str, bot_id: str
) -> list[ChannelEvent]:
    """The lifecycle events one activity carries; none for anything else."""
    kind = activity.get("type")
    activity_id = str(activity.get("id") or "")
    if not activity_id:
        return []
    if kind == "conversationUpdate":
        return _conversation_update(activity, account_id, bot_id, activity_id)
    if kind == "installationUpdate":
        action = str(activity.get("action") or "")
        if action.startswith("add"):  # add, add-upgrade
            return [_event(ChannelEventKind.INSTALLED, activity, account_id, activity_id)]
        if action == "remove":
            return [_event(ChannelEventKind.UNINSTALLED, activity, account_id, activity_id)]
        return []
    if kind == "event" and activity.get("name") in MEETING_EVENTS:
        return [_meeting(activity, account_id, activity_id)]
    return []


def _conversation_update(
    activity: Mapping[str, Any], account_id: str, bot_id: str, activity_id: str
) -> list[ChannelEvent]:
    added = [str(mapping(m).get("id") or "") for m in listed(activity.get("membersAdded"))]
    removed = [str(mapping(m).get("id") or "") for m in listed(activity.get("membersRemoved"))]
    events: list[ChannelEvent] = []
    if bot_id in added:
        events.append(_event(ChannelEventKind.INSTALLED, activity, account_id, activity_id))
    if bot_id in removed:
        events.append(_event(ChannelEventKind.UNINSTALLED, activity, account_id, activity_id))
    others_added = len([m for m in added if m and m != bot_id])
    others_removed = len([m for m in removed if m and m != bot_id])
    if others_added or others_removed:
        counts = {"added": others_added, "removed": others_removed}
        events.append(
            _event(ChannelEventKind.MEMBERS_CHANGED, activity, account_id, activity_id, counts)
        )
    return events


def _meeting(activity: Mapping[str, Any], account_id: str, activity_id: str) -> ChannelEvent:
    kind, time_field = MEETING_EVENTS[str(activity["name"])]
    value = mapping(activity.get("value"))
    meeting = mapping(mapping(activity.get("channelData")).get("meeting"))
    detail = {
        "meeting_id": _field(value, "Id") or meeting.get("id"),
        "meeting_type": _field(value, "MeetingType"),
        "title": _field(value, "Title"),
    }
    at = timestamp(_field(value, time_field)) or timestamp(activity.get("timestamp"))
    return _event(kind, activity, account_id, activity_id, detail, at)


def _event(
    kind: ChannelEventKind,
    activity: Mapping[str, Any],
    account_id: str,
    activity_id: str,
    detail: Mapping[str, Any] | None = None,
    at: Any = None,
) -> ChannelEvent:
    conversation = mapping(activity.get("conversation"))
    channel_data = mapping(activity.get("channelData"))
    facts: dict[str, Any] = {
        "source": str(activity.get("type")),
        "conversation_type": conversation.get("conversationType"),
        "team_id": mapping(channel_data.get("team")).get("id"),
        **(detail or {}),
    }
    return ChannelEvent(
        kind=kind,
        account_id=account_id,
        # One activity can be two events (the bot and others added together): the kind keeps
        # their ids apart.
        event_id=f"{activity_id}:{kind.value}",
        conversation_id=str(conversation["id"]) if conversation.get("id") else None,
        detail=facts,
        at=at or timestamp(activity.get("timestamp")),
    )


def _field(value: Mapping[str, Any], name: str) -> Any:
    """A meeting detail by its Pascal-case wire name, or its camel-case spelling."""
    return value.get(name) if name in value else value.get(name[0].lower() + name[1:])
