"""The normalisers: what validation refuses, the noise the message normaliser removes, the
characters the content normaliser repairs and cuts, and the web client the metadata one reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from processors.base import Kind, Refused, Work
from processors.normalise.content import CHANNEL_LIMITS, CONTENT
from processors.normalise.message import MESSAGE
from processors.normalise.metadata import METADATA
from processors.normalise.validation import HARD_LIMIT_CHARS, VALIDATION

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def work(text: str, channel: str = "api", kind: Kind = Kind.TEXT, **kw: Any) -> Work:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    return Work("acme", "m-1", channel, kind, text, at, **kw)


@pytest.mark.parametrize(
    "message",
    [
        work(" \n\t"),
        work("\u200b\x07 "),
        work("", kind=Kind.INTERACTIVE),
        work("", kind=Kind.MEDIA, content={"caption": "hi"}),
        work("", kind=Kind.MEDIA, content={"attachments": []}),
        work("", kind=Kind.LOCATION, content={"name": "somewhere"}),
        work("x" * (HARD_LIMIT_CHARS + 1)),
    ],
)
def test_validation_refuses_a_message_with_nothing_to_answer_or_far_too_long(
    message: Work,
) -> None:
    with pytest.raises(Refused) as refused:
        VALIDATION.run(message)
    assert refused.value.reason == "invalid" and refused.value.reply


def test_validation_lets_media_and_locations_without_text_through() -> None:
    VALIDATION.run(work("", kind=Kind.MEDIA, content={"media_id": "wamid-1"}))
    VALIDATION.run(work("", kind=Kind.MEDIA, content={"attachments": [{"upload_id": "u"}]}))
    VALIDATION.run(work("", kind=Kind.LOCATION, content={"latitude": 0.0, "longitude": 0.0}))
    VALIDATION.run(work("hi"))


def test_an_email_signature_and_a_leading_quote_are_removed_and_named() -> None:
    message = work("> you said\n> before\nYes, cancel it please.\n-- \nJean Dupont\nACME Ltd")

    MESSAGE.run(message)

    assert message.text == "Yes, cancel it please."
    assert message.results["message"] == {"removed": ["quote", "signature"]}


def test_a_teams_reply_quote_goes_but_other_channels_keep_html_as_written() -> None:
    quoted = '<blockquote itemtype="http://schema.skype.com/Reply">old</blockquote>New question'
    teams, api = work(quoted, channel="teams"), work(quoted)

    MESSAGE.run(teams)
    MESSAGE.run(api)

    assert (teams.text, teams.results["message"]) == ("New question", {"removed": ["quote"]})
    assert (api.text, api.results["message"]) == (quoted, {"removed": []})


def test_a_message_that_is_only_a_quote_keeps_its_text() -> None:
    message = work("> just this")

    MESSAGE.run(message)

    assert (message.text, message.results["message"]) == ("> just this", {"removed": []})


def test_content_composes_drops_control_characters_and_collapses_spaces() -> None:
    message = work("  Cafe\u0301\u00a0 au   lait?\u200b\x07\n\n\n\nsecond  line ")

    CONTENT.run(message)

    assert message.text == "Café au lait?\n\nsecond line"
    assert message.results["content"] == {"repaired": False, "truncated": False}


def test_content_repairs_mojibake_but_keeps_what_the_user_typed() -> None:
    # curly quotes, full-width letters, a ligature and a family emoji stay as they were
    typed = "\u2018quoted\u2019 \uff21\uff22 \ufb01ne 👨\u200d👩\u200d👧"
    message = work("CafÃ© â€œ" + typed)

    CONTENT.run(message)

    assert message.text == "Café \u201c" + typed
    assert message.results["content"]["repaired"] is True


def test_content_cuts_the_text_to_the_channels_own_limit() -> None:
    limit = CHANNEL_LIMITS["messenger"]
    message = work("a" * (limit + 10), channel="messenger")

    CONTENT.run(message)

    assert len(message.text) == limit
    assert message.results["content"] == {"repaired": False, "truncated": True}


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (CHROME, {"browser": "Chrome 120.0", "os": "Windows 10", "device": None}),
        (IPHONE, {"browser": "Mobile Safari 17.0", "os": "iOS 17.0", "device": "iPhone"}),
    ],
)
def test_a_web_visitors_user_agent_is_read_as_browser_os_and_device(
    agent: str, expected: dict[str, Any]
) -> None:
    message = work("hi", channel="web", metadata={"user_agent": agent, "client_ip": "2001:db8::1"})

    METADATA.run(message)

    assert message.results["metadata"] == {"user_agent": expected, "client_ip": "2001:db8::1"}


def test_a_client_ip_that_is_no_address_is_dropped_and_other_channels_get_nothing() -> None:
    web = work("hi", channel="web", metadata={"client_ip": "203.0.113.9, 10.0.0.1"})
    whatsapp = work("hi", channel="whatsapp", metadata={"client_ip": "203.0.113.9"})

    METADATA.run(web)
    METADATA.run(whatsapp)

    assert web.results["metadata"] == {"user_agent": None, "client_ip": None}
    assert "metadata" not in whatsapp.results
