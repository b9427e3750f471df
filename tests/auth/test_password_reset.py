"""Password reset end to end: the request (always the same answer, throttled), the emailed link
as the real SMTP server received it, single use, expiry, the password policy, and every other
session and socket of the account ended."""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from televisit.audit.models import Action, AuditEvent, Outcome
from televisit.auth.models import PasswordReset
from televisit.mail.models import OutboxMessage
from televisit.runtime import runtime_of
from tests.auth.helpers import ME, login
from tests.fixtures.app import client_for
from tests.fixtures.assertions import assert_error
from tests.fixtures.live import WSClient
from tests.fixtures.logs import captured_logs
from tests.mail.conftest import PUBLIC_URL, mail_settings, smtp  # noqa: F401 - the SMTP server fixture
from tests.mail.helpers import (
    drain,
    emailed_reset_token,
    html_of,
    messages_to,
    reset_link,
    text_of,
)
from tests.signaling.helpers import closed_with

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "copper-lagoon-whistle-73"


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    """Parametrized by the tests that change a limit."""
    return {}


@pytest.fixture
def settings_overrides(smtp, extra_settings):  # noqa: F811 - the fixture imported above
    return mail_settings(smtp.url, **extra_settings)


async def ask(client: httpx.AsyncClient, email: str) -> httpx.Response:
    response = await client.post(RESET, json={"email": email})
    return response


async def confirm(client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(CONFIRM, json={"token": token, "password": password})


async def test_the_emailed_link_sets_a_new_password_once(app, client, factory, smtp):  # noqa: F811
    patient = await factory.patient(name="Carla Mendes")
    asked = await ask(client, patient.email.upper())  # addresses are not case-sensitive
    assert asked.status_code == 202
    assert asked.json()["message"].startswith("If an account uses this address")
    await drain(app)

    [message] = messages_to(smtp.inbox, patient.email)
    assert str(message["Subject"]).strip() == "Choose a new Sunrise Clinic password"
    text = text_of(message)
    link, token = reset_link(text)
    assert link == f"{PUBLIC_URL}/reset#{token}" and link in html_of(message)
    assert "within 30 minutes" in text and "Hello Carla Mendes" in text

    # The same policy as registration; a refused password leaves the link working.
    for weak, why in (("short", "at least 10 characters"), ("password123", "too common"),
                      ("carla-mendes-2030", "your email or name")):
        error = assert_error(await confirm(client, token, weak), 422, "weak_password")
        assert why in error["message"]
    assert (await confirm(client, token)).status_code == 204
    assert (await login(client, patient.email, NEW_PASSWORD)).status_code == 200
    assert_error(await login(client, patient.email, patient.password), 401, "invalid_credentials")
    # Single use.
    used = assert_error(await confirm(client, token, "another-fresh-password-81"), 410, "reset_link_used")
    assert "already used" in used["message"]
    assert (await login(client, patient.email, NEW_PASSWORD)).status_code == 200


async def test_every_other_session_and_socket_ends(app, client, factory, smtp, live):  # noqa: F811
    patient = await factory.patient(login=False)
    phone = await factory.login(patient)
    laptop = await factory.login(patient)
    socket = await WSClient.connect(live.ws_url, laptop)
    try:
        await ask(client, patient.email)
        token = await emailed_reset_token(app, smtp.inbox, patient.email)
        assert (await confirm(client, token)).status_code == 204
        assert await closed_with(socket) == 4401
        assert {"type": "session.ended", "reason": "revoked"} in socket.seen
    finally:
        await socket.close()
    for old in (phone, laptop):
        response = await client.get(ME, headers={"Authorization": f"Bearer {old}"})
        assert_error(response, 401, "invalid_token")
    async with runtime_of(app).sessionmaker() as session:
        [done] = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.password_reset))).all()
    assert done.actor_id == patient.id and done.data == {"first_password": False, "sessions_ended": 2}


async def test_the_link_expires_after_thirty_minutes(app, client, clock, factory, smtp):  # noqa: F811
    patient = await factory.patient()
    await ask(client, patient.email)
    first = await emailed_reset_token(app, smtp.inbox, patient.email)
    clock.advance(minutes=30)
    error = assert_error(await confirm(client, first), 410, "reset_link_expired")
    assert "Ask for a new one" in error["message"]
    await ask(client, patient.email)
    second = await emailed_reset_token(app, smtp.inbox, patient.email)
    clock.advance(minutes=29, seconds=59)
    assert (await confirm(client, second)).status_code == 204
    assert_error(await confirm(client, "not-a-token-we-sent"), 404, "reset_link_invalid")
    assert_error(await client.post(CONFIRM, json={"token": "x"}), 422)


async def test_a_new_password_makes_every_earlier_link_useless(app, client, factory, smtp):  # noqa: F811
    patient = await factory.patient()
    await ask(client, patient.email)
    first = await emailed_reset_token(app, smtp.inbox, patient.email)
    await ask(client, patient.email)
    second = await emailed_reset_token(app, smtp.inbox, patient.email)
    assert first != second
    assert (await confirm(client, second)).status_code == 204
    assert_error(await confirm(client, first, "yet-another-password-55"), 410, "reset_link_used")


