"""Secrets at rest: argon2id password hashing off the event loop, the password policy, token digests."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

import anyio
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import SecretStr
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from televisit.core.config import Settings
from televisit.core.errors import Unprocessable


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    # The 30,000 most common passwords from leaked sets, as shipped by zxcvbn.
    return frozenset(FREQUENCY_LISTS["passwords"])


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._min_length = settings.password_min_length
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_cost,
            parallelism=settings.password_parallelism,
            type=Type.ID,
        )
        # Verified against when the email is unknown, so timing does not reveal who has an account.
        self._dummy_hash = self._hasher.hash("not-a-real-password-" + "x" * 16)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        ok = await anyio.to_thread.run_sync(check)
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def check_policy(self, password: str, *, email: str, full_name: str) -> None:
        problems: list[str] = []
        if len(password) < self._min_length:
            problems.append(f"must be at least {self._min_length} characters long")
        lowered = password.lower()
        if lowered in _common_passwords() or len(set(lowered)) < 4:
            problems.append("is too common or too easy to guess")
        if _contains_identity(lowered, email=email, full_name=full_name):
            problems.append("must not contain your email or name")
        if problems:
            raise Unprocessable(
                "The password " + " and ".join(problems) + ".",
                code="weak_password",
                details=[{"loc": ["body", "password"], "msg": p} for p in problems],
            )


def _contains_identity(lowered: str, *, email: str, full_name: str) -> bool:
    # Guessers try the account's own words first; parts under 4 letters would refuse too much.
    parts = [email.split("@", 1)[0].lower(), *full_name.lower().split()]
    return any(len(part) >= 4 and part in lowered for part in parts)


def token_digest(secret_key: SecretStr | str, token: str) -> str:
    """The keyed digest stored for a bearer token: a database leak yields no usable token.

    The key stays wrapped until here, the one place that needs its bytes.
    """
    key = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()
