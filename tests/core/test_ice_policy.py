"""TELEVISIT_ICE_TRANSPORT_POLICY, a clinic's privacy option: `relay` makes every call go through
TURN, so production refuses it when no TURN server is configured (no call could connect)."""

from __future__ import annotations

import secrets

import pytest
from typer.testing import CliRunner

from televisit.cli import app as cli
from televisit.core.config import ConfigError, load_settings

STRONG = secrets.token_urlsafe(48)
TURN = ["turn:turn.clinic.example:3478?transport=udp"]
TURN_SECRET = secrets.token_urlsafe(32)


def test_the_default_is_all_and_relay_is_accepted_with_turn():
    assert load_settings().ice_transport_policy == "all"
    relay = load_settings(env="production", secret_key=STRONG, ice_transport_policy="relay",
                          turn_urls=TURN, turn_secret=TURN_SECRET)
    assert relay.ice_transport_policy == "relay"


@pytest.mark.parametrize("turn", [{}, {"turn_secret": TURN_SECRET}], ids=["no TURN", "secret, no URLs"])
def test_production_refuses_relay_without_turn(turn):
    with pytest.raises(ConfigError) as info:
        load_settings(env="production", secret_key=STRONG, ice_transport_policy="relay", **turn)
    assert "TELEVISIT_ICE_TRANSPORT_POLICY is relay but TURN is not configured" in str(info.value)
    assert "TELEVISIT_TURN_URLS" in str(info.value)


def test_development_allows_relay_without_turn():
    # A developer's machine may try the setting; calls there simply do not connect.
    assert load_settings(ice_transport_policy="relay").ice_transport_policy == "relay"


def test_other_values_are_refused():
    with pytest.raises(ConfigError, match="'all' or 'relay'"):
        load_settings(ice_transport_policy="direct")


def test_serve_does_not_start_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("TELEVISIT_ENV", "production")
    monkeypatch.setenv("TELEVISIT_SECRET_KEY", STRONG)
    monkeypatch.setenv("TELEVISIT_ICE_TRANSPORT_POLICY", "relay")
    monkeypatch.setenv("TELEVISIT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never.db'}")
    for name in ("TELEVISIT_TURN_URLS", "TELEVISIT_TURN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "Configuration error: TELEVISIT_ICE_TRANSPORT_POLICY is relay but TURN is not configured" \
        in result.output.replace("\n", " ")
    assert not (tmp_path / "never.db").exists()  # refused before anything was touched
