"""One settings object, read from ``TELEVISIT_*`` environment variables and validated at start."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from email.utils import parseaddr
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-change-me"  # noqa: S105 - refused outside development
# Production floors. The key signs every session token: 128 bits, as estimated by zxcvbn (which
# counts at most ~3.3 bits per random character, so a 40-character random key is the shortest
# that passes; `token_urlsafe(48)` gives 64). coturn's secret is shared text: 32 characters.
MIN_SECRET_KEY_BITS = 128
MIN_SECRET_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8
# Words that mark a value copied from a template (deploy/ ships `CHANGE-ME...`).
PLACEHOLDER = re.compile(r"change[-_ ]?me|replace[-_ ]?me|placeholder|insecure|example", re.I)
GENERATE_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
# The push services of Chrome (and Chromium-based browsers), Firefox, Edge and Safari.
DEFAULT_PUSH_HOSTS = ("fcm.googleapis.com", "updates.push.services.mozilla.com", "*.notify.windows.com",
                      "web.push.apple.com")


class ConfigError(ValueError):
    """Raised when the settings cannot run safely (e.g. a default secret in production)."""


def redact_url(url: str) -> str:
    """The URL with its password replaced, for reprs and messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "[REDACTED]"
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}"))


def _estimated_bits(value: str) -> float:
    """How many bits a guesser needs, by zxcvbn's estimate (dictionary words, keyboard walks,
    repeats and sequences count for little)."""
    from zxcvbn import zxcvbn

    return float(zxcvbn(value, max_length=256)["guesses_log10"]) * math.log2(10)


def _secret_problem(value: str, *, min_bits: float | None) -> str | None:
    """Why ``value`` cannot guard a production server, or None. Never quotes the value."""
    if value == DEFAULT_SECRET or PLACEHOLDER.search(value):
        return "is a placeholder (copied from a template)"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"repeats fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    if min_bits is not None and (bits := _estimated_bits(value)) < min_bits:
        return f"is too easy to guess (about {bits:.0f} bits; {min_bits:.0f} needed)"
    return None


def _is_p256_private_key(value: str) -> bool:
    import base64

    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", value):
        return False
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return False
    # A P-256 scalar: 32 bytes, 0 < d < n.
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    return len(raw) == 32 and 0 < int.from_bytes(raw, "big") < n


