"""The running service's parts, started in order and stopped in the reverse one.

`started()` starts each part and pushes its stop right after, on one AsyncExitStack: a
part that fails to start stops exactly those started before it. The app keeps the one
`Runtime` it yields (`app.state.runtime`), read through `runtime_of`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from app.broker import Broker, create_broker
from app.core.config import Settings
from app.core.drain import DrainOnSignal
from app.core.hub import Hub
from app.core.loop_monitor import CollectorSchedule, LoopMonitor
from app.core.metrics import Metrics
from app.db.reads import Reads
from app.db.session import create_engine, create_session_factory
from app.limits import create_limit_store
from app.push.service import WebPush
from app.services.activity import History, Sampler
from app.services.bootstrap import ensure_first_superadmin
from app.services.delivery import DeliverySequencer
from app.services.limiter import Limiter
from app.services.notification_reads import NotificationReads
from app.services.notification_service import NotificationCreator
from app.services.operations import Operations
from app.services.presence import Presence
from app.services.publishing import NotificationPublisher
from app.services.replay import replay
from app.services.retention import RetentionJob
from app.services.revocations import Revocations
from app.services.writer import NotificationWriter
from app.streams.shared import Streams

NOTIFICATIONS_CHANNEL = "notifications"
PRESENCE_CHANNEL = "presence"
REVOCATIONS_CHANNEL = "revocations"


@dataclass(slots=True)
class Runtime:
    settings: Settings
    metrics: Metrics
    session_factory: async_sessionmaker[AsyncSession]
    broker: Broker
    hub: Hub
    creator: NotificationCreator  # one per process: it keeps the routing cache
    reads: NotificationReads  # the list and the unread count (SQLite: its own read threads)
    limiter: Limiter
    presence: Presence
    operations: Operations  # the superadmin's overview of the deployment
    streams: Streams
    revocations: Revocations
    push: WebPush  # Web Push (app/push/): recipients whose streams didn't get it
    shutting_down: bool = False  # /readyz answers 503 from then on

    def stop_being_ready(self) -> None:
        self.shutting_down = True


def longest_credential(settings: Settings) -> float:
    """Seconds the longest-lived credential lasts: after that, a revocation concerns none."""
    minutes = max(
        settings.access_token_expire_minutes,
        settings.session_expire_minutes,
        settings.stream_token_expire_minutes,
    )
    return 60 * minutes


def runtime_of(app: Starlette) -> Runtime:
    runtime = getattr(app.state, "runtime", None)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("the app's runtime is not started")
    return runtime


@asynccontextmanager
async def started(settings: Settings, metrics: Metrics) -> AsyncIterator[Runtime]:
    async with AsyncExitStack() as stack:
        engine = create_engine(settings.database_url, settings)
        stack.push_async_callback(engine.dispose)
        reads = Reads(engine)
        stack.push_async_callback(reads.stop)
        session_factory = create_session_factory(engine)
        broker = create_broker(settings.broker_url, settings.broker_prefix)
        await broker.start()
        stack.push_async_callback(broker.stop)
        store = create_limit_store(settings.broker_url, settings.broker_prefix)
        limiter = Limiter(store, settings)
        await limiter.start()
        stack.push_async_callback(limiter.stop)
        hub = Hub(
            ping_interval=settings.sse_ping_interval,
            max_pending=settings.sse_max_pending_events,
            max_pending_bytes=settings.sse_max_pending_bytes,
            metrics=metrics,
        )
        replays = partial(replay, reads, settings.sse_max_pending_bytes)
        streams = Streams(hub, settings, limiter, replays)
        stack.push_async_callback(streams.stop)  # after the hub's: the slots it frees
        await hub.start()
        stack.push_async_callback(hub.stop)
        sequencer = DeliverySequencer(
            hub, broker, NOTIFICATIONS_CHANNEL, session_factory, reads, settings.catch_up_interval
        )
        await sequencer.start()
        stack.push_async_callback(sequencer.stop)
        history = History(settings.ops_sample_interval)
        presence = Presence(hub, broker, PRESENCE_CHANNEL, settings.presence_interval, history)
        sampler = Sampler(hub, history, presence.name)
        await sampler.start()  # before presence: its samples go with the announcements
        stack.push_async_callback(sampler.stop)
        await presence.start()
        stack.push_async_callback(presence.stop)
        operations = Operations(presence, session_factory, broker)
        stack.push_async_callback(operations.stop)  # a read of the database under way
        retention = RetentionJob(
            session_factory,
            timedelta(days=settings.notification_retention_days),
            settings.retention_interval_seconds,
        )
        await retention.start()
        stack.push_async_callback(retention.stop)
        # Web Push (app/push/): pushes to recipients whose streams didn't get a notification.
        push = WebPush(settings, session_factory, broker, hub, limiter, metrics)
        await push.start()
        stack.push_async_callback(push.stop)
        await ensure_first_superadmin(session_factory, settings)
        publisher = NotificationPublisher(broker, NOTIFICATIONS_CHANNEL, metrics)
        writer = NotificationWriter(session_factory, publisher)
        stack.push_async_callback(writer.stop)  # its SQLite thread, after in-flight requests
        creator = NotificationCreator(writer, reads)
        revocations = Revocations(
            session_factory,
            reads,
            broker,
            REVOCATIONS_CHANNEL,
            settings.catch_up_interval,
            longest_credential(settings),
        )
        revocations.listen(creator.routing.forget_user)
        revocations.listen(hub.end_revoked)
        await revocations.start()  # before the first request: every revocation is known
        stack.push_async_callback(revocations.stop)
        runtime = Runtime(
            settings=settings,
            metrics=metrics,
            session_factory=session_factory,
            broker=broker,
            hub=hub,
            creator=creator,
            reads=NotificationReads(reads),
            limiter=limiter,
            presence=presence,
            operations=operations,
            streams=streams,
            revocations=revocations,
            push=push,
        )
        drain = DrainOnSignal(hub, settings.sse_drain_seconds, runtime.stop_being_ready)
        await drain.start()
        stack.push_async_callback(drain.stop)
        # Last: start-up's own collection is not a pause of the loop.
        collector = CollectorSchedule(
            settings.gc_full_collect_interval, settings.gc_whole_heap_interval
        )
        await collector.start()
        stack.push_async_callback(collector.stop)
        monitor = LoopMonitor(metrics)
        await monitor.start()
        stack.push_async_callback(monitor.stop)
        stack.callback(runtime.stop_being_ready)  # the first thing done on the way out
        yield runtime
