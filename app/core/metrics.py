"""Prometheus metrics of one process, cheap enough for the delivery hot path.

The per-delivery figures (deliveries, their latency) are recorded once per write of a
coalesced chunk, weighted by the notifications it holds, into a plain-Python histogram:
prometheus-client's own takes a lock per observation, which at 100,000 deliveries a
second is a visible share of a core.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from app.core.connection import CloseReason, Kind

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
KINDS = get_args(Kind)
CLOSE_REASONS = (*get_args(CloseReason), "error")
RECIPIENT_TYPES = ("salon", "user", "customer")
# The limits of app/services/limiter.py, as `salon_limit_refusals{limit=...}` names them.
LIMITS = (
    "streams_per_principal",
    "streams_per_salon",
    "stream_opens",
    "login_failures_per_account_address",
    "login_failures_per_account",
    "login_failures_per_address",
    "login_pending",
    "password_hash_queue",
    "registrations_per_address",
    "pushes_per_salon",
    "stats_requests",
    "body_size",
)
PUSH_RESULTS = ("delivered", "gone", "retry", "failed")
# Why a request of a front-door route went on to FastAPI (app/api/front_door.py): a browser's
# Origin (CORS is FastAPI's), a chunked or too large body (the body limit is FastAPI's), a
# stream request with a body, of HTTP/1.0 or behind another on its connection (the socket
# can't be taken), or refused by its reader (FastAPI's route reads it again and answers).
FRONT_DOOR_DECLINES = (
    "origin",
    "chunked",
    "too_large",
    "body",
    "http_version",
    "pipelined",
    "refused",
)


class Totals(NamedTuple):
    """Counters since start; histograms as their bucket counts (LATENCY_BUCKETS, then +Inf)."""

    created: int
    deliveries: int
    latency: tuple[int, ...]
    slow_consumers: int
    refusals: int
    loop_lag: tuple[int, ...]


def quantile(counts: Sequence[int], q: float, bounds: Sequence[float] = LATENCY_BUCKETS) -> float:
    """The q-quantile of a histogram's bucket counts, interpolated within its bucket as
    Prometheus' histogram_quantile does (the +Inf bucket answers the last bound); 0 if empty."""
    total = sum(counts)
    if total == 0:
        return 0.0
    rank, cumulative = q * total, 0
    for index, count in enumerate(counts):
        if count and cumulative + count >= rank:
            if index == len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index else 0.0
            return lower + (bounds[index] - lower) * (rank - cumulative) / count
        cumulative += count
    return bounds[-1]


