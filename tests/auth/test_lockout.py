"""A stranger cannot lock the owner out: failures from many addresses only delay the owner by a few
seconds, a known device is throttled by its own failures only, while guessing from one address and
spraying from one address are still stopped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.helpers import assert_unauthorized, enroll, mfa_login, totp
from tests.auth.test_throttling import assert_delayed, assert_throttled
from tests.fixtures.app import CLIENT_IP, client_for

WINDOW = 900
DELAY = 3
PER_ACCOUNT_IP = 5
PER_ACCOUNT = 10
PER_IP = 50
PER_DEVICE = 5
WRONG = "not-the-password-0000"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The shipped defaults, spelled out so the test reads on its own.
    return {
        "login_window": WINDOW, "login_slow_delay": DELAY,
        "login_max_failures_per_account_ip": PER_ACCOUNT_IP,
        "login_max_failures_per_account": PER_ACCOUNT, "login_max_failures_per_ip": PER_IP,
        "login_max_failures_per_device": PER_DEVICE,
    }


async def sign_in(client: httpx.AsyncClient, email: str, password: str,
                  device_token: str | None = None) -> httpx.Response:
    body = {"email": email, "password": password}
    if device_token:
        body["device_token"] = device_token
    return await client.post("/api/v1/auth/login", json=body)


async def guess_patiently(app: Any, clock: Any, ip: str, email: str) -> None:
    """One wrong guess from ``ip``, waiting out a `sign_in_delayed` answer first as a bot would."""
    async with client_for(app, ip=ip) as stranger:
        response = await sign_in(stranger, email, WRONG)
        if response.status_code == 429:
            assert_delayed(response, DELAY)
            clock.advance(seconds=DELAY)
            response = await sign_in(stranger, email, WRONG)
        assert_unauthorized(response, "invalid_credentials")


async def test_a_hundred_strangers_only_delay_the_owner_on_a_new_address(factory, app, clock):
    owner = await factory.doctor(login=False)
    for n in range(100):
        await guess_patiently(app, clock, f"198.51.{n // 200}.{n % 200 + 1}", owner.email)

    async with client_for(app, ip="192.0.2.77") as owner_elsewhere:
        # A new address, a new device: one short wait ...
        assert_delayed(await sign_in(owner_elsewhere, owner.email, owner.password), DELAY)
        clock.advance(seconds=1)
        # ... asking again early is told the time left, not made to start over ...
        assert_delayed(await sign_in(owner_elsewhere, owner.email, owner.password), DELAY - 1)
        clock.advance(seconds=DELAY - 1)
        # ... and then in, within seconds, although strangers keep failing.
        response = await sign_in(owner_elsewhere, owner.email, owner.password)
        assert response.status_code == 200, response.text

    # A stranger cannot use the owner's turn: every address waits its own.
    async with client_for(app, ip="192.0.2.78") as stranger:
        assert_delayed(await sign_in(stranger, owner.email, WRONG), DELAY)


async def test_guessing_from_one_address_is_still_throttled(factory, app, clock):
    owner = await factory.patient(login=False)
    async with client_for(app, ip="198.51.100.9") as guesser:
        for _ in range(PER_ACCOUNT_IP):
            assert_unauthorized(await sign_in(guesser, owner.email, WRONG), "invalid_credentials")
        for waited in range(0, 3 * DELAY, DELAY):
            assert_throttled(await sign_in(guesser, owner.email, WRONG), WINDOW - waited)
            clock.advance(seconds=DELAY)
        assert_throttled(await sign_in(guesser, owner.email, owner.password), WINDOW - 3 * DELAY)
    # Meanwhile the owner, from their own address, is not even delayed.
    async with client_for(app) as own:
        assert (await sign_in(own, owner.email, owner.password)).status_code == 200


async def test_a_spray_over_a_hundred_accounts_from_one_address_is_throttled(factory, app):
    patient = await factory.patient(login=False)
    statuses = []
    async with client_for(app, ip="198.51.100.66") as sprayer:
        for n in range(100):
            statuses.append((await sign_in(sprayer, f"sprayed-{n}@example.org", WRONG)).status_code)
        assert_throttled(await sign_in(sprayer, patient.email, patient.password), WINDOW)
    assert statuses == [401] * PER_IP + [429] * (100 - PER_IP)


async def test_a_known_device_is_never_throttled_by_strangers(factory, app, clock, client):
    owner = await factory.doctor(login=False)
    first = await sign_in(client, owner.email, owner.password)
    device = first.json()["device_token"]

    # Strangers behind the same clinic NAT exhaust the account+address and the address limits,
    # and strangers elsewhere put the account under attack.
    for n in range(PER_IP):
        async with client_for(app, ip=CLIENT_IP) as neighbour:
            await sign_in(neighbour, owner.email if n % 2 else f"x{n}@example.org", WRONG)
    for n in range(PER_ACCOUNT + 5):
        await guess_patiently(app, clock, f"203.0.113.{n + 100}", owner.email)
    assert (await sign_in(client, owner.email, owner.password)).status_code == 429

    # The owner's own browser, from that very address: in at once, and it keeps its device token.
    again = await sign_in(client, owner.email, owner.password, device)
    assert again.status_code == 200, again.text
    assert again.json()["device_token"] == device


async def test_a_known_device_has_its_own_limit(factory, client, clock):
    owner = await factory.patient(login=False)
    device = (await sign_in(client, owner.email, owner.password)).json()["device_token"]
    for _ in range(PER_DEVICE):
        assert_unauthorized(await sign_in(client, owner.email, WRONG, device), "invalid_credentials")
    assert_throttled(await sign_in(client, owner.email, owner.password, device), WINDOW)
    # Its failures are not the account's: without the token, from the same address, still in.
    assert (await sign_in(client, owner.email, owner.password)).status_code == 200
    clock.advance(seconds=WINDOW)
    assert (await sign_in(client, owner.email, owner.password, device)).status_code == 200


async def test_a_device_token_counts_only_for_its_own_account(factory, client, app):
    owner = await factory.patient(login=False)
    other = await factory.patient(login=False)
    device = (await sign_in(client, other.email, other.password)).json()["device_token"]
    async with client_for(app, ip="198.51.100.33") as guesser:
        for _ in range(PER_ACCOUNT_IP):
            await sign_in(guesser, owner.email, WRONG, device)
        # Another account's device token is just an unknown device here: throttled as one.
        assert_throttled(await sign_in(guesser, owner.email, owner.password, device), WINDOW)
        fresh = await sign_in(guesser, other.email, other.password, device)
        assert fresh.status_code == 200
        assert fresh.json()["device_token"] == device
    for token in ("x" * 257, "", "made-up"):
        response = await sign_in(client, owner.email, owner.password, token or None)
        assert response.status_code in {200, 422}, response.text


async def test_under_attack_the_code_step_does_not_wait_again(factory, app, clock, client):
    owner = await factory.doctor()
    secret, _ = await enroll(client, owner.headers, clock.now())
    for n in range(PER_ACCOUNT + 2):
        await guess_patiently(app, clock, f"198.51.100.{n + 1}", owner.email)

    async with client_for(app, ip="192.0.2.90") as owner_elsewhere:
        assert_delayed(await sign_in(owner_elsewhere, owner.email, owner.password), DELAY)
        clock.advance(seconds=DELAY)
        challenge = await sign_in(owner_elsewhere, owner.email, owner.password)
        assert challenge.json()["mfa_required"] is True
        clock.advance(seconds=30)
        done = await mfa_login(owner_elsewhere, challenge.json()["mfa_token"], totp(secret, clock.now()))
        assert done.status_code == 200, done.text
