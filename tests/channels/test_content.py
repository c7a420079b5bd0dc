"""The one shared degradation: every part kind as plain text, with nothing dropped."""

from __future__ import annotations

from typing import Any

import pytest

from channels.content import button_action, degrade_to_text, map_link


@pytest.mark.parametrize(
    ("part", "text"),
    [
        (
            {"type": "buttons", "text": "Next?", "buttons": [
                {"title": "Site", "url": "https://x.example"},
                {"title": "Call", "phone": "+15550100100"},
                {"title": "Later", "payload": "LATER"},
            ]},
            "Next?\n1. Site https://x.example\n2. Call +15550100100\n3. Later",
        ),
        (
            {"type": "list", "text": "Shoes", "items": [
                {"title": "Ridge", "subtitle": "Light", "image_url": "https://x.example/r.jpg",
                 "buttons": [{"title": "View", "url": "https://x.example/r"}]},
                {"payload": "CANYON"},
            ]},
            "Shoes\n1. Ridge — Light\nhttps://x.example/r.jpg\n   1. View https://x.example/r"
            "\n2. CANYON",
        ),
        (
            {"type": "location", "latitude": -33.8568, "longitude": 151.2153, "name": "Opera",
             "address": "Bennelong Point"},
            "Opera\nBennelong Point\n"
            "https://www.google.com/maps/search/?api=1&query=-33.8568,151.2153",
        ),
        ({"type": "location", "latitude": 91.0, "longitude": 0.0, "name": "Nowhere"}, "Nowhere"),
        (
            {"type": "file", "url": "https://x.example/m.pdf", "filename": "m.pdf",
             "caption": "Menu"},
            "Menu m.pdf https://x.example/m.pdf",
        ),
        (
            {"type": "template", "name": "order_shipped_v1", "language": "en_US", "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "x"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                                {"type": "text", "text": "#1234"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "OK"}]},
            ]},
            "Ada\n#1234",
        ),
    ],
    ids=["buttons", "list", "location", "location-out-of-range", "file", "template"],
)  # fmt: skip
def test_every_part_degrades_to_text_that_keeps_what_it_says(
    part: dict[str, Any], text: str
) -> None:
    assert degrade_to_text([part]) == text


def test_a_button_is_a_link_a_call_or_a_postback_in_that_order() -> None:
    both = {"title": "x", "url": "https://x.example", "phone": "+1555", "payload": "P"}
    assert button_action(both) == "link"
    assert button_action({"title": "x", "phone": "+1555", "payload": "P"}) == "call"
    assert button_action({"title": "x", "payload": "P"}) == "postback"
    assert button_action({"title": "x", "url": "", "phone": ""}) == "postback"


def test_a_location_without_both_coordinates_has_no_map_link() -> None:
    assert map_link({"type": "location", "latitude": 1.0}) == ""
    assert map_link({"type": "location", "latitude": 0.0, "longitude": 0.0}).endswith("=0.0,0.0")
