"""The deployment's limits: streams open per principal and per salon, streams opened and
stats requests per window. Past one, LimitExceeded (429 with Retry-After). Pushes per salon
and window too (take_pushes: the dispatcher holds the rest back, nobody is refused).

The counts live in a LimitStore chosen like the broker (memory:// this process, redis://
every instance). If the store can't be reached, requests pass (and a warning is logged):
a Redis outage must not refuse every stream while the rest of the service still works.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
from typing import NewType

from app.core.config import Settings
from app.core.security import Principal
from app.limits import LimitStore, LimitStoreError
from app.limits.base import Rate
from app.services.errors import LimitExceeded

logger = logging.getLogger(__name__)

# Limit names, as `salon_limit_refusals{limit=...}` counts them.
STREAMS_PER_PRINCIPAL = "streams_per_principal"
STREAMS_PER_SALON = "streams_per_salon"
STREAM_OPENS = "stream_opens"
STATS_REQUESTS = "stats_requests"
BODY_SIZE = "body_size"
LOGIN_FAILURES = "login_failures_per_account"
LOGIN_FAILURES_PER_ADDRESS = "login_failures_per_address"
REGISTRATIONS_PER_ADDRESS = "registrations_per_address"
PUSHES_PER_SALON = "pushes_per_salon"
LIMIT_NAMES = (
    STREAMS_PER_PRINCIPAL,
    STREAMS_PER_SALON,
    STREAM_OPENS,
    STATS_REQUESTS,
    BODY_SIZE,
    LOGIN_FAILURES,
    LOGIN_FAILURES_PER_ADDRESS,
    REGISTRATIONS_PER_ADDRESS,
    PUSHES_PER_SALON,
)
# A slot frees when one of the principal's streams ends, which no one can foretell: a hint.
STREAM_SLOT_RETRY_AFTER = 5.0


# Stream slots taken together, given back together (the store remembers which).
Lease = NewType("Lease", str)


class Limiter:
    def __init__(self, store: LimitStore, settings: Settings) -> None:
        # Lease ids: unique across instances (a random prefix each) without a uuid4 (and its
        # system call for random bytes) per stream.
        self._lease_prefix = f"{secrets.token_hex(8)}-"
        self._lease_numbers = itertools.count()
        self.store = store
        self.settings = settings

    async def start(self) -> None:
        await self.store.start()

    async def stop(self) -> None:
        await self.store.stop()

    async def acquire_stream(self, principal: Principal, salon_id: int | None) -> Lease | None:
        """Count an opening and take a stream slot of the principal (and of the admin's
        salon), in one step: LimitExceeded past one; None when nothing was taken (no slot
        limits, or the store is down)."""
        s = self.settings
        rate = None
        if s.limit_stream_opens:
            key = f"stream-opens:user:{principal.user_id}"
            rate = Rate(key, s.limit_stream_opens, s.limit_stream_opens_window)
        slots: list[tuple[str, str, int]] = []
        if s.limit_streams_per_principal:
            slots.append(
                (
                    STREAMS_PER_PRINCIPAL,
                    f"streams:user:{principal.user_id}",
                    s.limit_streams_per_principal,
                )
            )
        if salon_id is not None and s.limit_streams_per_salon:
            slots.append(
                (STREAMS_PER_SALON, f"streams:salon:{salon_id}", s.limit_streams_per_salon)
            )
        if rate is None and not slots:
            return None
        lease = f"{self._lease_prefix}{next(self._lease_numbers)}"
        try:
            wait, full = await self.store.hit_and_acquire(
                rate, lease, [(key, n) for _, key, n in slots]
            )
        except LimitStoreError as exc:
            logger.warning("stream limits not checked (store unavailable): %s", exc)
            return None
        if rate is not None and wait > 0:
            raise _rate_exceeded(STREAM_OPENS, rate, wait)
        if full is not None:
            name, _, limit = slots[full]
            raise LimitExceeded(
                _STREAM_DETAIL[name].format(limit=limit),
                limit=name,
                retry_after=STREAM_SLOT_RETRY_AFTER,
            )
        return Lease(lease) if slots else None

    async def release_stream(self, lease: Lease | None) -> None:
        if lease is not None:
            await self.store.release(lease)

    async def stats_request(self, principal: Principal) -> None:
        s = self.settings
        await self._rate(
            STATS_REQUESTS,
            f"stats:user:{principal.user_id}",
            s.limit_stats_requests,
            s.limit_stats_window,
        )

    async def check_login(self, account: str, address: str | None) -> None:
        """LimitExceeded if the account or the address has failed too often of late: then
        even the right password is refused, so guessing on past the limit learns nothing."""
        for name, rate in self._login_rates(account, address):
            try:
                wait = await self.store.blocked(rate.key, rate.limit)
            except LimitStoreError as exc:
                logger.warning("%s limit not checked (store unavailable): %s", name, exc)
                continue
            if wait > 0:
                raise _rate_exceeded(name, rate, wait)

    async def count_login_failure(self, account: str, address: str | None) -> None:
        for name, rate in self._login_rates(account, address):
            try:
                await self.store.hit(*rate)
            except LimitStoreError as exc:
                logger.warning("%s not counted (store unavailable): %s", name, exc)

    async def registration(self, address: str | None) -> None:
        """Count a registration from `address`; LimitExceeded past the limit."""
        s = self.settings
        if address is not None:
            key = f"registrations:address:{address}"
            limit, window = s.limit_registrations_per_address, s.limit_auth_window
            await self._rate(REGISTRATIONS_PER_ADDRESS, key, limit, window)

    async def take_pushes(self, salon_id: int, count: int) -> tuple[int, float]:
        """How many of `count` pushes for the salon's notifications may go out now, and
        the seconds until the window ends (0 when all may)."""
        s = self.settings
        if not s.limit_pushes_per_salon:
            return count, 0.0
        rate = Rate(f"pushes:salon:{salon_id}", s.limit_pushes_per_salon, s.limit_pushes_window)
        try:
            # One hit per push, asked together: one round trip to Redis (ScriptChannel).
            waits = await asyncio.gather(*(self.store.hit(*rate) for _ in range(count)))
        except LimitStoreError as exc:
            logger.warning("%s limit not checked (store unavailable): %s", PUSHES_PER_SALON, exc)
            return count, 0.0
        return sum(1 for wait in waits if wait == 0), max(waits, default=0.0)

    def _login_rates(self, account: str, address: str | None) -> list[tuple[str, Rate]]:
        s = self.settings
        rates = []
        if s.limit_login_failures:
            # Hashed: the key's length is ours, whatever was typed as the email.
            digest = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()[:32]
            key = f"login-failures:account:{digest}"
            rates.append((LOGIN_FAILURES, Rate(key, s.limit_login_failures, s.limit_auth_window)))
        if address is not None and s.limit_login_failures_per_address:
            limit, key = s.limit_login_failures_per_address, f"login-failures:address:{address}"
            rates.append((LOGIN_FAILURES_PER_ADDRESS, Rate(key, limit, s.limit_auth_window)))
        return rates

    async def _rate(self, name: str, key: str, limit: int, window: float) -> None:
        if not limit:
            return
        try:
            wait = await self.store.hit(key, limit, window)
        except LimitStoreError as exc:
            logger.warning("%s limit not checked (store unavailable): %s", name, exc)
            return
        if wait > 0:
            raise _rate_exceeded(name, Rate(key, limit, window), wait)


def _rate_exceeded(name: str, rate: Rate, wait: float) -> LimitExceeded:
    return LimitExceeded(
        f"{_RATE_DETAIL[name]}: at most {rate.limit} per {rate.window:g} s",
        limit=name,
        retry_after=wait,
    )


_STREAM_DETAIL = {
    STREAMS_PER_PRINCIPAL: "too many streams open: at most {limit} at once per principal",
    STREAMS_PER_SALON: "too many streams open for this salon: at most {limit} at once",
}
_RATE_DETAIL = {
    STREAM_OPENS: "streams opened too often",
    STATS_REQUESTS: "stats requested too often",
    LOGIN_FAILURES: "too many failed sign-ins for this account",
    LOGIN_FAILURES_PER_ADDRESS: "too many failed sign-ins from this address",
    REGISTRATIONS_PER_ADDRESS: "too many registrations from this address",
}
