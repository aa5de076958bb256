"""Sending due pushes: on every instance, never in a request's path.

Each turn (every PUSH_POLL_INTERVAL): new notifications become outbox rows
(app/db/repositories/push_outbox.py, one instance at a time), then as many due rows as
there are free sending slots are claimed with a lease and sent as tasks (at most
PUSH_CONCURRENCY at once, each attempt bounded by PUSH_ATTEMPT_TIMEOUT). A salon's
notifications send at most LIMIT_PUSHES_PER_SALON pushes per LIMIT_PUSHES_WINDOW (counted in
the limit store, so over every instance): past it, its due rows wait for the next window.
A row is deleted when done, gone or failed for good (done and failed ones by the next turn,
in one statement), else due again after a backoff (or the push service's Retry-After). Rows of a
stopped instance are released at once; those of a crashed one come due when their lease
ends (a push done but not yet deleted then goes twice).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.metrics import Metrics
from app.core.tasks import cancel_and_wait
from app.db.base import utcnow
from app.db.repositories import push_outbox
from app.db.repositories.push import PushSubscriptionRepository, purge_reached
from app.push.endpoints import endpoint_origin
from app.push.payload import push_payload, urgency
from app.push.receipts import PushReceipts
from app.push.sender import Outcome, PushSender, Target
from app.services.limiter import PUSHES_PER_SALON, Limiter

logger = logging.getLogger(__name__)

ENQUEUE_PAGE = 1000
BACKOFF_BASE, BACKOFF_MAX = 1.0, 900.0
PURGE_INTERVAL = 600.0
RELEASE_TIMEOUT = 2.0
DECISION_SHARE = 0.75


class PushDispatcher:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        sender: PushSender,
        receipts: PushReceipts,
        limiter: Limiter,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.session_factory = session_factory
        self.sender = sender
        self.receipts = receipts
        self.limiter = limiter
        self.settings = settings
        self.metrics = metrics
        # Decided at three quarters of PUSH_DELAY_SECONDS (the streams' receipts are written
        # within 50 ms), so that the push is out within PUSH_DELAY_SECONDS of the creation.
        self.delay = timedelta(seconds=settings.push_delay_seconds * DECISION_SHARE)
        # Longer than an attempt can take (its DNS check, the POST, the bookkeeping).
        self.lease = timedelta(seconds=2 * settings.push_attempt_timeout + 30)
        self._sending: dict[int, asyncio.Task[None]] = {}  # outbox id -> its attempt
        self._finished: list[int] = []  # outbox ids sent or given up, not yet deleted
        self._task: asyncio.Task[None] | None = None
        self._purged_at = 0.0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        interrupted = list(self._sending)
        for task in list(self._sending.values()):
            await cancel_and_wait(task)
        if interrupted or self._finished:  # interrupted: due again now, for whoever runs next
            try:
                async with asyncio.timeout(RELEASE_TIMEOUT):
                    await self._delete_finished()
                    async with self.session_factory() as session:
                        await push_outbox.release(session, interrupted, utcnow())
            except Exception as exc:
                logger.warning(
                    "releasing %d pushes failed (due after their lease): %s", len(interrupted), exc
                )
        await self.sender.aclose()

    async def _run_forever(self) -> None:
        while True:
            try:
                await self.turn()
            except Exception as exc:  # the database away, say: the next turn tries again
                logger.warning("push dispatcher turn failed: %s", exc)
            await asyncio.sleep(self.settings.push_poll_interval)

    async def turn(self) -> None:
        await self._delete_finished()
        if not self.receipts.users:
            return  # nobody has a subscription (as this instance last heard): nothing to do
        await self._enqueue()
        free = self.settings.push_concurrency - len(self._sending)
        if free > 0:
            now = utcnow()
            async with self.session_factory() as session:
                due = await push_outbox.claim_due(session, now, now + self.lease, free)
            due = await self._within_salon_limits(due, now)
            loop = asyncio.get_running_loop()
            for push in due:
                self._sending[push.outbox_id] = loop.create_task(self._attempt(push))
        if time.monotonic() - self._purged_at > PURGE_INTERVAL:
            self._purged_at = time.monotonic()
            async with self.session_factory() as session:
                await purge_reached(session, utcnow() - timedelta(days=1) - self.delay)

    async def _within_salon_limits(
        self, due: list[push_outbox.DuePush], now: datetime
    ) -> list[push_outbox.DuePush]:
        """The claimed pushes each salon's limit lets go out now; the others are held."""
        by_salon: dict[int, list[push_outbox.DuePush]] = {}
        for push in due:
            if push.notification.salon_id is not None:  # else a superadmin's: not limited
                by_salon.setdefault(push.notification.salon_id, []).append(push)
        held: set[int] = set()
        for salon_id, pushes in by_salon.items():
            allowed, wait = await self.limiter.take_pushes(salon_id, len(pushes))
            if allowed == len(pushes):
                continue
            claimed = [push.outbox_id for push in pushes[allowed:]]
            held.update(claimed)
            until = now + timedelta(seconds=wait)
            try:
                async with self.session_factory() as session:
                    await push_outbox.hold_salon(session, salon_id, claimed, now, until)
            except Exception as exc:  # held all the same: unsent, due when their lease ends
                logger.warning("holding salon %d's pushes failed: %s", salon_id, exc)
            self.metrics.refusals.labels(PUSHES_PER_SALON).inc(len(claimed))
            logger.warning(
                "salon %d reached LIMIT_PUSHES_PER_SALON (%d per %g s): its pushes wait %.1f s",
                salon_id,
                self.settings.limit_pushes_per_salon,
                self.settings.limit_pushes_window,
                wait,
            )
        return [push for push in due if push.outbox_id not in held]

    async def _delete_finished(self) -> None:
        if self._finished:
            finished, self._finished = self._finished, []
            try:
                async with self.session_factory() as session:
                    await push_outbox.delete_pushes(session, finished)
            except BaseException:
                self._finished[:0] = finished  # the next turn tries again
                raise

    async def _enqueue(self) -> None:
        oldest = utcnow() - timedelta(seconds=self.settings.push_ttl_seconds)
        while True:
            async with self.session_factory() as session:
                passed = await push_outbox.enqueue_new(session, self.delay, oldest, ENQUEUE_PAGE)
            if passed != ENQUEUE_PAGE:
                return

    async def _attempt(self, push: push_outbox.DuePush) -> None:
        try:
            try:
                target = Target(push.endpoint, push.p256dh, push.auth)
                payload = push_payload(push.notification)
                priority = push.notification.priority
                outcome = await self.sender.send(target, payload, urgency(priority))
            except Exception as exc:  # a bug, not the push service: still one attempt
                logger.exception("push %d failed unexpectedly", push.outbox_id)
                outcome = Outcome("retry", f"error: {type(exc).__name__}")
            await self._settle(push, outcome)
        except Exception:
            logger.exception(
                "push %d: bookkeeping failed (due again after its lease)", push.outbox_id
            )
        finally:
            self._sending.pop(push.outbox_id, None)

    async def _settle(self, push: push_outbox.DuePush, outcome: Outcome) -> None:
        result = outcome.result
        attempts = push.attempts + 1
        if result == "retry" and attempts >= self.settings.push_max_attempts:
            result = "failed"  # out of attempts
        if result in ("delivered", "failed"):
            # Deleted by the next turn with the others: one statement, not one per push.
            self._finished.append(push.outbox_id)
        else:
            async with self.session_factory() as session:
                if result == "gone":
                    await PushSubscriptionRepository(session).delete(push.subscription_id)
                    await session.commit()
                else:
                    wait = max(outcome.retry_after or 0.0, backoff(attempts))
                    due = utcnow() + timedelta(seconds=wait)
                    await push_outbox.reschedule(session, push.outbox_id, attempts, due)
        if result == "gone":
            await self.receipts.changed()
        self.metrics.push_sent.labels(result).inc()
        level = logging.INFO if result == "delivered" else logging.WARNING
        logger.log(
            level,
            "push of notification %d to %s (subscription %d, attempt %d): %s (%s)",
            push.notification.id,
            endpoint_origin(push.endpoint),
            push.subscription_id,
            attempts,
            result,
            outcome.detail,
        )


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: doubling from 1 s, capped, with some jitter."""
    doubled: float = BACKOFF_BASE * 2.0 ** (attempts - 1)
    return min(BACKOFF_MAX, doubled) * random.uniform(1.0, 1.25)
