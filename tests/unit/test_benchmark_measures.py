"""The benchmark's arithmetic (benchmarks/latency.py, benchmarks/report.py): the figures a
reader of RESULTS.md takes as the server's must come out of what was recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from benchmarks.clients import Progress, SseStream
from benchmarks.latency import Created, analyse, recording, stamp
from benchmarks.report import held


def stored(id_: int, created_at: float, body: bytes) -> dict[str, object]:
    """What the server answers to a create: the body's fields, stored, with an id."""
    return {
        **orjson.loads(body),
        "id": id_,
        "created_at": datetime.fromtimestamp(created_at, UTC).isoformat(),
    }


def stream(index: int, receipts: list[tuple[float, list[int]]]) -> SseStream:
    s = SseStream.__new__(SseStream)  # no connection: only what the analysis reads
    s.index, s.progress = index, Progress()
    s.recs = [(t, [str(i).encode() for i in ids]) for t, ids in receipts]
    return s


def test_stamped_body_is_the_create_body_with_the_send_time_in_extra_data() -> None:
    body = stamp(b'{"title":"x","recipient_type":"salon"', 1_700_000_000_123_456_789)
    assert orjson.loads(body) == {
        "title": "x",
        "recipient_type": "salon",
        "extra_data": {"sent_ns": 1_700_000_000_123_456_789},
    }


def test_latency_is_measured_from_send_and_from_created_at() -> None:
    created: dict[int, Created] = {}
    errors = [0]
    sent, made = 1000.0, 1000.010  # the POST waited 10 ms before the server stored it
    for id_, recipient in ((1, 0), (2, 1), (3, 1)):
        body = stamp(b'{"title":"x"', int(sent * 1e9))
        answer = orjson.dumps(stored(id_, made, body))
        recording(created, errors, [recipient], batch=False)(201, answer)
    recording(created, errors, [0], batch=False)(422, b'{"detail":"bad"}')
    streams = [stream(0, [(1000.012, [1])]), stream(1, [(1000.015, [2]), (1000.020, [3, 2])])]

    figures = analyse(streams, created, sent, sent + 1)

    assert errors == [1]
    assert (figures["received"], figures["lost"], figures["duplicates"]) == (3, 0, 1)
    assert (figures["send_p50_ms"], figures["send_max_ms"]) == (15.0, 20.0)
    assert (figures["p50_ms"], figures["max_ms"]) == (5.0, 10.0)


def test_a_batch_answer_maps_each_notification_to_its_recipient() -> None:
    created: dict[int, Created] = {}
    bodies = [stamp(b'{"title":"x"', 5 * 10**9) for _ in range(2)]
    answer = {"notifications": [stored(7, 5.001, bodies[0]), stored(8, 5.001, bodies[1])]}
    recording(created, [0], [3, 4], batch=True)(201, orjson.dumps(answer))
    streams = [stream(3, [(5.002, [7, 8])]), stream(4, [])]

    figures = analyse(streams, created, 5.0, 6.0)

    assert (created[7].recipient, created[8].recipient) == (3, 4)
    assert created[7].sent_at == 5.0
    assert (figures["received"], figures["misrouted"], figures["lost"]) == (1, 1, 1)


def test_a_rate_is_held_by_its_p99_from_send_not_from_created_at() -> None:
    phase = {
        "rate": 1000,
        "created_per_s": 1000.0,
        "lost": 0,
        "post_errors": 0,
        "p99_ms": 8.0,
        "send_p99_ms": 140.0,  # the POSTs queued before the server stored them
    }
    assert not held(phase)
    assert held({**phase, "send_p99_ms": 40.0})
    old_run = {k: v for k, v in phase.items() if k != "send_p99_ms"}
    assert held(old_run)  # runs from before send times were stamped: from created_at
