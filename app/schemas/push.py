"""Web Push bodies: a browser's PushSubscription.toJSON(), and what the API answers."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.db.models.push_subscription import AUTH_LENGTH, MAX_ENDPOINT_LENGTH, P256DH_LENGTH

MAX_EXPIRATION_MS = 2**53  # JavaScript's largest exact integer


def _decode(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64url") from exc


class PushKeys(BaseModel):
    p256dh: str = Field(min_length=1, max_length=P256DH_LENGTH, pattern=r"^[A-Za-z0-9_-]+=*$")
    auth: str = Field(min_length=1, max_length=AUTH_LENGTH, pattern=r"^[A-Za-z0-9_-]+=*$")

    @field_validator("p256dh")
    @classmethod
    def _point_on_p256(cls, value: str) -> str:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _decode(value))
        except ValueError as exc:
            raise ValueError("p256dh must be an uncompressed P-256 public key") from exc
        return value.rstrip("=")

    @field_validator("auth")
    @classmethod
    def _sixteen_bytes(cls, value: str) -> str:
        if len(_decode(value)) != 16:
            raise ValueError("auth must be 16 bytes")
        return value.rstrip("=")


class PushSubscriptionCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    endpoint: str = Field(min_length=1, max_length=MAX_ENDPOINT_LENGTH)
    expiration_time: float | None = Field(
        default=None, alias="expirationTime", ge=0, le=MAX_EXPIRATION_MS
    )
    keys: PushKeys


class PushSubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint: str
    created_at: datetime


class VapidPublicKey(BaseModel):
    public_key: str = Field(description="base64url uncompressed P-256 point")
