"""``parley consume <handler>`` and ``parley events dlq list|replay``: the event consumers and
their dead-letter topic from a shell. Each prints one JSON object a line."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _consume(args: argparse.Namespace) -> int:
    from consumers.consume import consume
    from consumers.runtime import until_signalled
    from core.settings import get_settings

    consume(args.handler, get_settings(), until_signalled())
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from consumers.replay import FAILED, listing, replay
    from core.settings import get_settings
    from storage.mongo import connect, database, ensure_indexes

    settings = get_settings()
    client = connect(settings)
    failed = False
    try:
        db = database(client, settings)
        ensure_indexes(db)
        bootstrap, topic = settings.kafka_bootstrap, settings.event_dlq_topic
        if args.action == "list":
            for line in listing(db, bootstrap, topic):
                print(json.dumps(line), flush=True)
        else:
            for line in replay(db, bootstrap, topic, handler=args.handler, event_id=args.id):
                failed = failed or line["outcome"] == FAILED
                print(json.dumps(line), flush=True)
    finally:
        client.close()
    return 1 if failed else 0


def add_parsers(sub: Any) -> None:
    """Adds ``consume`` and ``events`` to the ``parley`` parser's subcommands."""
    from consumers.registry import HANDLERS

    consume = sub.add_parser(
        "consume", help="run one event consumer (its own consumer group) for a handler"
    )
    consume.add_argument("handler", choices=sorted(HANDLERS), help="the handler to run")
    consume.set_defaults(func=_consume)

    events = sub.add_parser("events", help="the event consumers' dead-letter topic")
    events_sub = events.add_subparsers(dest="topic", required=True)
    dlq = events_sub.add_parser("dlq", help="list and replay events a handler failed")
    dlq_sub = dlq.add_subparsers(dest="action", required=True)
    dlq_sub.add_parser(
        "list", help="every parked event: id, type, handler, error, time, replayed or not"
    )
    replay = dlq_sub.add_parser(
        "replay", help="hand parked events back to their handler (each applied once)"
    )
    replay.add_argument("--handler", help="only those this handler failed")
    replay.add_argument("--id", help="only the event of this CloudEvents id")
    dlq.set_defaults(func=_dlq)
