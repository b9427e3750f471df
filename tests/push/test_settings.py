"""Push settings: the VAPID key is a secret (never printed, refused when malformed, a placeholder
refused in production), loopback push services are for tests only, and without a key production
sends no pushes."""
from __future__ import annotations

import secrets

import pytest

from televisit.core.config import ConfigError, load_settings
from televisit.core.logging import secret_values
from televisit.push import service, vapid

STRONG = secrets.token_urlsafe(48)


def production(**overrides):
    return load_settings(**{"env": "production", "secret_key": STRONG, **overrides})


def test_the_key_is_a_secret_that_no_repr_or_error_prints():
    key = vapid.generate_private_key()
    settings = production(push_vapid_private_key=key)
    assert key not in repr(settings) and key not in str(settings.model_dump())
    assert key in secret_values(settings)  # the log handler scrubs it from any line
    with pytest.raises(ConfigError) as refused:
        production(push_vapid_private_key=key[:-4] + "AAAA!!")
    assert "P-256" in str(refused.value) and key[:20] not in str(refused.value)


def test_production_refuses_loopback_push_services():
    with pytest.raises(ConfigError, match="TELEVISIT_PUSH_ALLOW_LOOPBACK"):
        production(push_allow_loopback=True)


def test_production_without_a_key_sends_no_pushes_and_development_derives_a_stable_one():
    assert service.public_key(production()) is None
    dev = load_settings(secret_key=STRONG)
    assert service.public_key(dev) == service.public_key(load_settings(secret_key=STRONG))  # every instance
    assert service.public_key(dev) != service.public_key(load_settings(secret_key=STRONG + "x"))
    key = vapid.generate_private_key()
    configured = production(push_vapid_private_key=key)
    assert service.public_key(configured) == vapid.public_key(vapid.key_from_text(key))


@pytest.mark.parametrize("hosts", ['["https://fcm.googleapis.com"]', '["fcm.googleapis.com:443"]',
                                   '["*"]', '["*.com*"]'])
def test_allowed_hosts_are_host_names(hosts, monkeypatch):
    monkeypatch.setenv("TELEVISIT_PUSH_ALLOWED_HOSTS", hosts)
    with pytest.raises(ConfigError, match="TELEVISIT_PUSH_ALLOWED_HOSTS"):
        load_settings()


def test_allowed_hosts_from_the_environment_as_a_json_list(monkeypatch):
    monkeypatch.setenv("TELEVISIT_PUSH_ALLOWED_HOSTS", '["Push.Example.org.", "*.notify.windows.com"]')
    assert load_settings().push_allowed_hosts == ["push.example.org", "*.notify.windows.com"]
