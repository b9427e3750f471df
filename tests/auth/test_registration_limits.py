"""Registration is throttled per address and in all, waits for a hashing slot with a deadline, and
takes as long for a taken address as for a new one."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
import pytest

from televisit.auth.models import RateEvent
from televisit.runtime import runtime_of
from tests.auth.helpers import (
    REGISTER,
    STRONG_PASSWORD,
    assert_error,
    count,
    count_failures,
    count_users,
    login,
)
from tests.fixtures.app import client_for

WINDOW = 600


def registration(email: str | None = None) -> dict[str, str]:
    return {"email": email or f"new-{uuid.uuid4().hex[:10]}@example.org",
            "password": STRONG_PASSWORD, "full_name": "Nora Quinn"}


def assert_throttled(response: httpx.Response, retry_after: int) -> None:
    error = assert_error(response, 429, "too_many_requests")
    assert response.headers["retry-after"] == str(retry_after)
    assert error["details"] == {"retry_after": retry_after}


@pytest.mark.parametrize("settings_overrides", [{
    "registration_window": WINDOW, "registration_max_per_ip": 3, "registration_max_total": 5,
}])
async def test_registration_is_throttled_per_address_and_in_all(app, client, clock):
    for _ in range(3):
        assert (await client.post(REGISTER, json=registration())).status_code == 202
    refused = registration()
    assert_throttled(await client.post(REGISTER, json=refused), WINDOW)
    # A weak password is refused before throttling: it costs nothing and counts nothing.
    weak = await client.post(REGISTER, json={**registration(), "password": "short"})
    assert_error(weak, 422, "weak_password")

    clock.advance(seconds=100)
    async with client_for(app, ip="198.51.100.20") as other:
        for _ in range(2):
            assert (await other.post(REGISTER, json=registration())).status_code == 202
        # Five in the window in all: every address now waits for the oldest to age out.
        assert_throttled(await other.post(REGISTER, json=registration()), WINDOW - 100)
        assert_throttled(await client.post(REGISTER, json=registration()), WINDOW - 100)
    assert await count_users(app) == 5
    assert (await login(client, refused["email"], STRONG_PASSWORD)).status_code == 401

    # Refused attempts did not extend the wait: the first address is free once its window ends.
    clock.advance(seconds=WINDOW - 100)
    assert (await client.post(REGISTER, json=refused)).status_code == 202
    assert (await login(client, refused["email"], STRONG_PASSWORD)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{
    # One hashing slot, a slow hash and a short wait: a burst finds the slot taken.
    "password_hash_memory_budget": 1, "password_memory_cost": 1024, "password_time_cost": 40,
    "password_hash_wait": 0.05,
}])
async def test_a_burst_past_the_hashing_slots_gets_503_with_retry_after(app, client):
    bodies = [registration() for _ in range(8)]
    responses = await asyncio.gather(*(client.post(REGISTER, json=b) for b in bodies))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {202, 503}, statuses
    assert 202 in statuses and 503 in statuses, statuses
    for response in responses:
        if response.status_code == 503:
            error = assert_error(response, 503, "busy")
            assert int(response.headers["retry-after"]) >= 1
            assert error["details"] == {"retry_after": int(response.headers["retry-after"])}
    # Exactly the accepted ones exist and count against the limits, and they can sign in.
    accepted = [b for b, r in zip(bodies, responses, strict=True) if r.status_code == 202]
    assert await count_users(app) == len(accepted)
    assert await count(app, RateEvent) == len(accepted)
    for body in accepted:
        assert (await login(client, body["email"], body["password"])).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{
    "password_hash_memory_budget": 1, "password_memory_cost": 1024, "password_hash_wait": 0.05,
}])
async def test_a_sign_in_the_server_was_too_busy_to_check_is_not_a_failure(factory, app, client):
    patient = await factory.patient(login=False)
    # Another request holds the only hashing slot for longer than a sign-in may wait. (Held here
    # for as long as the sign-in takes, not for a hash's time: on a busy machine a hash can end
    # before the sign-in reaches its slot.)
    async with runtime_of(app).passwords._slot():
        response = await login(client, patient.email, patient.password)
    assert_error(response, 503, "busy")
    assert await count_failures(app) == 0
    assert (await login(client, patient.email, patient.password)).status_code == 200


async def _timed(client: httpx.AsyncClient, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 202, response.text
    return time.perf_counter() - started


@pytest.mark.parametrize("settings_overrides", [{
    # A hash that takes tens of milliseconds, far above the noise of a database round trip.
    "password_memory_cost": 32 * 1024, "password_time_cost": 2,
}])
async def test_a_taken_address_takes_as_long_as_a_new_one(client):
    taken = registration("taken@example.org")
    await _timed(client, taken)
    new_times, taken_times = [], []
    for _ in range(7):
        new_times.append(await _timed(client, registration()))
        taken_times.append(await _timed(client, taken))
    ratio = statistics.median(taken_times) / statistics.median(new_times)
    # Without hashing for a taken address it answered in a small fraction (about 0.1) of the time;
    # with it, only the new account's insert differs.
    assert 0.5 < ratio < 2, (new_times, taken_times)
