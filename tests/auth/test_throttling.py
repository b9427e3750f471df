"""Failed sign-ins are throttled per account+address and per address, in sliding windows (429 with
Retry-After, nobody locked out for longer than the window); an account under attack only makes
each attempt wait a few seconds; a known device is throttled by its own failures only."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.auth.helpers import assert_error, assert_unauthorized, count_failures, login
from tests.fixtures.app import client_for

WINDOW = 600
PER_ACCOUNT_IP = 3
PER_ACCOUNT = 5
PER_IP = 6
PER_DEVICE = 4
DELAY = 3
ATTACKER_IP = "198.51.100.9"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "login_window": WINDOW,
        "login_max_failures_per_account_ip": PER_ACCOUNT_IP,
        "login_max_failures_per_account": PER_ACCOUNT,
        "login_max_failures_per_ip": PER_IP,
        "login_max_failures_per_device": PER_DEVICE,
        "login_slow_delay": DELAY,
    }


async def fail(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        response = await login(client, email, "not-the-password-0000")
        assert_unauthorized(response, "invalid_credentials")


def assert_throttled(response: httpx.Response, retry_after: int, code: str = "too_many_requests") -> None:
    error = assert_error(response, 429, code)
    assert response.headers["retry-after"] == str(retry_after)
    assert error["details"] == {"retry_after": retry_after}


def assert_delayed(response: httpx.Response, retry_after: int) -> None:
    assert_throttled(response, retry_after, "sign_in_delayed")


async def test_too_many_failures_give_429_even_for_the_right_password(factory, client, app):
    victim = await factory.patient(login=False)
    await fail(client, victim.email, PER_ACCOUNT_IP)

    wrong = await login(client, victim.email, "not-the-password-0000")
    right = await login(client, victim.email, victim.password)
    assert_throttled(wrong, WINDOW)
    assert_throttled(right, WINDOW)
    # A throttled reply does not tell whether the password was right.
    assert wrong.json() == right.json()
    assert await count_failures(app) == PER_ACCOUNT_IP


async def test_the_throttle_lifts_exactly_when_retry_after_says(factory, client, clock):
    victim = await factory.patient(login=False)
    await fail(client, victim.email, PER_ACCOUNT_IP)

    clock.advance(seconds=WINDOW - 1)
    assert_throttled(await login(client, victim.email, victim.password), 1)
    clock.advance(seconds=1)
    response = await login(client, victim.email, victim.password)
    assert response.status_code == 200, response.text


async def test_attempts_while_throttled_do_not_extend_the_lockout(factory, client, clock, app):
    victim = await factory.patient(login=False)
    await fail(client, victim.email, PER_ACCOUNT_IP)

    for waited in range(60, WINDOW, 60):
        clock.advance(seconds=60)
        for password in ("still-guessing-1111", victim.password):
            assert_throttled(await login(client, victim.email, password), WINDOW - waited)
    assert await count_failures(app) == PER_ACCOUNT_IP

    clock.advance(seconds=60)
    assert (await login(client, victim.email, victim.password)).status_code == 200


async def test_the_window_slides(factory, client, clock):
    victim = await factory.patient(login=False)
    for _ in range(PER_ACCOUNT_IP):
        await fail(client, victim.email, 1)
        clock.advance(seconds=100)
    # Failures at 0, 100 and 200 s; now 300 s: the oldest ages out at 600 s.
    assert_throttled(await login(client, victim.email, victim.password), 300)

    clock.advance(seconds=300)
    # One failure aged out, so one more guess is allowed, and then the next oldest decides.
    await fail(client, victim.email, 1)
    assert_throttled(await login(client, victim.email, victim.password), 100)
    clock.advance(seconds=100)
    assert (await login(client, victim.email, victim.password)).status_code == 200


async def test_a_successful_login_clears_that_account_and_address(factory, client):
    victim = await factory.patient(login=False)
    await fail(client, victim.email, PER_ACCOUNT_IP - 1)
    assert (await login(client, victim.email, victim.password)).status_code == 200

    await fail(client, victim.email, PER_ACCOUNT_IP - 1)
    assert (await login(client, victim.email, victim.password)).status_code == 200


async def test_email_case_does_not_dodge_the_count(factory, client):
    victim = await factory.patient(login=False, email="case.victim@example.org")
    for email in ("case.victim@example.org", "CASE.VICTIM@example.org", "Case.Victim@Example.Org"):
        await fail(client, email, 1)
    assert_throttled(await login(client, "case.victim@EXAMPLE.org", victim.password), WINDOW)


async def test_unknown_accounts_are_throttled_alike(factory, client):
    victim = await factory.patient(login=False)
    await fail(client, victim.email, PER_ACCOUNT_IP)
    await fail(client, "nobody-at-all@example.org", PER_ACCOUNT_IP)

    known = await login(client, victim.email, victim.password)
    unknown = await login(client, "nobody-at-all@example.org", victim.password)
    assert_throttled(known, WINDOW)
    assert_throttled(unknown, WINDOW)
    assert known.json() == unknown.json()


async def test_an_attackers_address_does_not_block_the_user_elsewhere(factory, client, app):
    victim = await factory.patient(login=False)
    async with client_for(app, ip=ATTACKER_IP) as attacker:
        await fail(attacker, victim.email, PER_ACCOUNT_IP)
        assert_throttled(await login(attacker, victim.email, victim.password), WINDOW)

        # The real user, from their own address, signs in (and keeps doing so).
        for _ in range(2):
            response = await login(client, victim.email, victim.password)
            assert response.status_code == 200, response.text
        # ... which clears only their own address: the attacker is still throttled.
        assert_throttled(await login(attacker, victim.email, victim.password), WINDOW)
    assert await count_failures(app, client_ip=ATTACKER_IP) == PER_ACCOUNT_IP


async def test_the_per_account_limit_only_delays(
    factory, client, app, clock
):
    """Past the per-account count the account is not blocked: each new attempt waits a few seconds."""
    victim = await factory.patient(login=False)
    addresses = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    spread = [2, 2, 1]  # under the per-address limit each, PER_ACCOUNT in all
    assert sum(spread) == PER_ACCOUNT
    for ip, times in zip(addresses, spread, strict=True):
        async with client_for(app, ip=ip) as attacker:
            await fail(attacker, victim.email, times)

    # The owner, from their own address: one short wait, then in.
    assert_delayed(await login(client, victim.email, victim.password), DELAY)
    clock.advance(seconds=DELAY)
    response = await login(client, victim.email, victim.password)
    assert response.status_code == 200, response.text


async def test_the_per_address_limit_spans_accounts(factory, client, app, clock):
    patient = await factory.patient(login=False)
    async with client_for(app, ip=ATTACKER_IP) as attacker:
        for n in range(PER_IP):
            await fail(attacker, f"sprayed-{n}@example.org", 1)

        # Any account, even with its right password, is refused from that address ...
        assert_throttled(await login(attacker, patient.email, patient.password), WINDOW)
        assert_throttled(await login(attacker, "fresh-target@example.org", "guess-00000"), WINDOW)
        # ... but not from another address.
        assert (await login(client, patient.email, patient.password)).status_code == 200

        clock.advance(seconds=WINDOW)
        assert_unauthorized(await login(attacker, "fresh-target@example.org", "guess-00000"),
                            "invalid_credentials")
        assert (await login(attacker, patient.email, patient.password)).status_code == 200


async def test_concurrent_guesses_get_no_more_tries_than_the_limit(factory, client):
    victim = await factory.patient(login=False)
    guesses = [login(client, victim.email, f"parallel-guess-{n:04d}") for n in range(20)]
    statuses = [r.status_code for r in await asyncio.gather(*guesses)]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= PER_ACCOUNT_IP


async def test_concurrent_right_sign_ins_of_one_account_all_succeed(factory, client, app):
    """Each success clears the account's failures at that address, its own reserved attempt among
    them; two at once used to lock each other's rows in opposite order (a deadlock, a 500)."""
    person = await factory.patient(login=False)
    for _ in range(5):
        pair = [login(client, person.email, person.password) for _ in range(PER_ACCOUNT_IP - 1)]
        responses = await asyncio.gather(*pair)
        assert [r.status_code for r in responses] == [200] * len(pair), [r.text for r in responses]
    assert await count_failures(app, email=person.email) == 0
