"""Runs the reference Analytics Engine: its fact stream and its HTTP summary, until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from core.errors import ConfigurationError
from core.jwt_verifier import JwtVerifier
from core.logs import configure as configure_logging
from core.settings import get_settings
from services.analytics_engine.http_api import make_server
from services.analytics_engine.stream import FACTS_COLLECTION, FactStream
from storage.analytics import AnalyticsRepository
from storage.analytics_report import AnalyticsReport
from storage.mongo import connect, database, ensure_indexes

DEFAULT_PORT = 8091
GROUP = "analytics-engine"  # after PARLEY_CONSUMER_GROUP_PREFIX

log = logging.getLogger("parley.analytics_engine")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.analytics_engine``."""
    configure_logging()
    parser = argparse.ArgumentParser(
        prog="python -m services.analytics_engine", description=__doc__
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        verifier = JwtVerifier.from_settings(settings)
    except ConfigurationError as exc:
        sys.exit(f"analytics engine: {exc}")
    mongo = connect(settings)
    db = database(mongo, settings)
    ensure_indexes(db)
    stream = FactStream(db, settings.kafka_bootstrap, settings.consumer_group_prefix + GROUP)
    report = AnalyticsReport(AnalyticsRepository(db, FACTS_COLLECTION))
    server = make_server(args.host, args.port, report, verifier)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()

    def stop(signum: int, frame: FrameType | None) -> None:
        stream.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("Analytics Engine serving on %s:%d", args.host, server.server_address[1])
    try:
        stream.run()
    finally:
        server.shutdown()
        server.server_close()
        mongo.close()
