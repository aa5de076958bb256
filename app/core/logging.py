"""Logs: one line per event, plain or JSON (LOG_FORMAT), never a secret or a token.

An event is a log record with fields given as `extra=` (see `log_event`): the JSON
format writes them as keys beside `message`, the plain one as `key=value` after it.
Every line goes through a redactor first, so a token or the signing key that reaches a
message, a field or a traceback by mistake is masked, not written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from app.core.config import Settings

LogFormat = Literal["plain", "json"]

REDACTED = "[redacted]"
# Attributes every LogRecord has; any other one came in `extra=` and is a field of the event.
# uvicorn adds `color_message`, its message with terminal colours: not a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
# A JWT (header.payload.signature; headers are JSON objects, so base64url "eyJ..."), an
# Authorization value, and the token query parameters a URL may carry.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_CREDENTIAL = re.compile(r"\b([Bb]earer|BEARER|Basic)(?:\s+|%20|\+)([A-Za-z0-9._~+/=-]{8,})")
_URL_TOKEN = re.compile(r"(?i)\b((?:access_|stream_)?token=)[^&\s\"',;]+")
# httpx/httpcore (Web Push's client) would log each push endpoint's URL, a capability.
QUIET_LIBRARIES = (
    "sqlalchemy", "aiosqlite", "asyncpg", "multipart", "python_multipart", "httpx", "httpcore",
)  # fmt: skip
# Shorter "secrets" would mask ordinary words; real keys and passwords are longer.
MIN_SECRET_LENGTH = 8
# Control characters (C0, DEL, C1): from a request path, an ANSI escape would recolour or
# rewrite the operator's terminal; each is written as an escape sequence instead.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: _NAMED.get(m[0]) or f"\\x{ord(m[0]):02x}", text)


class Redactor:
    """Masks tokens, credentials in URLs and headers, and the given secret values."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # As written in a message, and as json.dumps would escape it.
        escaped = {json.dumps(s)[1:-1] for s in values}
        self.secrets = tuple(sorted(values | escaped, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        if "eyJ" in text:
            text = _JWT.sub(REDACTED, text)
        if "oken=" in text or "OKEN=" in text:
            text = _URL_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)
        text = _CREDENTIAL.sub(lambda m: m.group(1) + " " + REDACTED, text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields given as `extra=`, in the order given."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", <fields>..., "exc"?}` on one line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in event_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.redact(json.dumps(entry, default=str, ensure_ascii=False))


class PlainFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger>: <message> key=value ...`; a traceback follows on its lines."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, f"{record.name}:", record.getMessage()]
        parts += [f"{k}={_plain(v)}" for k, v in event_fields(record).items()]
        # One line per event: a newline in a message (user input, say) can't forge another,
        # nor can an escape sequence reach the terminal.
        line = escape_controls(" ".join(parts))
        if record.exc_info:
            line += "\n" + _escape_lines(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + _escape_lines(self.formatStack(record.stack_info))
        return self.redact(line)


def _escape_lines(text: str) -> str:
    return "\n".join(escape_controls(line) for line in text.split("\n"))


class HideQueryStrings(logging.Filter):
    """uvicorn logs a WebSocket's path with its query string (`"WebSocket /ws?token=..."`):
    the query is dropped from uvicorn's records, whatever it holds."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn") and isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


def _plain(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text


def log_event(
    logger: logging.Logger, event: str, message: str, level: int = logging.INFO, **fields: Any
) -> None:
    """Log `message` as the event `event` with `fields` (names other than LogRecord's own)."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"event": event, **fields})


def configure_logging(level: str, fmt: LogFormat, secrets: Iterable[str | None] = ()) -> None:
    """Every logger (uvicorn's too) writes through one handler on stderr, in `fmt`."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else PlainFormatter(redact))
    handler.addFilter(HideQueryStrings())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    # uvicorn runs with log_config=None (see app.cli): its loggers keep no handler of their
    # own and propagate here. Its access log stays off: URLs may hold a stream token.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Even at LOG_LEVEL=debug, not every statement with its parameters (password hashes,
    # emails) nor every driver call: these say only what went wrong.
    floor = max(root.level, logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(floor)


def configure_logging_from(settings: Settings) -> None:
    """LOG_LEVEL and LOG_FORMAT for every logger, uvicorn's included; secrets masked."""
    secrets = (settings.secret_key, settings.first_superadmin_password)
    configure_logging(settings.log_level, settings.log_format, secrets)
