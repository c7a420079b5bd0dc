"""What the request said about the user's client, for the web channel: the user agent as
browser, OS and device (ua-parser, with its rules shipped in ua-parser-builtins), and the client
IP, valid or nothing. The ingress decides which address to trust; this only checks it."""

from __future__ import annotations

import ipaddress
from typing import Any

import ua_parser

from processors.base import Kind, Stage, Work

_MAX_USER_AGENT = 512  # longer is not a browser's: not worth the parser's time


def _version(family: str | None, *parts: str | None) -> str | None:
    if not family or family == "Other":
        return None
    numbers = ".".join(p for p in parts if p)
    return f"{family} {numbers}" if numbers else family


def user_agent(header: str) -> dict[str, str | None]:
    parsed = ua_parser.parse(header[:_MAX_USER_AGENT])
    browser, system, device = parsed.user_agent, parsed.os, parsed.device
    return {
        "browser": _version(browser.family, browser.major, browser.minor) if browser else None,
        "os": _version(system.family, system.major, system.minor) if system else None,
        "device": _version(device.family) if device else None,
    }


def client_ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


class MetadataNormaliser:
    name = "metadata"
    stage = Stage.NORMALISATION
    kinds = frozenset(Kind)
    timeout_ms = 2000  # the parser compiles its rules on first use in each process

    def run(self, work: Work) -> None:
        if work.channel != "web":
            return
        header = work.metadata.get("user_agent")
        work.results[self.name] = {
            "user_agent": user_agent(header) if isinstance(header, str) and header else None,
            "client_ip": client_ip(work.metadata.get("client_ip")),
        }


METADATA = MetadataNormaliser()