class WeightedHistogram(Collector):
    """A histogram without locks (the event loop is the only writer) and with weights."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name, self.documentation, self.bounds = name, documentation, buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float, weight: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += weight
        self.sum += value * weight

    @property
    def count(self) -> int:
        return sum(self.counts)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], buckets, self.sum)
        yield family


class Metrics:
    def __init__(self) -> None:
        # No `*_created` timestamp series beside each counter: noise for every scraper.
        disable_created_metrics()
        self.registry = registry = CollectorRegistry()
        self.active = Gauge("salon_active_connections", "Open streams", ["kind"], registry=registry)
        self.opened = Counter(
            "salon_connections_opened", "Streams opened", ["kind"], registry=registry
        )
        self.closed = Counter(
            "salon_connections_closed", "Streams closed", ["kind", "reason"], registry=registry
        )
        self.duration = Histogram(
            "salon_connection_duration_seconds",
            "How long streams stayed open",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.created = Counter(
            "salon_notifications_created",
            "Notifications stored",
            ["recipient_type"],
            registry=registry,
        )
        self.deliveries = Counter(
            "salon_deliveries", "Notifications written to a stream", registry=registry
        )
        self.failed = Counter(
            "salon_failed_deliveries",
            "Notifications queued for a stream that was closed before writing them",
            registry=registry,
        )
        self.slow_consumers = Counter(
            "salon_slow_consumers_dropped", "Streams closed for falling behind", registry=registry
        )
        self.replayed = Counter(
            "salon_replayed_events", "Notifications sent by Last-Event-ID replay", registry=registry
        )
        self.caught_up = Counter(
            "salon_caught_up_from_database",
            "Notifications this instance read from the database instead of the bus",
            registry=registry,
        )
        self.publish_failures = Counter(
            "salon_broker_publish_failures", "Publications the broker refused", registry=registry
        )
        self.refusals = Counter(
            "salon_limit_refusals", "Requests refused by a limit", ["limit"], registry=registry
        )
        # Web Push (app/push/): each attempt's result; `failed` also when retries ran out.
        self.push_sent = Counter(
            "salon_push_sent", "Web Push attempts by result", ["result"], registry=registry
        )
        self.front_door_declines = Counter(
            "salon_front_door_declines",
            "Requests of a front-door route handed to FastAPI, by route and reason",
            ["route", "reason"],
            registry=registry,
        )
        self.latency = WeightedHistogram(
            "salon_delivery_latency_seconds",
            "From a notification's creation to its write on a stream",
            LATENCY_BUCKETS,
        )
        registry.register(self.latency)
        self.loop_lag = WeightedHistogram(
            "salon_event_loop_lag_seconds",
            "How late the event loop woke a 10 ms timer (100 ms while idle): a pause of the loop",
            LATENCY_BUCKETS,
        )
        registry.register(self.loop_lag)
        self.loop_lag_max = Gauge(
            "salon_event_loop_lag_max_seconds", "Longest event-loop pause seen", registry=registry
        )
        self.gc_pause_max = Gauge(
            "salon_gc_pause_max_seconds",
            "Longest full garbage collection seen",
            registry=registry,
        )
        self._create_every_series()

    def _create_every_series(self) -> None:
        """Every labelled series exists from the start, at 0: a scrape before the first
        stream or refusal already shows them, and rates over them start from 0. The
        streams' series are kept at hand: `labels()` costs more than the update itself."""
        self._active = {kind: self.active.labels(kind) for kind in KINDS}
        self._opened = {kind: self.opened.labels(kind) for kind in KINDS}
        self._duration = {kind: self.duration.labels(kind) for kind in KINDS}
        self._closed = {
            (kind, reason): self.closed.labels(kind, reason)
            for kind in KINDS
            for reason in CLOSE_REASONS
        }
        self._created = {t: self.created.labels(t) for t in RECIPIENT_TYPES}
        self._refusals = [self.refusals.labels(limit) for limit in LIMITS]
        for result in PUSH_RESULTS:
            self.push_sent.labels(result)

    def front_door_routes(self, names: Iterable[str]) -> None:
        """Every series of the front door's declines exists from the start."""
        for name in names:
            for reason in FRONT_DOOR_DECLINES:
                self.front_door_declines.labels(name, reason)

    def notification_created(self, recipient_type: str) -> None:
        self._created[recipient_type].inc()

    def stream_opened(self, kind: str) -> None:
        self._opened[kind].inc()
        self._active[kind].inc()

    def stream_closed(self, kind: str, reason: str, duration: float) -> None:
        self._active[kind].dec()
        self._closed[kind, reason].inc()
        self._duration[kind].observe(duration)

    def delivered(self, count: int, oldest_created: float) -> None:
        """`count` notifications written in one chunk; the oldest was created then."""
        self.deliveries.inc(count)
        self.latency.observe(max(0.0, time.time() - oldest_created), count)

    def totals(self) -> Totals:
        """The counters the operations page charts, since the process started."""
        return Totals(
            created=int(sum(c._value.get() for c in self._created.values())),
            deliveries=int(self.deliveries._value.get()),
            latency=tuple(self.latency.counts),
            slow_consumers=int(self.slow_consumers._value.get()),
            refusals=int(sum(c._value.get() for c in self._refusals)),
            loop_lag=tuple(self.loop_lag.counts),
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
