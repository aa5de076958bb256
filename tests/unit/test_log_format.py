"""The log formatters: one line per event, fields as keys, tokens and secrets masked."""

from __future__ import annotations

import json
import logging
import sys

from app.core.logging import REDACTED, JsonFormatter, PlainFormatter, Redactor

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwicm9sZSI6ImFkbWluIn0"
    ".dGhpc2lzbm90YXJlYWxzaWduYXR1cmVfX19fX19fXw"
)
SECRET = "the-signing-key-of-this-deployment"


def record(message: str, *args: object, exc: bool = False, **fields: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"failed with {JWT}")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("app.test", logging.INFO, __file__, 1, message, args, exc_info)
    for key, value in fields.items():
        setattr(made, key, value)
    return made


def test_tokens_credentials_and_secrets_are_masked_wherever_they_appear() -> None:
    redact = Redactor([SECRET, None, "short"])
    text = (
        f"token {JWT}; Authorization: Bearer abcdefgh12345678; Basic dXNlcjpwYXNzd29yZA==; "
        f"/stream?token=abc.def.ghi&x=1; key {SECRET}; escaped {json.dumps(SECRET)}"
    )
    masked = redact(text)
    for leaked in (JWT, "abcdefgh12345678", "dXNlcjpwYXNzd29yZA==", "abc.def.ghi", SECRET):
        assert leaked not in masked, masked
    assert masked.count(REDACTED) == 6
    assert "short" in redact("a short word")  # too short to be a secret: left alone
    assert redact("an invalid bearer token was sent") == "an invalid bearer token was sent"


def test_json_lines_carry_the_event_fields_and_a_masked_traceback() -> None:
    formatter = JsonFormatter(Redactor([SECRET]))
    line = formatter.format(
        record("refused %s", "GET /x", exc=True, event="request_refused", status=401)
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "refused GET /x"
    assert (entry["event"], entry["status"], entry["level"]) == ("request_refused", 401, "info")
    assert entry["ts"].endswith("Z") and entry["logger"] == "app.test"
    assert "ValueError" in entry["exc"] and JWT not in entry["exc"]


def test_plain_lines_are_one_line_per_event_whatever_the_message_holds() -> None:
    formatter = PlainFormatter(Redactor())
    line = formatter.format(
        record("refused %s", "GET /a\nINFO forged line", status=404, reason="no such thing")
    )
    assert "\n" not in line
    assert line.endswith('refused GET /a\\nINFO forged line status=404 reason="no such thing"')


def test_plain_lines_escape_terminal_control_characters() -> None:
    formatter = PlainFormatter(Redactor())
    line = formatter.format(record("refused %s", "GET /\x1b[2J\x1b[31mred\x07\x9b"))
    assert line.endswith("refused GET /\\x1b[2J\\x1b[31mred\\x07\\x9b")