async def test_unknown_and_inactive_addresses_get_the_same_answer_and_no_email(app, client, factory, smtp):  # noqa: F811
    patient = await factory.patient()
    known = await ask(client, patient.email)
    for email in ("nobody@example.org", "not an address", "x" * 240 + "@example.org"):
        unknown = await ask(client, email)
        assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    await drain(app)
    assert [r.rcpt_tos for r in smtp.inbox.received] == [[patient.email]]
    async with runtime_of(app).sessionmaker() as session:
        resets = (await session.scalars(select(PasswordReset))).all()
        asked = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.password_reset_request))).all()
    assert [r.user_id for r in resets] == [patient.id]
    # Each request is recorded, whether or not it sent anything (the same work either way).
    assert sorted(r.data["sent"] for r in asked) == [False, False, False, True]


async def _timed(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    response = await ask(client, email)
    assert response.status_code == 202, response.text
    return time.perf_counter() - started


@pytest.mark.parametrize("extra_settings", [{"password_reset_max_per_ip": 1000,
                                              "password_reset_max_per_account": 1000}])
async def test_an_unknown_address_takes_as_long_as_a_known_one(client, factory, smtp):  # noqa: F811
    patient = await factory.patient(login=False)
    await _timed(client, patient.email)
    await _timed(client, "warm-up@example.org")
    known, unknown = [], []
    for n in range(9):
        known.append(await _timed(client, patient.email))
        unknown.append(await _timed(client, f"nobody-{n}@example.org"))
    ratio = statistics.median(unknown) / statistics.median(known)
    # Both throttle, look the address up, make a token and write a record; only the known one adds
    # its link row and its email to the transaction.
    assert 0.5 < ratio < 2, (known, unknown)


@pytest.mark.parametrize("extra_settings", [{"password_reset_window": 600, "password_reset_max_per_ip": 3,
                                              "password_reset_max_per_account": 2}])
async def test_requests_are_throttled_per_address_and_per_account(app, client, factory, smtp):  # noqa: F811
    patient = await factory.patient()
    for _ in range(2):
        assert (await ask(client, patient.email)).status_code == 202
    error = assert_error(await ask(client, patient.email), 429, "too_many_requests")
    assert error["details"] == {"retry_after": 600}
    async with client_for(app, ip="198.51.100.9") as elsewhere:  # the account's limit holds anywhere
        assert_error(await ask(elsewhere, patient.email), 429, "too_many_requests")
        # Unknown addresses count the same (a 429 says nothing about who has an account).
        for _ in range(2):
            assert (await ask(elsewhere, "nobody@example.org")).status_code == 202
        assert_error(await ask(elsewhere, "nobody@example.org"), 429)
    assert (await ask(client, "someone-else@example.org")).status_code == 202  # 3rd from this address
    assert_error(await ask(client, "a-fourth@example.org"), 429)
    await drain(app)
    assert len(messages_to(smtp.inbox, patient.email)) == 2


async def test_the_reset_routes_refuse_bad_bodies(client):
    for body in ({}, {"email": ""}, {"email": "a@b.c", "extra": 1}, {"email": 5}):
        assert_error(await client.post(RESET, json=body), 422)
    for body in ({}, {"token": "t"}, {"password": "p"}, {"token": "", "password": "p"}):
        assert_error(await client.post(CONFIRM, json=body), 422)
    assert_error(await client.post(RESET, content=b"{", headers={"content-type": "application/json"}),
                 400, "malformed_json")


def _record(rows: list[AuditEvent]) -> list[tuple[Any, ...]]:
    return [(r.action, r.outcome, r.data) for r in rows]


async def test_failed_confirmations_are_recorded(app, client, clock, factory, smtp):  # noqa: F811
    patient = await factory.patient()
    await ask(client, patient.email)
    token = await emailed_reset_token(app, smtp.inbox, patient.email)
    clock.advance(hours=1)
    await confirm(client, token)
    async with runtime_of(app).sessionmaker() as session:
        rows = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.password_reset))).all()
    assert _record(list(rows)) == [(Action.password_reset, Outcome.failed, {"reason": "expired"})]


@pytest.mark.parametrize("extra_settings", [{"log_sql": True}])  # every statement with its parameters
async def test_the_token_is_stored_nowhere_and_logged_nowhere(app, client, factory, settings, smtp):  # noqa: F811
    patient = await factory.patient()
    with captured_logs(settings.model_copy(update={"log_level": "DEBUG", "log_sql": True})) as logs:
        await ask(client, patient.email)
        token = await emailed_reset_token(app, smtp.inbox, patient.email)
        assert (await confirm(client, token)).status_code == 204
    # What Televisit logs (not the test's SMTP server, whose debug log prints the mail it receives).
    text = "\n".join(line for line in logs.getvalue().splitlines() if "[mail.log]" not in line)
    assert "INSERT INTO mail_outbox" in text and "/api/v1/auth/password-reset/confirm" in text
    assert token not in text and NEW_PASSWORD not in text
    async with runtime_of(app).sessionmaker() as session:
        rows = [*(await session.scalars(select(PasswordReset))).all(),
                *(await session.scalars(select(OutboxMessage))).all(),
                *(await session.scalars(select(AuditEvent))).all()]
    assert token not in " ".join(repr(vars(r)) for r in rows)
