"""What Slack checks in a message's Block Kit ``blocks`` before it posts one, for the fake.

Each problem is one of Slack's error strings with a JSON pointer to the offending field, the way
``chat.postMessage`` lists them beside ``"error": "invalid_blocks"``:
``"must be a valid URL [json-pointer:/blocks/1/elements/0/url]"``. Only the block and element
types Parley posts are known in depth (section, header, image, actions, divider, context, with
button and image elements); a block type Slack has no such name for is an error.
"""

from __future__ import annotations

from typing import Any

BLOCK_TYPES = frozenset(
    {"section", "header", "image", "actions", "divider", "context", "rich_text", "video", "file"}
)
MAX_BLOCKS = 50
LIMITS = {"section": 3000, "header": 150, "button": 75, "alt_text": 2000, "url": 3000}
VALUE_LIMIT = 2000
ACTION_ID_LIMIT = 255
ELEMENTS_PER_ACTIONS = 25


def block_errors(blocks: Any) -> list[str]:
    """Slack's errors for ``blocks``; none when it would post them."""
    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for n, block in enumerate(blocks):
        errors.extend(_block(block, f"/blocks/{n}"))
    return errors


def _error(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _block(block: Any, at: str) -> list[str]:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return [_error("must be a valid enum value", f"{at}/type")]
    kind = block["type"]
    if kind == "section":
        errors = [] if "fields" in block else _text(block.get("text"), f"{at}/text", "section")
        if "accessory" in block:
            errors += _element(block["accessory"], f"{at}/accessory")
        return errors
    if kind == "header":
        return _text(block.get("text"), f"{at}/text", "header", plain=True)
    if kind == "image":
        return _image(block, at)
    if kind == "actions":
        return _actions(block.get("elements"), at)
    return []


def _text(text: Any, at: str, limit: str, plain: bool = False) -> list[str]:
    kinds = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if not isinstance(text, dict) or text.get("type") not in kinds:
        return [_error("must provide an object with a valid text type", at)]
    body = text.get("text")
    if not isinstance(body, str) or not body.strip():
        return [_error("must be more than 0 characters", f"{at}/text")]
    if len(body) > LIMITS[limit]:
        return [_error(f"must be less than {LIMITS[limit] + 1} characters", f"{at}/text")]
    return []


def _image(image: dict[str, Any], at: str) -> list[str]:
    errors = _url(image.get("image_url"), f"{at}/image_url")
    alt = image.get("alt_text")
    if not isinstance(alt, str) or not alt or len(alt) > LIMITS["alt_text"]:
        errors.append(_error("must provide a string of 1 to 2000 characters", f"{at}/alt_text"))
    return errors


def _actions(elements: Any, at: str) -> list[str]:
    if not isinstance(elements, list) or not 1 <= len(elements) <= ELEMENTS_PER_ACTIONS:
        return [_error("must provide 1 to 25 elements", f"{at}/elements")]
    errors: list[str] = []
    ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
    if len(ids) != len(set(ids)):
        errors.append(_error("action_id must be unique in the block", f"{at}/elements"))
    for n, element in enumerate(elements):
        errors.extend(_element(element, f"{at}/elements/{n}"))
    return errors


def _element(element: Any, at: str) -> list[str]:
    if not isinstance(element, dict):
        return [_error("must provide an object", at)]
    if element.get("type") == "image":
        return _image(element, at)
    if element.get("type") != "button":
        return [_error("must be a valid enum value", f"{at}/type")]
    errors = _text(element.get("text"), f"{at}/text", "button", plain=True)
    if "url" in element:
        errors += _url(element["url"], f"{at}/url")
    value = element.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > VALUE_LIMIT):
        errors.append(_error("must be less than 2001 characters", f"{at}/value"))
    if len(str(element.get("action_id", ""))) > ACTION_ID_LIMIT:
        errors.append(_error("must be less than 256 characters", f"{at}/action_id"))
    return errors


def _url(url: Any, at: str) -> list[str]:
    valid = isinstance(url, str) and url.startswith(("https://", "http://"))
    if not valid or len(url) > LIMITS["url"]:
        return [_error("must be a valid URL", at)]
    return []
