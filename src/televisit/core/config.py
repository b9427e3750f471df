"""One settings object, read from ``TELEVISIT_*`` environment variables and validated at start."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-change-me"  # noqa: S105 - refused outside development


class ConfigError(ValueError):
    """Raised when the settings cannot run safely (e.g. a default secret in production)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEVISIT_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./televisit.db"
    secret_key: str = DEFAULT_SECRET
    log_format: Literal["console", "json"] | None = None
    log_level: str = "INFO"
    log_sql: bool | None = None

    host: str = "127.0.0.1"
    port: int = 8000

    # Sessions: a token dies after this long unused, and in any case after the absolute lifetime.
    session_idle_timeout: int = Field(default=30 * 60, ge=60)
    session_absolute_lifetime: int = Field(default=12 * 3600, ge=300)

    # Login throttling (docs/architecture.md, "Sessions and sign-in"): sliding windows, so nobody is
    # ever locked out for longer than the window. Counts of failures from devices that have not
    # signed in to the account before; a known device has its own count (login_max_failures_per_device).
    login_window: int = Field(default=15 * 60, ge=1)
    login_max_failures_per_account_ip: int = Field(default=5, ge=1)
    # Past this many, the account is not blocked: each new attempt waits login_slow_delay instead.
    login_max_failures_per_account: int = Field(default=10, ge=1)
    # High enough for a clinic behind one NAT (its known devices are exempt), low enough to stop spraying.
    login_max_failures_per_ip: int = Field(default=50, ge=1)

    # argon2id cost; lower only in tests.
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_cost: int = Field(default=64 * 1024, ge=8)
    password_parallelism: int = Field(default=2, ge=1)
    password_min_length: int = Field(default=10, ge=8)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    appointment_min_minutes: int = 5
    appointment_max_minutes: int = 240
    appointment_max_days_ahead: int = 366
    # How early before ``starts_at`` a call may be started.
    call_early_minutes: int = 15

    # Broker: Redis pub/sub when set (several instances), in-process otherwise.
    redis_url: str | None = None

    # Rooms follow Twilio's rules; all in seconds.
    room_unused_timeout: int = Field(default=300, ge=1)
    room_empty_timeout: int = Field(default=300, ge=1)
    room_max_duration: int = Field(default=4 * 3600, ge=60)
    room_sweep_interval: float = Field(default=1.0, gt=0)
    # Off only in tests that drive the timers by hand with a fake clock.
    room_timers_enabled: bool = True

    # ICE: STUN URLs, and TURN URLs with the coturn `use-auth-secret` shared secret.
    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: str | None = None
    turn_credential_ttl: int = Field(default=3600, ge=60)

    # WebSocket: browsers must come from these origins (the app's own origin is always allowed;
    # clients that send no Origin, like native apps, are allowed and still need a token).
    allowed_origins: list[str] = Field(default_factory=list)
    ws_auth_timeout: float = Field(default=5.0, gt=0)
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_rate_per_second: float = Field(default=50.0, gt=0)
    ws_rate_burst: int = Field(default=200, ge=1)
    ws_send_queue: int = Field(default=1000, ge=10)
    # Seconds an instance waits after SIGTERM (not ready, clients told to move) before it exits.
    drain_grace: float = Field(default=10.0, ge=0)
    # Whether /readyz fails while the broker (Redis) is down. Every instance shares one Redis, so
    # under Kubernetes an outage would take every pod out of the Service at once, though REST
    # still works without it: the shipped manifests turn this off (the check is still reported).
    readiness_requires_broker: bool = True
    instance_heartbeat: float = Field(default=5.0, gt=0)

    # Chat
    chat_max_length: int = Field(default=4000, ge=1, le=65536)

    # -- Sign-in hardening: hashing memory, registration throttling, known devices, two-factor --
    # MiB that password hashing may hold at once: budget // password_memory_cost hashes run side by
    # side (128 MiB at argon2id's 64 MiB: 2), so a burst of sign-ins cannot exhaust a 512 MiB pod.
    password_hash_memory_budget: int = Field(default=128, ge=1)
    # Seconds a request waits for a hashing slot before it is answered 503 with Retry-After.
    password_hash_wait: float = Field(default=10.0, gt=0)
    # Self-registration per client address, and in all, per sliding window (seconds): 429 past them.
    registration_window: int = Field(default=3600, ge=1)
    registration_max_per_ip: int = Field(default=20, ge=1)
    registration_max_total: int = Field(default=500, ge=1)
    # Seconds an attempt on an account under attack waits (429 `sign_in_delayed`, then retry).
    login_slow_delay: int = Field(default=3, ge=1, le=60)
    # Failures in login_window that throttle one known device (its own count, not the account's).
    login_max_failures_per_device: int = Field(default=5, ge=1)
    # Seconds a device stays known after its last sign-in.
    device_lifetime: int = Field(default=180 * 86400, ge=3600)
    # Doctors and admins must use two-factor sign-in (TOTP); recommended in production.
    mfa_required_for_staff: bool = False
    # Seconds between the password and the code, and wrong codes allowed in that time.
    mfa_challenge_lifetime: int = Field(default=300, ge=30)
    mfa_max_attempts: int = Field(default=5, ge=1)
    # The name authenticator apps show beside the account.
    mfa_issuer: str = Field(default="Televisit", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production":
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise ConfigError(
                    "TELEVISIT_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production (for example: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
        return self

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.env == "production" else "console"

    @property
    def effective_log_sql(self) -> bool:
        return self.env == "development" if self.log_sql is None else self.log_sql


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation failures into a clear ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        msgs = [str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors()]
        raise ConfigError("; ".join(msgs)) from None
