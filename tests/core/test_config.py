"""Production refuses guessable and template secrets; no secret setting is ever printable."""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from televisit.core.config import DEFAULT_SECRET, ConfigError, Settings, load_settings
from televisit.core.security import token_digest
from tests.fixtures.app import TEST_SECRET
from tests.fixtures.logs import captured_logs

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
STRONG = secrets.token_urlsafe(48)
TURN = ["turn:turn.clinic.example:3478?transport=udp"]


def shipped_turn_placeholder() -> str:
    """The `static-auth-secret` deploy/coturn/turnserver.conf ships (what a hurried admin copies)."""
    conf = (DEPLOY / "coturn" / "turnserver.conf").read_text()
    [value] = re.findall(r"^static-auth-secret=(.+)$", conf, re.M)
    return value.strip()


def production(**overrides: Any) -> Settings:
    return load_settings(**{"env": "production", "secret_key": STRONG, **overrides})


# --- the secret key -------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "why"), [
    (DEFAULT_SECRET, "placeholder"),
    ("CHANGE-ME", "placeholder"),
    ("CHANGE-ME-to-a-long-random-value-of-64-characters-xxxxxxxxxxxxxx", "placeholder"),
    ("too-short", "shorter than 32"),
    ("x" * 48, "distinct characters"),
    ("ab" * 32, "distinct characters"),
    ("abcdefghijklmnopqrstuvwxyz0123456789abcdefgh", "too easy to guess"),
    ("password" * 6 + "Summer2024!", "too easy to guess"),
    ("correct-horse-battery-staple-correct-horse", "too easy to guess"),
    # 128 random bits, but zxcvbn counts ~106. A stable id: a fresh key each run, and the parallel
    # run's workers (tests/conftest.py) must collect the same test names.
    pytest.param(secrets.token_hex(16), "too easy to guess", id="token_hex(16)-too easy to guess"),
])
def test_production_refuses_a_weak_secret_key_and_says_why(key, why):
    with pytest.raises(ConfigError) as info:
        production(secret_key=key)
    message = str(info.value)
    assert "TELEVISIT_SECRET_KEY" in message and why in message
    assert "secrets.token_urlsafe(48)" in message  # how to make a good one
    assert key not in message


@pytest.mark.parametrize("key", [STRONG, secrets.token_hex(32), secrets.token_urlsafe(32), TEST_SECRET],
                         ids=["STRONG", "token_hex(32)", "token_urlsafe(32)", "TEST_SECRET"])
def test_production_accepts_a_random_secret_key(key):
    assert production(secret_key=key).secret_key.get_secret_value() == key


def test_development_accepts_the_default_key():
    assert Settings().secret_key.get_secret_value() == DEFAULT_SECRET


# --- the TURN secret ------------------------------------------------------------------------------

@pytest.mark.parametrize(("secret", "why"), [
    (shipped_turn_placeholder(), "placeholder"),
    ("CHANGE-ME", "placeholder"),
    ("coturn-shared-secret", "shorter than 32"),
    ("0" * 40, "distinct characters"),
])
def test_production_refuses_a_placeholder_or_short_turn_secret(secret, why):
    with pytest.raises(ConfigError) as info:
        production(turn_urls=TURN, turn_secret=secret)
    message = str(info.value)
    assert "TELEVISIT_TURN_SECRET" in message and why in message
    assert secret not in message


def test_production_refuses_turn_urls_without_a_secret():
    with pytest.raises(ConfigError, match="TELEVISIT_TURN_SECRET is not"):
        production(turn_urls=TURN)


def test_both_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        production(secret_key="CHANGE-ME", turn_urls=TURN, turn_secret="CHANGE-ME")
    assert "TELEVISIT_SECRET_KEY" in str(info.value) and "TELEVISIT_TURN_SECRET" in str(info.value)


def test_production_accepts_a_random_turn_secret_and_ignores_one_without_turn():
    secret = secrets.token_hex(32)
    assert production(turn_urls=TURN, turn_secret=secret).turn_secret == SecretStr(secret)
    assert production(turn_secret="CHANGE-ME").turn_urls == []  # TURN off: nothing to protect


# --- never printable ------------------------------------------------------------------------------

DB_PASSWORD = "pg-" + secrets.token_hex(10)
REDIS_PASSWORD = "redis-" + secrets.token_hex(10)


def full_settings(**overrides: Any) -> Settings:
    return Settings(**{
        "secret_key": STRONG, "turn_urls": TURN, "turn_secret": "turn-" + STRONG,
        "database_url": f"postgresql+asyncpg://televisit:{DB_PASSWORD}@db:5432/televisit",
        "redis_url": f"redis://televisit:{REDIS_PASSWORD}@redis:6379/0", **overrides,
    })


def all_secrets(settings: Settings) -> list[str]:
    assert settings.turn_secret is not None
    return [settings.secret_key.get_secret_value(), settings.turn_secret.get_secret_value(),
            DB_PASSWORD, REDIS_PASSWORD]


def test_settings_repr_and_str_show_no_secret():
    settings = full_settings()
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        for secret in all_secrets(settings):
            assert secret not in shown
        assert "postgresql+asyncpg://televisit:***@db:5432/televisit" in shown  # still debuggable
        assert "redis://televisit:***@redis:6379/0" in shown
    assert settings.database_url.endswith(f":{DB_PASSWORD}@db:5432/televisit")  # readers get it


def test_rich_pretty_printing_shows_no_secret():
    rich_pretty = pytest.importorskip("rich.pretty")
    shown = rich_pretty.pretty_repr(full_settings())
    for secret in all_secrets(full_settings()):
        assert secret not in shown


def test_a_refused_setting_never_quotes_its_input():
    """pydantic puts the input in its error text unless told not to; the input may be the key."""
    weak = "CHANGE-ME-" + secrets.token_hex(20)
    with pytest.raises(ValidationError) as info:
        full_settings(env="production", secret_key=weak)
    assert weak not in str(info.value) and DB_PASSWORD not in str(info.value)
    with pytest.raises(ValidationError) as info:
        full_settings(port="not-a-port")
    for secret in all_secrets(full_settings()):
        assert secret not in str(info.value)


def test_token_digests_are_unchanged_by_the_wrapper():
    assert token_digest(SecretStr("k" * 40), "tok") == token_digest("k" * 40, "tok")


def test_a_line_that_quotes_a_secret_is_redacted_by_the_handler():
    """The last guard: whatever prints a configured secret (a library's message quoting the
    connection URL, say), the rendered line holds [REDACTED] instead, in both formats."""
    for log_format in ("console", "json"):
        settings = full_settings(log_format=log_format)
        assert settings.turn_secret is not None
        with captured_logs(settings) as stream:
            logging.getLogger("some.library").warning(
                "cannot reach %s nor %s (key %s, turn %r)", settings.database_url,
                settings.redis_url, settings.secret_key.get_secret_value(),
                settings.turn_secret.get_secret_value())
        output = stream.getvalue()
        assert "cannot reach" in output and "[REDACTED]" in output
        for secret in all_secrets(settings):
            assert secret not in output
