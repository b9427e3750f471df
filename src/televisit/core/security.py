"""Secrets at rest: argon2id password hashing off the event loop (in bounded memory), the password
policy, token digests, and encryption of the few secrets the server must read back (TOTP keys)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

import anyio
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from televisit.core.config import Settings
from televisit.core.errors import AppError, Unprocessable


class HashingBusy(AppError):
    """Every hashing slot stayed taken while the request waited: come back shortly."""

    status_code = 503
    code = "busy"
    message = "The server is busy. Try again in a moment."

    def __init__(self, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(details={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    # The 30,000 most common passwords from leaked sets, as shipped by zxcvbn.
    return frozenset(FREQUENCY_LISTS["passwords"])


def hashing_slots(settings: Settings) -> int:
    """How many argon2id hashes may run at once: each holds ``password_memory_cost`` KiB."""
    return max(1, settings.password_hash_memory_budget * 1024 // settings.password_memory_cost)


class Passwords:
    """argon2id with bounded concurrency: every hash and verify holds one of a few slots.

    Each hash takes ``password_memory_cost`` (64 MiB) for its duration; unbounded, a burst of
    anonymous registrations or sign-ins took the process past its memory limit. A request that
    cannot get a slot within ``password_hash_wait`` seconds is answered 503 with Retry-After.
    """

    def __init__(self, settings: Settings) -> None:
        self._min_length = settings.password_min_length
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_cost,
            parallelism=settings.password_parallelism,
            type=Type.ID,
        )
        self.slots = hashing_slots(settings)
        self._slots = asyncio.Semaphore(self.slots)
        self._wait = settings.password_hash_wait
        # Verified against when the email is unknown, so timing does not reveal who has an account.
        self._dummy_hash = self._hasher.hash("not-a-real-password-" + "x" * 16)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise HashingBusy(math.ceil(self._wait)) from None
        try:
            yield
        finally:
            self._slots.release()

    async def hash(self, password: str) -> str:
        async with self._slot():
            return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        async with self._slot():
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
@lru_cache(maxsize=16)
def _purpose_key(secret: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"televisit:{purpose}".encode()).derive(secret.encode())


def derived_token(secret_key: SecretStr, purpose: str, seed: bytes) -> str:
    """A token made again whenever it is needed, from a stored random ``seed`` (a row's id) and a
    key derived from the secret key for this ``purpose``: 43 URL-safe characters. What is emailed
    (a join or password link) need then be stored nowhere, not even for the moment of sending;
    only `token_digest` of it is kept. Changing TELEVISIT_SECRET_KEY ends every such token."""
    mac = hmac.new(_purpose_key(secret_key.get_secret_value(), purpose), seed, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


class SecretBox:
    """Authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) under a key derived from the
    secret key, for secrets the server must read back, such as TOTP keys. A database leak alone
    yields none of them; changing TELEVISIT_SECRET_KEY makes them unreadable (users re-enrol)."""

    def __init__(self, secret_key: SecretStr | str, purpose: str) -> None:
        raw = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=f"televisit:{purpose}".encode()).derive(raw.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str | None:
        """The plaintext, or None when it was sealed under another key (or tampered with)."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
