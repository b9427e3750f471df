from __future__ import annotations

import uuid
import zoneinfo
from functools import cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from televisit.core.text import single_line
from televisit.users.models import Role

FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(single_line),
]


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(value: str) -> str:
    """An IANA name this server knows (its tzdata), so every email can be shown in it."""
    if value not in _known_time_zones():
        raise ValueError("must be an IANA time zone name, e.g. Europe/Berlin")
    return value


TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, examples=["Europe/Berlin"]), AfterValidator(_time_zone)
]
# Length bounds only; the policy (minimum length, common passwords) lives in auth.passwords.
Password = Annotated[str, Field(min_length=1, max_length=256)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=254)
    password: Password
    full_name: FullName
    time_zone: TimeZoneName | None = Field(
        default=None, description="Where the person lives (the browser's); UTC when not given.")


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_zone: TimeZoneName


class AdminUserCreate(UserCreate):
    role: Role


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    time_zone: str


class PersonRef(BaseModel):
    """Who someone is, as shown to the other party of an appointment."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    full_name: str


class PatientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    full_name: str
    email: str


class PatientList(BaseModel):
    items: list[PatientPublic]
    next_cursor: str | None
