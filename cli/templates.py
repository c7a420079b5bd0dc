"""``parley templates sync|list``: a tenant's WhatsApp message templates, read from Graph.

``sync`` reads every template of each WhatsApp account of the tenant that names its WABA
(``business_account_id``; ``--channel-config`` for one) and stores them as the account's set,
which the deliver stage and ``POST /v1/outbound`` check template sends against.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.errors import ParleyError


def templates(args: argparse.Namespace) -> int:
    from channels.base import ChannelError
    from channels.runtime import runtime_from_settings
    from channels.whatsapp_templates import fetch_templates
    from cli.tenants import _database
    from core.crypto import SecretBox
    from core.settings import get_settings
    from core.templates import business_account_id
    from storage.channel_configs import ChannelConfigRepository
    from storage.templates import TemplateRepository

    settings = get_settings()
    with _database() as db:
        configs = ChannelConfigRepository(db, SecretBox(settings.require_master_key()))
        repo = TemplateRepository(db)
        if args.action == "list":
            for each in repo.list(args.tenant, args.channel_config):
                shown = {k: v for k, v in each.items() if k not in ("_id", "synced_at")}
                print(json.dumps(shown))
            return 0
        wanted = [
            doc
            for doc in configs.list(args.tenant)
            if doc["channel"] == "whatsapp"
            and args.channel_config in (None, doc["_id"])
            and doc.get("options", {}).get("business_account_id")
        ]
        if not wanted:
            raise ParleyError(
                f"tenant {args.tenant} has no WhatsApp channel config with a "
                "business_account_id option"
                + (f" named {args.channel_config}" if args.channel_config else "")
            )
        runtime = runtime_from_settings(settings)
        try:
            for doc in wanted:
                config = configs.for_delivery(args.tenant, doc["_id"])
                try:
                    found = fetch_templates(config, runtime)
                except ChannelError as exc:
                    raise ParleyError(f"{doc['_id']}: {exc}; nothing changed") from None
                stored = repo.replace(args.tenant, doc["_id"], found)
                summary: dict[str, Any] = {
                    "channel_config_id": doc["_id"],
                    "business_account_id": business_account_id(config),
                    "templates": len(stored),
                    "approved": sum(1 for t in stored if t["status"] == "APPROVED"),
                }
                print(json.dumps(summary))
        finally:
            runtime.close()
    return 0


def add_parsers(sub: Any) -> None:
    """Adds ``templates`` to the ``parley`` parser's subcommands."""
    cmd = sub.add_parser("templates", help="sync and list a tenant's WhatsApp message templates")
    actions = cmd.add_subparsers(dest="action", required=True)
    for action, text in (
        ("sync", "read the templates from Graph and store them as each account's set"),
        ("list", "the stored templates, one JSON object a line"),
    ):
        each = actions.add_parser(action, help=text)
        each.add_argument("--tenant", required=True, help="the tenant")
        each.add_argument("--channel-config", default=None, help="only this channel config")
    cmd.set_defaults(func=templates)
