"""Logging set-up shared by every Parley process: one line per record, to stderr."""

from __future__ import annotations

import logging
import os


def configure(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("PARLEY_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
