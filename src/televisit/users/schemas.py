from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from televisit.core.text import single_line
from televisit.users.models import Role

FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(single_line),
]
# Length bounds only; the policy (minimum length, common passwords) lives in auth.passwords.
Password = Annotated[str, Field(min_length=1, max_length=256)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=254)
    password: Password
    full_name: FullName


class AdminUserCreate(UserCreate):
    role: Role


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role


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
