"""In-process broker: the default, for one process."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from app.broker.base import Handler
from app.core.pacing import Pacer

logger = logging.getLogger(__name__)


class MemoryBroker:
    batch_size = 20  # each message is fanned out to the streams inline, before publish returns

    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._handlers.clear()

    async def publish(self, channel: str, message: bytes) -> None:
        for handler in tuple(self._handlers.get(channel, ())):
            try:
                handler(message)
            except Exception:  # one bad subscriber must not stop the others
                logger.exception("broker handler failed on channel %s", channel)

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        handlers = tuple(self._handlers.get(channel, ()))
        pacer = Pacer()  # a message to 1,000 streams takes a millisecond or two to fan out
        for message in messages:
            await pacer.pause()
            for handler in handlers:
                try:
                    handler(message)
                except Exception:
                    logger.exception("broker handler failed on channel %s", channel)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        self._handlers[channel].append(handler)

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.get(channel)
        if handlers and handler in handlers:
            handlers.remove(handler)

    async def ping(self) -> bool:
        return True
