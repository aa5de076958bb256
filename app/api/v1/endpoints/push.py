"""Web Push: the VAPID public key, and the caller's browser subscriptions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.api.deps import CurrentPrincipal, IdPath, RuntimeDep, SessionDep
from app.push.service import WebPush
from app.push.subscriptions import PushSubscriptionService
from app.schemas.push import PushSubscriptionCreate, PushSubscriptionPublic, VapidPublicKey

router = APIRouter(prefix="/push", tags=["push"])


async def get_push(runtime: RuntimeDep) -> WebPush:
    return runtime.push


async def get_subscriptions(
    session: SessionDep, push: Annotated[WebPush, Depends(get_push)]
) -> PushSubscriptionService:
    return PushSubscriptionService(session, push)


PushDep = Annotated[WebPush, Depends(get_push)]
SubscriptionsDep = Annotated[PushSubscriptionService, Depends(get_subscriptions)]


@router.get("/vapid-public-key", response_model=VapidPublicKey)
async def vapid_public_key(push: PushDep) -> VapidPublicKey:
    """The `applicationServerKey` for `pushManager.subscribe`."""
    return VapidPublicKey(public_key=push.vapid.public_key)


@router.post(
    "/subscriptions",
    response_model=PushSubscriptionPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "This endpoint was subscribed already; now the caller's"}},
)
async def subscribe(
    body: PushSubscriptionCreate,
    principal: CurrentPrincipal,
    subscriptions: SubscriptionsDep,
    response: Response,
) -> PushSubscriptionPublic:
    """A browser's `PushSubscription.toJSON()`; the endpoint must be https:// and public."""
    subscription, created = await subscriptions.subscribe(principal, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return PushSubscriptionPublic.model_validate(subscription)


@router.get("/subscriptions", response_model=list[PushSubscriptionPublic])
async def list_subscriptions(
    principal: CurrentPrincipal, subscriptions: SubscriptionsDep
) -> list[PushSubscriptionPublic]:
    return [PushSubscriptionPublic.model_validate(s) for s in await subscriptions.of(principal)]


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unsubscribe(
    subscription_id: IdPath, principal: CurrentPrincipal, subscriptions: SubscriptionsDep
) -> Response:
    await subscriptions.unsubscribe(principal, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
