from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from televisit.core.text import Pattern
from televisit.users.schemas import UserPublic

EMAIL_MAX = 254
# NUL (PostgreSQL refuses it in text) and "İ", the one character whose lowercase is two (so an
# address of 254 characters could lengthen past the column): neither is in anyone's address.
LOGIN_EMAIL_PATTERN = r"^[^\u0000\u0130]*$"
# Refusals of well-formed codes (see core.schemas.errors).
INVALID_PASSCODE = {"invalid_passcode": "not the app's current code (or already used)"}
INVALID_CREDENTIALS = {"invalid_credentials": "the password or the code is not right"}
# A device token is what this server issued (43 characters); anything longer is not one.
DeviceToken = Annotated[str, Field(min_length=1, max_length=256)]
# Six digits from the authenticator app, or a recovery code ("k7qp-3mzx-t9wd"). Named `passcode`
# (not `code`) so that the request log redacts it like a password.
Passcode = Annotated[str, Field(min_length=1, max_length=64)]


def _login_email(value: str) -> str:
    # Either character would fail the failure record with a 500 (see LOGIN_EMAIL_PATTERN).
    if "\x00" in value or "\u0130" in value:
        raise ValueError("this cannot be an email address")
    return value.lower()


# Not EmailStr: a malformed address is just a wrong sign-in (or an unknown one), answered as any.
LoginEmail = Annotated[str, Field(min_length=1, max_length=EMAIL_MAX), AfterValidator(_login_email),
                       Pattern(LOGIN_EMAIL_PATTERN)]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: LoginEmail
    password: str = Field(min_length=1, max_length=256)
    device_token: DeviceToken | None = Field(
        default=None,
        description="The `device_token` of an earlier sign-in on this device: strangers' failed "
                    "attempts on the account then never throttle this device.",
    )


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires if it is not used.")
    user: UserPublic
    mfa_required: Literal[False] = False
    mfa_enrollment_required: bool = Field(
        default=False,
        description="Two-factor sign-in is required for this account and not set up yet: this token "
                    "only reaches GET /me, logout and /auth/mfa/... (anything else is 403 "
                    "`mfa_enrollment_required`) until POST /auth/mfa/confirm succeeds.",
    )
    device_token: str = Field(
        description="Keep it on this device and send it with the next sign-ins (not a credential).",
    )


class MfaRequired(BaseModel):
    """The password was right and the account uses two-factor sign-in: send a code with this token
    to POST /api/v1/auth/login/mfa."""

    mfa_required: Literal[True] = True
    mfa_token: str = Field(description="Single use, short-lived; only for POST /auth/login/mfa.")
    expires_in: int = Field(description="Seconds left to send the code.")


class MfaLoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mfa_token: str = Field(min_length=1, max_length=256)
    passcode: Passcode
    device_token: DeviceToken | None = None


class RegistrationAccepted(BaseModel):
    message: str = Field(description="The same whether or not the address already had an account.")


class MfaStatusPublic(BaseModel):
    enabled: bool
    required: bool = Field(description="Whether your role must use two-factor sign-in.")
    recovery_codes_left: int


class MfaEnrollmentPublic(BaseModel):
    secret: str = Field(description="The key to type into an authenticator app (base32); shown only now.")
    otpauth_uri: str = Field(description="The same key as an otpauth:// URI (what the QR code holds).")
    qr_svg: str = Field(description="The QR code as a data: URI of an SVG image, for an <img>.")


class MfaConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passcode: Passcode


class RecoveryCodesPublic(BaseModel):
    recovery_codes: list[str] = Field(description="Each works once instead of a code. Shown only now.")


class MfaDisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=256)
    passcode: Passcode


# A link's token is what this server made (43 characters); anything much longer is not one.
LinkToken = Annotated[str, Field(min_length=1, max_length=256)]


class JoinRequest(BaseModel):
    """The token from a visit's emailed link (`/join#<token>`), sent in the body: never in a URL."""

    model_config = ConfigDict(extra="forbid")

    token: LinkToken


class JoinPublic(BaseModel):
    """A session for one visit only: its visit's routes and frames work, everything else is 403
    `scope_limited` (other visits: 404) until a password sign-in."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires if it is not used.")
    user: UserPublic
    appointment_id: uuid.UUID = Field(description="The one visit this session may open.")
    password_set: bool = Field(description="Whether the account has a password (an invited patient "
                                           "has none until she chooses one).")


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: LoginEmail  # a malformed address is answered like an unknown one (the same 202)


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkToken
    password: str = Field(min_length=1, max_length=256)


class Accepted(BaseModel):
    message: str = Field(description="The same whatever happened behind it.")
