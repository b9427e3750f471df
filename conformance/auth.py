"""Signing in: the one function that knows the flow, so a change of flow changes one place."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

from conformance.client import Api, CheckFailed, expect_status

LOGIN = "/api/v1/auth/login"
LOGIN_MFA = "/api/v1/auth/login/mfa"


def totp(secret: str, *, at: float | None = None, digits: int = 6, step: int = 30) -> str:
    """The RFC 6238 code (HMAC-SHA1) of a base32 secret, as an authenticator app shows it."""
    key = base64.b32decode(secret.replace(" ", "").upper() + "=" * (-len(secret.replace(" ", "")) % 8))
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


async def sign_in(api: Api, *, email: str, password: str, totp_secret: str | None = None) -> str:
    """Email and password (and a TOTP code when the server asks for a second factor) → access token.

    A server with two-factor sign-in answers the password with `{mfa_required: true, mfa_token}`;
    the code then goes to `POST /auth/login/mfa` with that token.
    """
    body = expect_status(await api.post(LOGIN, json={"email": email, "password": password}), 200)
    if isinstance(body, dict) and body.get("mfa_required"):
        if not totp_secret:
            raise CheckFailed(f"{email} needs a second factor: pass its TOTP secret")
        body = expect_status(await api.post(LOGIN_MFA, json={"mfa_token": body.get("mfa_token"),
                                                               "passcode": totp(totp_secret)}), 200)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise CheckFailed(f"sign-in of {email} gave no access_token")
    return token
