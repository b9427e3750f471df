from __future__ import annotations

import re
import uuid
from functools import cache
from importlib import resources
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from televisit.core.schemas import SettingBound
from televisit.core.text import NAME_PATTERN, Pattern, not_blank, single_line
from televisit.users.models import Role


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


# email-validator (what EmailStr runs) refuses the special-use domains (`.test`, `.local`...),
# which JSON Schema's `format: email` allows: the schema says so with a `not`.
SPECIAL_USE_DOMAIN = "[.@](?:" + "|".join(_any_case(d) for d in SPECIAL_USE_DOMAIN_NAMES) + ")$"
EmailAddress = Annotated[EmailStr, Field(
    max_length=254, json_schema_extra={"not": {"pattern": SPECIAL_USE_DOMAIN}},
    description="Not in a special-use domain (" + ", ".join(f"`.{d}`" for d in SPECIAL_USE_DOMAIN_NAMES)
                + "): no mail reaches those.",
)]
# Counted before the surrounding whitespace is dropped, so that the schema's maxLength is exact.
FullName = Annotated[
    str,
    StringConstraints(max_length=200),
    AfterValidator(single_line),
    AfterValidator(not_blank),
    AfterValidator(str.strip),
    Pattern(NAME_PATTERN),
]


@cache
def known_time_zones() -> tuple[str, ...]:
    """The IANA names of the pinned `tzdata` package (uv.lock), which zoneinfo falls back to:
    every one can be loaded on any machine, and the list is the same on every machine (the
    system's own list differs, e.g. it has `localtime`), so the OpenAPI document can state it."""
    return tuple(sorted(resources.files("tzdata").joinpath("zones").read_text().split()))


def _time_zone(value: str) -> str:
    if value not in known_time_zones():
        raise ValueError("must be an IANA time zone name, e.g. Europe/Berlin")
    return value


def _time_zone_enum(schema: dict[str, object]) -> None:
    schema["enum"] = list(known_time_zones())


# Validated against the list and stated as an `enum` of it (a Literal of 600 names would be slow
# to build and the same thing).
TimeZoneName = Annotated[
    str, Field(examples=["Europe/Berlin"], json_schema_extra=_time_zone_enum), AfterValidator(_time_zone)
]


def _time_zone_hint(value: str) -> str | None:
    return value if value in known_time_zones() else None


# What a browser says (`Intl`), which may know a newer zone than this server: taken if known,
# else left out (UTC), so that signing up never fails over it.
TimeZoneHint = Annotated[str, Field(max_length=64, examples=["Europe/Berlin"]),
                         AfterValidator(_time_zone_hint)]
# The policy (TELEVISIT_PASSWORD_MIN_LENGTH, common passwords, the person's own name) is checked
# by core.security: 422 `weak_password`. The schema states the length this server requires.
NewPassword = Annotated[str, Field(min_length=1, max_length=256),
                        SettingBound("minLength", "password_min_length")]
WEAK_PASSWORD = {"weak_password": "the password is too common, too easy to guess or holds the name"}


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailAddress
    password: NewPassword
    full_name: FullName
    time_zone: TimeZoneHint | None = Field(
        default=None, description="Where the person lives: the browser's IANA zone. One this "
                                  "server does not know, or none, means UTC (PATCH /me changes it).")


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_zone: TimeZoneName


class AdminUserCreate(UserCreate):
    role: Role
    # Narrower than at sign-up: an admin names the zone on purpose, so an unknown one is refused.
    time_zone: TimeZoneName | None = Field(
        default=None, description="Where the person lives (an IANA zone); UTC when not given.")


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
