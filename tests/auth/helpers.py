"""What the account and session tests share: the routes, the error body, and database counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import func, select

from televisit.auth.models import AuthSession, LoginFailure
from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from televisit.users.models import User
from tests.fixtures.assertions import assert_error

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
ADMIN_USERS = "/api/v1/admin/users"
PATIENTS = "/api/v1/patients"

# Not in zxcvbn's common list, free of any test email or name.
STRONG_PASSWORD = "amber-quartz-meadow-1987"
USER_KEYS = {"id", "email", "full_name", "role", "time_zone"}



def assert_unauthorized(response: httpx.Response, code: str | None = None) -> dict[str, Any]:
    """A 401 that tells the client which scheme to use, as RFC 6750 asks."""
    error = assert_error(response, 401, code)
    assert response.headers.get("www-authenticate") == "Bearer"
    return error


def assert_not_leaked(response: httpx.Response, *secrets: str) -> None:
    """Neither the given secrets nor any password hash appear in the response."""
    for secret in secrets:
        assert secret not in response.text
    assert "$argon2" not in response.text
    assert "password_hash" not in response.text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def new_token(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def count(app: FastAPI, model: type, **where: Any) -> int:
    """Rows of ``model`` matching the equality filters, read straight from the database."""
    stmt = select(func.count()).select_from(model)
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    async with session_scope(runtime_of(app).sessionmaker) as session:
        return (await session.execute(stmt)).scalar_one()


async def count_users(app: FastAPI, **where: Any) -> int:
    return await count(app, User, **where)


async def count_sessions(app: FastAPI, **where: Any) -> int:
    return await count(app, AuthSession, **where)


async def count_failures(app: FastAPI, **where: Any) -> int:
    return await count(app, LoginFailure, **where)


LOGIN_MFA = "/api/v1/auth/login/mfa"
MFA = "/api/v1/auth/mfa"
MFA_ENROLL = "/api/v1/auth/mfa/enroll"
MFA_CONFIRM = "/api/v1/auth/mfa/confirm"
MFA_DISABLE = "/api/v1/auth/mfa/disable"


def totp(secret: str, at: datetime) -> str:
    """The code an authenticator app shows at ``at`` (computed independently of the server)."""
    return pyotp.TOTP(secret).at(at)


async def enroll(client: httpx.AsyncClient, headers: dict[str, str], at: datetime) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on as the account page does; the key and the recovery codes."""
    started = await client.post(MFA_ENROLL, headers=headers)
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = await client.post(MFA_CONFIRM, json={"passcode": totp(secret, at)}, headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


async def mfa_login(client: httpx.AsyncClient, mfa_token: str, passcode: str,
                    device_token: str | None = None) -> httpx.Response:
    body = {"mfa_token": mfa_token, "passcode": passcode}
    if device_token:
        body["device_token"] = device_token
    return await client.post(LOGIN_MFA, json=body)
