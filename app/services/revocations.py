"""Which credentials no longer count, known to every instance without a query per request.

A revocation is a row (app/db/models/revocation.py): a session's id, or "every credential
of user U issued before T" (logout everywhere; a user deleted or changed, written by a
trigger on `users`). Each instance keeps in memory the latest T per user and the revoked
session ids, so checking a credential is two dictionary look-ups. It learns of new rows:
- at once from the instance that wrote one, over the broker ("revocations" channel);
- within `poll_interval` from the database anyway (a lost message, a trigger's row, an
  instance started later): each poll reads the rows past the last id it saw;
- when it starts: every row whose credentials may not have expired yet.
Whoever it learns of is also forgotten by the routing cache and has their streams ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker import Broker
from app.core.security import Principal
from app.core.tasks import cancel_and_wait
from app.db.models import Revocation
from app.db.reads import Reads
from app.db.repositories.revocations import REVOCATIONS_AFTER, add_revocation

logger = logging.getLogger(__name__)

# Rows re-read below the last id seen: on PostgreSQL a row with a lower id may commit after
# one with a higher id; revoking twice is harmless.
LOOK_BACK = 100
# Called with (user_id, sid, revoked_at) for each revocation learnt (sid None: all before).
Listener = Callable[[int, str | None, float], None]


class Revocations:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        reads: Reads,
        broker: Broker,
        channel: str,
        poll_interval: float,
        longest_credential: float,
    ) -> None:
        self.session_factory = session_factory
        self.reads = reads  # the poll: no session (SQLite: one thread hop)
        self.broker = broker
        self.channel = channel
        self.poll_interval = poll_interval
        self.longest_credential = longest_credential  # seconds a token may live, at most
        self._before: dict[int, float] = {}  # user -> credentials issued before are void
        self._sessions: dict[str, float] = {}  # revoked session id -> when to forget it
        self._cursor = 0
        self._listeners: list[Listener] = []
        self._poller: asyncio.Task[None] | None = None

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        await self._read_new()
        await self.broker.subscribe(self.channel, self.on_message)
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._poller)
        await self.broker.unsubscribe(self.channel, self.on_message)

    def is_revoked(self, principal: Principal) -> bool:
        before = self._before.get(principal.user_id)
        if before is not None and principal.issued_at < before:
            return True
        return principal.sid is not None and principal.sid in self._sessions

    async def revoke_session(self, principal: Principal) -> None:
        """The principal's sign-in session: its cookie and the stream tokens minted from it."""
        if principal.sid is not None:
            await self._revoke(principal.user_id, principal.sid, "logout")

    async def revoke_all(self, user_id: int) -> None:
        """Every credential of the user issued until now."""
        await self._revoke(user_id, None, "logout_all")

    async def _revoke(self, user_id: int, sid: str | None, reason: str) -> None:
        now = time.time()
        row = Revocation(
            user_id=user_id,
            sid=sid,
            revoked_at=now,
            expires_at=now + self.longest_credential,
            reason=reason,
        )
        async with self.session_factory() as session:
            await add_revocation(session, row)
            await session.commit()
        self._apply(user_id, sid, now, row.expires_at)
        message = [user_id, sid, now, row.expires_at]
        try:
            await self.broker.publish(self.channel, orjson.dumps(message))
        except Exception as exc:  # the others read it from the database within a poll
            logger.warning("revocation not published (the others poll for it): %s", exc)

    def on_message(self, message: bytes) -> None:
        try:
            user_id, sid, revoked_at, expires_at = orjson.loads(message)
            self._apply(int(user_id), sid, float(revoked_at), expires_at)
        except (ValueError, TypeError) as exc:
            logger.warning("unreadable revocation message ignored: %s", exc)

    def _apply(
        self, user_id: int, sid: str | None, revoked_at: float, expires: float | None
    ) -> None:
        if sid is None:
            if self._before.get(user_id, 0.0) >= revoked_at:
                return  # known already
            self._before[user_id] = revoked_at
        else:
            if sid in self._sessions:
                return
            self._sessions[sid] = expires if expires is not None else float("inf")
        for listener in self._listeners:
            listener(user_id, sid, revoked_at)

    async def _read_new(self) -> None:
        now = time.time()
        after = max(0, self._cursor - LOOK_BACK)
        rows = await self.reads.run(REVOCATIONS_AFTER, {"after": after, "now": now}, list)
        for row in rows:
            self._apply(row.user_id, row.sid, row.revoked_at, row.expires_at)
            self._cursor = max(self._cursor, row.id)
        for sid in [s for s, ends in self._sessions.items() if ends <= now]:
            del self._sessions[sid]

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self._read_new()
            except Exception as exc:  # the database is down: the next poll tries again
                logger.warning("reading revocations failed: %s", exc)
