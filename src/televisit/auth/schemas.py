from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from televisit.users.schemas import UserPublic

EMAIL_MAX = 254


def _login_email(value: str) -> str:
    # Lowercasing can lengthen text ("İ" becomes two characters) past the column width, and
    # PostgreSQL refuses NUL in text: either would fail the failure record with a 500.
    lowered = value.lower()
    if len(lowered) > EMAIL_MAX or "\x00" in lowered:
        raise ValueError("this cannot be an email address")
    return lowered


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not EmailStr: a malformed address is just a wrong login, answered like any other.
    email: Annotated[str, Field(min_length=1, max_length=EMAIL_MAX), AfterValidator(_login_email)]
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires if it is not used.")
    user: UserPublic
