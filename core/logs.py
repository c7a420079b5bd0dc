"""Logging set-up shared by every Parley process: one line per record, to stderr.

``PARLEY_LOG_FORMAT`` is ``json`` (the default: one JSON object a line, for log pipelines) or
``text`` (for a terminal). Every line carries the work's context (core/log_context.py) when
there is one. Read from the environment, not the settings: logging starts before settings are
read, so a bad setting can itself be logged.
"""

from __future__ import annotations

import logging
import os

from pythonjsonlogger.json import JsonFormatter

from core import log_context

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"


class ContextFilter(logging.Filter):
    """Puts the work's context fields on each record (json: keys; text: a suffix)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = log_context.current()
        for name in log_context.FIELDS:
            setattr(record, name, context.get(name))
        record.context = "".join(f" {k}={v}" for k, v in context.items())
        return True


class _Json(JsonFormatter):
    def add_fields(self, log_record, record, message_dict):  # type: ignore[no-untyped-def]
        super().add_fields(log_record, record, message_dict)
        for name in log_context.FIELDS:
            value = getattr(record, name, None)
            if value:
                log_record[name] = value
            else:
                log_record.pop(name, None)
        log_record.pop("context", None)


def log_format() -> str:
    chosen = os.environ.get("PARLEY_LOG_FORMAT", "json").lower()
    if chosen not in FORMATS:
        raise ValueError(f"PARLEY_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {chosen!r}")
    return chosen


def formatter() -> logging.Formatter:
    if log_format() == "text":
        return logging.Formatter(TEXT_FORMAT + "%(context)s")
    return _Json(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level"})


def configure(level: str | None = None) -> None:
    """Root logging for this process: one stderr handler, Parley's format, the context filter
    (uvicorn's and Celery's loggers propagate to it)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)  # a library's warning is a log line like any other
    root.setLevel((level or os.environ.get("PARLEY_LOG_LEVEL", "INFO")).upper())