def _envelope_address(mail_from: str) -> str:
    return parseaddr(mail_from)[1] or "televisit@localhost"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting's error must not print the secret it refused.
    model_config = SettingsConfigDict(env_prefix="TELEVISIT_", extra="ignore",
                                      hide_input_in_errors=True)

    env: Literal["development", "production"] = "development"
    # Carries the database password: shown only redacted (`__repr_args__`, `redact_url`).
    database_url: str = "sqlite+aiosqlite:///./televisit.db"
    # Signs session tokens (HMAC); a SecretStr so no repr, str or traceback can print it.
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    log_format: Literal["console", "json"] | None = None
    log_level: str = "INFO"
    log_sql: bool | None = None

    host: str = "127.0.0.1"
    port: int = 8000

    # Sessions: a token dies after this long unused, and in any case after the absolute lifetime.
    session_idle_timeout: int = Field(default=30 * 60, ge=60)
    session_absolute_lifetime: int = Field(default=12 * 3600, ge=300)
    # How long an instance keeps a session it read (auth/cache.py): a change made elsewhere that
    # its broker did not bring (Redis down, another program) shows within this. 0: never kept.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=60)

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
    # Characters; at most the 256 a password may have (users/schemas.py).
    password_min_length: int = Field(default=10, ge=8, le=256)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Seconds a request that meets an unreachable database (a PostgreSQL restart) is run again
    # before it is answered 503 `database_unavailable` (core/dbretry.py); 0: never retried.
    db_retry_window: float = Field(default=10.0, ge=0, le=60)

    # A visit's length in minutes, within the day the request schema allows (1-1440).
    appointment_min_minutes: int = Field(default=5, ge=1, le=24 * 60)
    appointment_max_minutes: int = Field(default=240, ge=1, le=24 * 60)
    appointment_max_days_ahead: int = 366
    # How early before ``starts_at`` a call may be started.
    call_early_minutes: int = 15

    # Broker: Redis pub/sub when set (several instances), in-process otherwise. Carries Redis's
    # password: shown only redacted.
    redis_url: str | None = None

    # Rooms follow Twilio's rules; all in seconds.
    room_unused_timeout: int = Field(default=300, ge=1)
    room_empty_timeout: int = Field(default=300, ge=1)
    room_max_duration: int = Field(default=4 * 3600, ge=60)
    room_sweep_interval: float = Field(default=1.0, gt=0)
    # Off only in tests that drive the timers by hand with a fake clock.
    room_timers_enabled: bool = True

    # ICE: STUN URLs, and TURN URLs with the coturn `use-auth-secret` shared secret (a SecretStr:
    # it mints relay credentials for anyone who holds it).
    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: SecretStr | None = None
    turn_credential_ttl: int = Field(default=3600, ge=60)
    # The browsers' RTCPeerConnection `iceTransportPolicy`, handed out with the ICE servers: `all`
    # (direct when the network allows, TURN otherwise) or `relay` (every call through TURN: a
    # clinic's privacy option, each side never learns the other's IP address, at the cost of
    # relaying all media; production refuses it without TURN).
    ice_transport_policy: Literal["all", "relay"] = "all"

    # WebSocket: browsers must come from these origins (the app's own origin is always allowed;
    # clients that send no Origin, like native apps, are allowed and still need a token).
    allowed_origins: list[str] = Field(default_factory=list)
    ws_auth_timeout: float = Field(default=5.0, gt=0)
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_rate_per_second: float = Field(default=50.0, gt=0)
    ws_rate_burst: int = Field(default=200, ge=1)
    ws_send_queue: int = Field(default=1000, ge=10)
    # Database sessions an instance's sockets may hold at once (the sign-in, chat, joining a room:
    # every frame that reads or writes). The rest wait their turn in memory, not for a pooled
    # connection: after a restart hundreds of sockets arrive at once, each signing in and syncing,
    # and without this they took the whole pool (30 connections on PostgreSQL) from HTTP requests
    # and failed after the pool's 30 s wait.
    ws_db_concurrency: int = Field(default=20, ge=1)
    # Seconds an instance waits after SIGTERM (not ready, clients told to move) before it exits.
    drain_grace: float = Field(default=10.0, ge=0)
    # Whether /readyz fails while the broker (Redis) is down. Every instance shares one Redis, so
    # under Kubernetes an outage would take every pod out of the Service at once, though REST
    # still works without it: the shipped manifests turn this off (the check is still reported).
    readiness_requires_broker: bool = True
    instance_heartbeat: float = Field(default=5.0, gt=0)

    # Chat
    chat_max_length: int = Field(default=4000, ge=1, le=65536)

    # Serving. Interactive API docs (/api/v1/docs) and /api/v1/openapi.json: unset = on in
    # development, off in production (they map every route for a stranger; enable them on purpose).
    api_docs: bool | None = None
    # Strict-Transport-Security max-age, seconds, on every answer; 0 = not sent (nginx sends it where
    # TLS ends; set this only when the app is reached over HTTPS without nginx in front).
    hsts_seconds: int = Field(default=0, ge=0)
    # uvicorn's limit_concurrency: open connections of every kind (WebSockets and idle keep-alive
    # connections included) at which new HTTP requests get 503. WebSockets still connect, so it must
    # exceed the sockets an instance holds: 10,000 idle sockets plus 2,000 HTTP connections.
    limit_concurrency: int = Field(default=12_000, ge=2)
    # Largest request line plus headers, bytes (uvicorn's h11_max_incomplete_event_size); larger: 400.
    max_header_bytes: int = Field(default=16 * 1024, ge=4096)

    # Sessions on open sockets and TURN credentials (the trust rules of docs/realtime.md).
    # Seconds between this instance's checks of its sockets' session deadlines (idle, absolute):
    # a socket closes at most this long after its session expired.
    ws_session_sweep_interval: float = Field(default=2.0, gt=0)
    # Open sockets one user, and one client address, may hold on an instance (an office or a
    # carrier NAT puts many people behind one address, hence the higher one).
    ws_max_per_user: int = Field(default=10, ge=1)
    ws_max_per_address: int = Field(default=50, ge=1)
    # Seconds: TURN credentials live as long as the room may still last, capped by
    # `turn_credential_ttl` (the longest one lives; clients refresh with `ice.refresh`), and at
    # least this long (a refresh always has time to arrive).
    turn_credential_min_ttl: int = Field(default=300, ge=60)

    @property
    def effective_api_docs(self) -> bool:
        return self.env == "development" if self.api_docs is None else self.api_docs
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
    # Password reset (and "set your password" for invited patients): seconds an emailed link works
    # (single use), and requests per sliding window (seconds) per client address and per email
    # address (429 past them; the answer is otherwise the same whether or not the address exists).
    password_reset_lifetime: int = Field(default=30 * 60, ge=60)
    password_reset_window: int = Field(default=3600, ge=1)
    password_reset_max_per_ip: int = Field(default=10, ge=1)
    password_reset_max_per_account: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        """Production refuses guessable or template secrets, naming each setting (not its value)."""
        if self.env != "production":
            return self
        problems: list[str] = []
        key = self.secret_key.get_secret_value()
        if problem := _secret_problem(key, min_bits=MIN_SECRET_KEY_BITS):
            problems.append(f"TELEVISIT_SECRET_KEY {problem}: it must be a random value of at "
                            f"least {MIN_SECRET_KEY_BITS} bits in production; {GENERATE_HINT}")
        if self.turn_urls:
            if self.turn_secret is None:
                problems.append("TELEVISIT_TURN_URLS is set but TELEVISIT_TURN_SECRET is not: "
                                "set it to coturn's static-auth-secret")
            elif problem := _secret_problem(self.turn_secret.get_secret_value(), min_bits=None):
                problems.append(f"TELEVISIT_TURN_SECRET {problem}: set it (and coturn's "
                                f"static-auth-secret) to a random value of at least "
                                f"{MIN_SECRET_LENGTH} characters; {GENERATE_HINT}")
        if self.ice_transport_policy == "relay" and not (self.turn_urls and self.turn_secret):
            problems.append("TELEVISIT_ICE_TRANSPORT_POLICY is relay but TURN is not configured: "
                            "set TELEVISIT_TURN_URLS and TELEVISIT_TURN_SECRET (every call goes "
                            "through TURN, and without it no call would connect), or use all")
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The URLs' passwords never show (SecretStr already hides the secret fields)."""
        for name, value in super().__repr_args__():
            if name in ("database_url", "redis_url") and isinstance(value, str):
                value = redact_url(value)
            yield name, value

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

    # Mail (docs/operations.md, "Mail"). Where messages go: `smtp://host:25` (plain, a relay on the
    # same host or private network), `smtp+starttls://user:pass@host:587`, `smtps://user:pass@host:465`
    # (`?ssl_ca_certs=/path/ca.pem` for a private CA). A secret: it carries the password. Unset in
    # development: messages land in the dev mailbox (`mail_dev_dir`, listed at /dev/mailbox); unset in
    # production: mail is off and due messages are marked skipped.
    smtp_url: SecretStr | None = None
    # The From header, e.g. `Clinic Name <visits@clinic.example>`; required in production with mail on.
    mail_from: str | None = None
    # The address people reach the web app at: links in messages (and FHIR addressUrl) start with it.
    public_url: AnyHttpUrl | None = None
    # Named in every message and calendar entry.
    clinic_name: str = Field(default="Televisit", min_length=1, max_length=100)
    # Reminders, in minutes before a visit (patients); an offset already past at booking is skipped.
    reminder_offsets: list[int] = Field(default_factory=lambda: [1440, 15])
    # A message that failed this many times, or is this many seconds past due, is marked failed.
    mail_max_attempts: int = Field(default=10, ge=1)
    mail_max_age: int = Field(default=48 * 3600, ge=60)
    # Seconds before the first retry; doubled each attempt, capped at an hour.
    mail_retry_base: float = Field(default=30.0, gt=0)
    # Seconds a claim on a message lasts: an instance that died mid-send frees it after this.
    mail_lease: int = Field(default=300, ge=10)
    # Seconds one SMTP step (connect, a command, a message) may take; well under the lease.
    smtp_timeout: float = Field(default=30.0, gt=0)
    # Seconds between polls of the outbox when it was empty, and messages claimed per poll.
    mail_poll_interval: float = Field(default=2.0, gt=0)
    mail_batch_size: int = Field(default=20, ge=1, le=500)
    # Development only, without smtp_url: where messages are written (.eml and .html).
    mail_dev_dir: str = "televisit-mailbox"
    # Off only in tests that run the sender by hand (like room_timers_enabled).
    mail_sender_enabled: bool = True

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty value (`TELEVISIT_SMTP_URL=` in an env file) means no mail server.
        if value is not None and not value.get_secret_value().strip():
            return None
        # The message names the schemes, never the value: it holds a password.
        if value is not None and urlsplit(value.get_secret_value()).scheme not in SMTP_SCHEMES:
            raise ValueError("TELEVISIT_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        return value

    @field_validator("mail_from", "clinic_name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # Both go into headers: a line break would let the text forge one.
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("TELEVISIT_MAIL_FROM and TELEVISIT_CLINIC_NAME must be one line")
        return value

    @field_validator("mail_from")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError("TELEVISIT_MAIL_FROM must be an address, e.g. Clinic <visits@clinic.example>")
        return value

    @field_validator("reminder_offsets")
    @classmethod
    def _reminder_offsets(cls, value: list[int]) -> list[int]:
        if any(not 0 < minutes <= 60 * 24 * 30 for minutes in value):
            raise ValueError("TELEVISIT_REMINDER_OFFSETS: minutes between 1 and 43200 (30 days)")
        return sorted(set(value), reverse=True)

    @property
    def mail_enabled(self) -> bool:
        """Mail goes out over SMTP, or (development) into the dev mailbox."""
        return self.smtp_url is not None or self.env == "development"

    @property
    def effective_public_url(self) -> str:
        """Links in messages; in development without a setting, the address `serve` listens on."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def effective_mail_from(self) -> str:
        return self.mail_from or f"{self.clinic_name} <televisit@localhost>"

    @model_validator(mode="after")
    def _refuse_unsafe_mail(self) -> Settings:
        if self.smtp_timeout * 4 > self.mail_lease:
            raise ConfigError("TELEVISIT_MAIL_LEASE must be at least 4 times TELEVISIT_SMTP_TIMEOUT: "
                              "a claim must outlive the sends made under it")
        if self.env != "production" or self.smtp_url is None:
            return self
        if self.public_url is None:
            raise ConfigError("TELEVISIT_PUBLIC_URL must be set when mail is on (TELEVISIT_SMTP_URL): "
                              "links in messages start with it")
        if not self.mail_from:
            raise ConfigError("TELEVISIT_MAIL_FROM must be set when mail is on (TELEVISIT_SMTP_URL)")
        return self

    # Seconds a visit's conversation stays open after the visit ends (or is cancelled); a join
    # link works until the visit's end plus this, so the patient can read and answer messages.
    messaging_window: int = Field(default=14 * 24 * 3600, ge=0)
    # Seconds a checked-in patient stays "present" in the waiting room after her last socket
    # closed (a reload, a network change); reconnecting within it changes nothing.
    presence_grace: int = Field(default=30, ge=1)

    # Web Push (docs/operations.md, "Push"): ringing a phone whose app is closed. The VAPID private
    # key signs every push (RFC 8292): a P-256 key as 32 bytes, base64url (what
    # `televisit push-keys` and `web-push generate-vapid-keys` print). A secret: whoever holds it can
    # push to every subscribed browser. Development without one derives a stable key from the
    # secret key; production without one has push off.
    push_vapid_private_key: SecretStr | None = None
    # Who runs this server, for the push services (the VAPID `sub`): `mailto:` or `https:`.
    # Unset: the public URL when it is https, else a mailto: of the mail sender.
    push_contact: str | None = None
    # The only hosts the server will post pushes to (a subscription's endpoint is user input: any
    # other would let anyone make the server call internal addresses). `*.` matches subdomains.
    push_allowed_hosts: list[str] = Field(default_factory=lambda: list(DEFAULT_PUSH_HOSTS))
    # Tests and development only: also accept `http://127.0.0.1:<port>/...` endpoints (a local
    # push receiver). Refused in production.
    push_allow_loopback: bool = False
    # Seconds one push (connect, send, answer) may take.
    push_timeout: float = Field(default=10.0, gt=0, le=60)
    # Seconds the push service keeps a push for a phone that is offline: a ring is useless once
    # the caller gave up; a message notice is useful for a day.
    push_ring_ttl: int = Field(default=60, ge=0, le=3600)
    push_notice_ttl: int = Field(default=24 * 3600, ge=0, le=28 * 24 * 3600)
    # Browsers (devices) one person may subscribe; past it the oldest is dropped.
    push_max_per_user: int = Field(default=10, ge=1, le=100)
    # Off only in tests that deliver pushes by hand (like mail_sender_enabled).
    push_sender_enabled: bool = True

    @field_validator("push_vapid_private_key")
    @classmethod
    def _vapid_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        # The message never quotes the value.
        if value is not None and not _is_p256_private_key(value.get_secret_value()):
            raise ValueError("TELEVISIT_PUSH_VAPID_PRIVATE_KEY must be a P-256 private key, 32 bytes "
                             "in base64url; generate one with: televisit push-keys")
        return value

    @field_validator("push_allowed_hosts")
    @classmethod
    def _push_hosts(cls, value: list[str]) -> list[str]:
        hosts = [h.strip().lower().rstrip(".") for h in value if h.strip()]
        for host in hosts:
            bare = host.removeprefix("*.")
            if "*" in bare or "/" in host or ":" in host or "." not in bare:
                raise ValueError("TELEVISIT_PUSH_ALLOWED_HOSTS: host names like fcm.googleapis.com "
                                 "or *.notify.windows.com (no scheme, port or path)")
        return hosts

    @field_validator("push_contact")
    @classmethod
    def _push_contact(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(mailto:[^@\s]+@[^@\s]+|https://[^\s/]+\S*)$", value):
            raise ValueError("TELEVISIT_PUSH_CONTACT must be mailto:someone@clinic.example "
                             "or an https:// address")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_push(self) -> Settings:
        if self.env == "production" and self.push_allow_loopback:
            raise ConfigError("TELEVISIT_PUSH_ALLOW_LOOPBACK is for tests and development only: "
                              "in production pushes go to the allowed push services alone")
        if self.env == "production" and self.push_vapid_private_key is not None:
            key = self.push_vapid_private_key.get_secret_value().strip()
            if PLACEHOLDER.search(key):
                raise ConfigError("TELEVISIT_PUSH_VAPID_PRIVATE_KEY is a placeholder (copied from a "
                                  "template); generate one with: televisit push-keys")
        return self

    @property
    def push_enabled(self) -> bool:
        """Push goes out with a configured key, or (development) the derived one."""
        return self.push_vapid_private_key is not None or self.env == "development"

    @property
    def effective_push_contact(self) -> str:
        if self.push_contact:
            return self.push_contact
        if self.public_url is not None and str(self.public_url).startswith("https://"):
            return str(self.public_url).rstrip("/")
        return f"mailto:{_envelope_address(self.effective_mail_from)}"


class DefaultSettings(Settings):
    """The defaults alone, whatever the environment says: what the published contract shows
    (`televisit openapi` must print the same document on every machine)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment, turning validation failures into a clear ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        msgs = [str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors()]
        raise ConfigError("; ".join(msgs)) from None
