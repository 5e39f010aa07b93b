"""One line per event, with its level and fields; JSON lines with ``--log-json``.

Text: ``2026-12-06T19:05:00.123Z INFO node.jobs job run job=deliver_outbox outcome=ok
seconds=0.012``. JSON: ``{"ts": ..., "level": ..., "logger": ..., "event": ..., <fields>}``.
Fields are passed as ``log.info("job run", extra={"fields": {...}})``. A traceback or a value
holding a newline never breaks the line: text mode escapes it, JSON encodes it, so a log
shipper counts one event per line and a value cannot forge a second event.

``hrcnet serve --log-json --log-level debug`` passes both to its workers and its scheduler
through the environment (:data:`JSON_ENV`, :data:`LEVEL_ENV`).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

JSON_ENV = "HRCNET_LOG_JSON"
LEVEL_ENV = "HRCNET_LOG_LEVEL"
LEVELS = ("debug", "info", "warning", "error")


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _text_value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\\') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with \n, \r and quotes escaped


def _one_line(text: str) -> str:
    """The event as written (readable, e.g. gunicorn's access line), with line breaks and
    other control characters escaped so it cannot start a forged second line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger event key=value ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        event = record.getMessage()
        parts = [_timestamp(record), record.levelname, record.name, _one_line(event)]
        parts += [f"{key}={_text_value(value)}" for key, value in _fields(record).items()]
        if record.exc_info:
            parts.append(f"exc={_text_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_from_env() -> logging.Formatter:
    return JsonFormatter() if os.environ.get(JSON_ENV) == "1" else TextFormatter()


def level_from_env(default: str = "info") -> int:
    name = os.environ.get(LEVEL_ENV, default).lower()
    return logging.getLevelNamesMapping()[name.upper()] if name in LEVELS else logging.INFO


def configure(process: str) -> None:
    """Log this process (``web`` worker or ``scheduler``) to stderr in the configured format."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_from_env())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_from_env())
    # Third-party chatter (APScheduler says "Running job ..." twice per tick) only at debug.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    logging.getLogger(__name__).debug("logging configured", extra={"fields": {"process": process}})


def gunicorn_logconfig() -> dict[str, Any]:
    """gunicorn's own loggers (arbiter, access log) through the same formatter."""
    formatter = "json" if os.environ.get(JSON_ENV) == "1" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"()": f"{__name__}.TextFormatter"},
            "json": {"()": f"{__name__}.JsonFormatter"},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": formatter},
        },
        "root": {"level": logging.getLevelName(level_from_env()), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
    }
