from fastapi import APIRouter

from app.api.v1.endpoints import (
    appointments,
    auth,
    notifications,
    operations,
    push,
    salons,
    session,
    stream_tokens,
)

api_router = APIRouter(prefix="/api/v1")
# The busiest first: every request is matched against the routers in this order.
api_router.include_router(notifications.router)
api_router.include_router(auth.router)
api_router.include_router(session.router)
api_router.include_router(salons.router)
api_router.include_router(stream_tokens.router)
api_router.include_router(appointments.router)
api_router.include_router(operations.router)
api_router.include_router(push.router)  # Web Push (app/push/)
