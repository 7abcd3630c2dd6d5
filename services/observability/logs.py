"""Logging for the gateway: JSON or text lines, scrubbed at the source, quiet third-party payload loggers,
and one structured line per turn.

Every record is scrubbed when it is created (a log record factory), so every handler sees the scrubbed text:
ours, pytest's, Sentry's breadcrumbs, the Lambda runtime's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from services.observability.scrub import register_secrets, scrub_data, scrub_text

TURN_LOGGER = "gateway.turns"
# Loggers that write request or response payloads (user text, tokens) at DEBUG: never below INFO.
PAYLOAD_LOGGERS = (
    "botocore", "boto3", "s3transfer", "urllib3", "requests", "aiohttp.access", "aiohttp.client",
    "msal", "msrest", "botframework", "botbuilder", "sentry_sdk.errors",
    "matplotlib", "PIL",  # not payloads, but hundreds of font-matching lines per chart at DEBUG
)  # fmt: skip
_OURS = "_gateway_handler"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\x85": "\\x85", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def on_lambda() -> bool:
    """Return True inside AWS Lambda (the runtime sets AWS_LAMBDA_FUNCTION_NAME)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def hash_key(key: str) -> str:
    """Return a short, stable, non-reversible stand-in for a conversation key (16 hex characters of SHA-256);
    '' for ''."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] if key else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the record's `fields`, and
    `exception` (type and traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = {
                "type": record.exc_info[0].__name__ if record.exc_info[0] else "",
                "traceback": record.exc_text or self.formatException(record.exc_info),
            }
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for local runs: time, level, logger, message, then the record's `fields` as key=value."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        fields = getattr(record, "fields", None) or {}
        extra = "".join(f" {key}={value}" for key, value in fields.items() if value not in (None, ""))
        # One record, one line: a line break in a logged id or name would forge a line of its own.
        return (super().formatMessage(record) + extra).translate(_LINE_BREAKS)


class MalformedRequestFilter(logging.Filter):
    """Turns aiohttp's ERROR traceback for a request it could not parse (oversize header, bad request line)
    into one WARNING line naming the problem's kind; the client's bytes are not repeated."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            # aiohttp's message is "Error handling request from <address>" (already formatted by the scrubber)
            remote = record.getMessage().rpartition(" from ")[2] or "a client"
            record.msg = "rejected a malformed HTTP request from %s: %s (HTTP %s)"
            record.args = (remote, type(error).__name__, error.code)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each line (test runners and daemons replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def install_record_scrubber() -> None:
    """Make every new log record carry its message and traceback already scrubbed. Idempotent."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_scrubs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: logging reports it later, as it would anyway
            return record
        record.msg, record.args = scrub_text(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        fields = record.__dict__.get("fields")
        if isinstance(fields, Mapping):
            record.fields = scrub_data(fields)
        return record

    factory._scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(
    level: str = "INFO", log_format: str = "auto", *, stream: IO[str] | None = None, secrets: tuple[str, ...] = ()
) -> logging.Handler:
    """Send every log line to `stream` (stderr by default) as JSON or text (`auto`: JSON on Lambda, else text),
    scrubbed; keep payload-echoing loggers at INFO or above whatever `level` is. Calling it again replaces the
    handler it installed before; on Lambda it replaces every root handler, the runtime's own included, so each
    line is written once. Returns the handler."""
    register_secrets(*secrets, os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN"))
    install_record_scrubber()
    root = logging.getLogger()
    lambda_runtime = on_lambda()  # its bootstrap puts a handler of its own on the root logger
    for old in [h for h in root.handlers if lambda_runtime or getattr(h, _OURS, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    setattr(handler, _OURS, True)
    use_json = log_format == "json" or (log_format == "auto" and lambda_runtime)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    floor = max(logging.getLevelName(level), logging.INFO)
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server.filters):
        server.addFilter(MalformedRequestFilter())
    return handler


def log_turn(fields: Mapping[str, Any], logger: logging.Logger | None = None) -> None:
    """Write the one INFO line of a finished turn: `fields` (ids, kind, command, backend, outcome, latencies,
    tokens; never text) as JSON keys, or key=value in text format. Empty values are left out."""
    kept = {key: value for key, value in fields.items() if value not in (None, "")}
    (logger or logging.getLogger(TURN_LOGGER)).info("turn %s", kept.get("outcome", ""), extra={"fields": kept})
