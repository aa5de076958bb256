"""The bounds of a 422's errors hold for the worst text there is: characters JSON escapes
(each quote or control character written as two to six bytes), lone surrogates, NaN, more
errors than fit, locations deeper than any schema."""

from __future__ import annotations

import json
import math

from app.api.validation_errors import (
    MAX_ERROR_ANSWER_BYTES,
    bounded_errors,
    cut,
    json_bytes,
)


def test_the_answer_stays_within_16_kib_whatever_the_text() -> None:
    nasty = '"\\\x00\ud800é😀' * 5000
    errors = [
        {"type": "x" * 1000, "loc": ("body", nasty, 3) * 20, "msg": nasty, "input": {"a": nasty}}
        for _ in range(1000)
    ]
    detail = bounded_errors(errors)
    written = json_bytes({"detail": detail})
    assert 1 <= len(detail) <= 20 and len(written) <= MAX_ERROR_ANSWER_BYTES
    parsed = json.loads(written)["detail"][0]
    assert len(parsed["loc"]) == 16 and parsed["loc"][2] == 3  # positions stay numbers
    assert all(len(str(p).encode("utf-8", "surrogatepass")) <= 64 for p in parsed["loc"])
    assert parsed["input"].endswith("…") and parsed["input"].startswith('{"a":"\\"\\\\\\u0000')


def test_small_values_are_echoed_as_fastapi_writes_them() -> None:
    errors = [{"type": "t", "loc": ["body"], "msg": "m", "input": [1, 2.5, math.nan, "é"]}]
    assert bounded_errors(errors) == [
        {"type": "t", "loc": ["body"], "msg": "m", "input": [1, 2.5, "nan", "é"]}
    ]


def test_a_cut_never_splits_a_character() -> None:
    assert cut("é" * 200, 256) == "é" * 126 + "…"  # 252 + 3 bytes: a 127th would not fit
    assert cut("😀" * 100, 64) == "😀" * 15 + "…"
    assert cut("short", 64) == "short"
