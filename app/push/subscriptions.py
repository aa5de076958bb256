"""Subscribing a browser: checked keys (schema), a safe endpoint, at most
PUSH_MAX_SUBSCRIPTIONS_PER_USER per user (the oldest go first), the same endpoint once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.db.models import PushSubscription
from app.db.repositories.push import PushSubscriptionRepository
from app.push.endpoints import UnsafeEndpoint
from app.push.service import WebPush
from app.schemas.push import PushSubscriptionCreate
from app.services import policy
from app.services.errors import InvalidRequest, NotFound


class PushSubscriptionService:
    def __init__(self, session: AsyncSession, push: WebPush) -> None:
        self.session = session
        self.push = push
        self.repository = PushSubscriptionRepository(session)

    async def subscribe(
        self, principal: Principal, body: PushSubscriptionCreate
    ) -> tuple[PushSubscription, bool]:
        """The caller's subscription for this endpoint; True if it is new."""
        policy.require_recipient(principal)
        try:
            await self.push.rule.check(body.endpoint)
        except UnsafeEndpoint as exc:
            raise InvalidRequest(str(exc)) from exc
        try:
            subscription, created = await self._upsert(principal.user_id, body)
        except IntegrityError:  # the same endpoint subscribed at the same moment: take it over
            await self.session.rollback()
            subscription, created = await self._upsert(principal.user_id, body)
        keep = self.push.settings.push_max_subscriptions_per_user
        await self._evict_oldest(principal.user_id, keep)
        await self.session.commit()
        await self.push.receipts.changed()
        return subscription, created

    async def of(self, principal: Principal) -> Sequence[PushSubscription]:
        policy.require_recipient(principal)
        return await self.repository.of_user(principal.user_id)

    async def unsubscribe(self, principal: Principal, subscription_id: int) -> None:
        policy.require_recipient(principal)
        if not await self.repository.delete_for(principal.user_id, subscription_id):
            raise NotFound("push subscription not found")
        await self.session.commit()
        await self.push.receipts.changed()

    async def _upsert(
        self, user_id: int, body: PushSubscriptionCreate
    ) -> tuple[PushSubscription, bool]:
        expiration = None if body.expiration_time is None else int(body.expiration_time)
        existing = await self.repository.by_endpoint(body.endpoint)
        if existing is None:
            subscription = PushSubscription(
                user_id=user_id,
                endpoint=body.endpoint,
                p256dh=body.keys.p256dh,
                auth=body.keys.auth,
                expiration_time=expiration,
            )
            return await self.repository.add(subscription), True
        if existing.user_id != user_id:  # another account signed in on that browser
            await self.repository.forget_pending(existing.id)
        existing.user_id = user_id
        existing.p256dh, existing.auth = body.keys.p256dh, body.keys.auth
        existing.expiration_time = expiration
        await self.session.flush()
        return existing, False

    async def _evict_oldest(self, user_id: int, keep: int) -> None:
        subscriptions = await self.repository.of_user(user_id)
        for old in subscriptions[: max(0, len(subscriptions) - keep)]:
            await self.repository.delete(old.id)
