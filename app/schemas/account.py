from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from app.core.account_rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    acceptable_password,
    registrable_email,
)
from app.schemas.common import Name, Storable

Password = Annotated[
    str,
    Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH),
    Storable,
    AfterValidator(acceptable_password),
]
# Validated as an address, then in the one form accounts are stored and looked up in.
Email = Annotated[EmailStr, Storable, AfterValidator(registrable_email)]


class AccountCreate(BaseModel):
    email: Email
    password: Password
    full_name: Name


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    role: Literal["superadmin", "admin", "customer"]
    salon_id: int | None


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class SalonCreate(BaseModel):
    name: Name


class SalonPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class ServiceCreate(BaseModel):
    name: Name
    duration_minutes: int = Field(ge=1, le=24 * 60)
    price: float = Field(ge=0, le=1_000_000, allow_inf_nan=False)


class ServicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    salon_id: int
    name: str
    duration_minutes: int
    price: float
