"""A Redis connection redis-py made, taken over: its transport feeds our own protocol.

redis-py's asyncio client costs tens of µs per command or message (its pool, asyncio
streams, a timeout and a retry wrapper around every read). The two hot paths that talk to
Redis all the time (a stream's admission script, app/limits/script_channel.py, and the
notification channel every instance hears, app/broker/redis.py) take the connection once
redis-py has made it (its URL options, AUTH, SELECT, TLS) and from then on write commands
packed by hiredis and parse what comes with hiredis, many replies per read.

This uses two private attributes of redis-py's connection (`_writer.transport` and
`_close()`); redis is pinned, and the broker and limit-store contract tests go through
this module, so an upgrade that moves them fails CI, not production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis


async def connect(client: aioredis.Redis, seconds: float) -> Any:
    """A new connection of `client`'s pool, connected within `seconds` (not in the pool:
    it is ours)."""
    connection = client.connection_pool.make_connection()
    async with asyncio.timeout(seconds):
        await connection.connect()
    return connection


class TakenConnection(asyncio.Protocol):
    """The transport of a connection redis-py made, with hiredis parsing the replies;
    `reply_received` gets each, `failed` is told once when the connection is done for."""

    def __init__(self, made_by: Any) -> None:
        # redis-py's connection: its transport (with nothing left to read) is ours from here
        # on; it is kept, since collecting it would close the transport.
        self._made_by = made_by
        transport = self._transport = made_by._writer.transport
        self._reader = hiredis.Reader()
        self._failed = False
        transport.set_protocol(self)

    @property
    def usable(self) -> bool:
        return not self._failed and not self._transport.is_closing()

    def write(self, commands: Sequence[tuple[Any, ...]]) -> None:
        self._transport.write(b"".join(hiredis.pack_command(c) for c in commands))

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self.reply_received(reply)
            if self._failed:
                return

    def reply_received(self, reply: Any) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(f"the connection was lost ({exc or 'closed'})")

    def fail(self, why: str) -> None:
        if self._failed:
            return
        self._failed = True
        self._transport.abort()
        self._made_by._close()  # nothing left open for redis-py to warn about when collected
        self.failed(why)

    def failed(self, why: str) -> None:
        """What the connection's users must be told when it is done for."""
