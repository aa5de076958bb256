"""All models, imported here so Alembic and the app see one metadata."""

from app.db.models.account import Salon, User
from app.db.models.booking import Appointment, Service
from app.db.models.notification import Notification, Watermark
from app.db.models.push_subscription import PushOutbox, PushReached, PushSubscription
from app.db.models.revocation import Revocation

__all__ = [
    "Appointment",
    "Notification",
    "PushOutbox",
    "PushReached",
    "PushSubscription",
    "Revocation",
    "Salon",
    "Service",
    "User",
    "Watermark",
]
