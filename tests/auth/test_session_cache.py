"""Sessions kept on the instance for a few seconds (auth/cache.py): a request after the first reads
no session from the database, and whatever changes a session or its user shows at once, on this
instance and on another one (PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from televisit.core.rowcache import RowCache
from televisit.runtime import runtime_of
from tests.auth.helpers import ADMIN_USERS, LOGOUT, ME, assert_unauthorized, bearer
from tests.fixtures.cluster import Cluster, start_cluster
from tests.fixtures.databases import truncate_all
from tests.fixtures.factories import Factory


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL the app sends while the block runs."""
    sent: list[str] = []
    engine = runtime_of(app).engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_second_request_reads_no_session(factory, client, app):
    patient = await factory.patient()
    assert (await client.get(ME, headers=patient.headers)).status_code == 200
    with statements(app) as sent:
        me = await client.get(ME, headers=patient.headers)
    assert me.status_code == 200 and me.json()["id"] == str(patient.id)
    assert not [s for s in sent if "auth_sessions" in s], sent


async def test_logout_revocation_deactivation_and_edits_show_at_once(factory, client):
    admin = await factory.admin()
    doctor = await factory.doctor()
    first = doctor.token
    other = await factory.login(doctor)  # a second sign-in (the factory now holds this token)
    patient = await factory.patient()
    for token in (first, other, patient.token):  # kept now
        assert (await client.get(ME, headers=bearer(token))).status_code == 200

    # Her own edit: the next answer has it.
    changed = await client.patch(ME, headers=patient.headers, json={"time_zone": "Europe/Berlin"})
    assert changed.status_code == 200
    assert (await client.get(ME, headers=patient.headers)).json()["time_zone"] == "Europe/Berlin"

    # Sign-out: that token is dead with the next request, the other sign-in lives.
    assert (await client.post(LOGOUT, headers=bearer(first))).status_code == 204
    assert_unauthorized(await client.get(ME, headers=bearer(first)), "invalid_token")
    assert (await client.get(ME, headers=bearer(other))).status_code == 200

    # An admin ends the doctor's sessions, then deactivates the patient.
    ended = await client.post(f"{ADMIN_USERS}/{doctor.id}/revoke-sessions", headers=admin.headers)
    assert ended.status_code == 200
    assert_unauthorized(await client.get(ME, headers=bearer(other)), "invalid_token")
    gone = await client.post(f"{ADMIN_USERS}/{patient.id}/deactivate", headers=admin.headers)
    assert gone.status_code == 200
    assert_unauthorized(await client.get(ME, headers=patient.headers), "invalid_token")


async def test_idle_expiry_still_counts_from_the_last_use(factory, client, app, clock):
    patient = await factory.patient()
    assert (await client.get(ME, headers=patient.headers)).status_code == 200
    idle = runtime_of(app).settings.session_idle_timeout
    clock.advance(seconds=idle + 1)  # the kept row is seconds old; the session has been idle too long
    assert_unauthorized(await client.get(ME, headers=patient.headers), "session_expired")


@pytest.mark.parametrize("settings_overrides", [{"auth_cache_seconds": 0}])
async def test_nothing_is_kept_when_turned_off(factory, client, app):
    patient = await factory.patient()
    assert (await client.get(ME, headers=patient.headers)).status_code == 200
    with statements(app) as sent:
        assert (await client.get(ME, headers=patient.headers)).status_code == 200
    assert [s for s in sent if "auth_sessions" in s]
    assert len(runtime_of(app).auth_cache) == 0


# -- two instances ---------------------------------------------------------------------------------
@pytest.fixture
async def kept_long(pg_database: str, redis_url: str, clock) -> AsyncIterator[Cluster]:
    """Two instances that keep sessions for a minute: what the tests see comes from the broker."""
    async with start_cluster(pg_database, redis_url, clock, auth_cache_seconds=60) as c:
        yield c
    await truncate_all(pg_database)


async def eventually_401(client: httpx.AsyncClient, token: str, within: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await client.get(ME, headers=bearer(token))
        if response.status_code == 401:
            assert_unauthorized(response, "invalid_token")
            return
        assert response.status_code == 200
        assert asyncio.get_running_loop().time() < deadline, "still signed in on the other instance"
        await asyncio.sleep(0.02)


async def test_a_change_on_one_instance_reaches_the_other(kept_long: Cluster, clock):
    async with httpx.AsyncClient(base_url=kept_long.a.http_url) as a, \
            httpx.AsyncClient(base_url=kept_long.b.http_url) as b:
        factory = Factory(kept_long.a.app, a, clock)
        admin = await factory.admin()
        doctor = await factory.doctor()
        patient = await factory.patient()
        for person in (doctor, patient):
            assert (await b.get(ME, headers=person.headers)).status_code == 200  # kept on b
        assert len(runtime_of(kept_long.b.app).auth_cache) >= 2

        edited = await a.patch(ME, headers=patient.headers, json={"time_zone": "Asia/Tokyo"})
        assert edited.status_code == 200
        deadline = asyncio.get_running_loop().time() + 2.0
        while (await b.get(ME, headers=patient.headers)).json()["time_zone"] != "Asia/Tokyo":
            assert asyncio.get_running_loop().time() < deadline, "b still shows the old time zone"
            await asyncio.sleep(0.02)

        assert (await a.post(LOGOUT, headers=doctor.headers)).status_code == 204
        await eventually_401(b, doctor.token)
        gone = await a.post(f"{ADMIN_USERS}/{patient.id}/deactivate", headers=admin.headers)
        assert gone.status_code == 200
        await eventually_401(b, patient.token)


# -- the cache itself ------------------------------------------------------------------------------
class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_last_ttl_seconds():
    ticks = Ticks()
    cache = RowCache(5, clock=ticks)
    cache.put("k", "v", tags=["t"], generation=cache.generation)
    ticks.now = 4.9
    assert cache.get("k") == "v"
    ticks.now = 5.0
    assert cache.get("k") is None
    assert len(cache) == 0


def test_forget_drops_what_depends_on_a_tag_and_nothing_else():
    cache = RowCache(5, clock=Ticks())
    cache.put("a", 1, tags=[("session", 1), ("user", 9)], generation=cache.generation)
    cache.put("b", 2, tags=[("session", 2), ("user", 9)], generation=cache.generation)
    cache.put("c", 3, tags=[("session", 3), ("user", 8)], generation=cache.generation)
    cache.forget([("user", 9)])
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, 3)
    cache.clear()
    assert cache.get("c") is None


def test_a_read_that_a_change_overtook_is_not_kept():
    cache = RowCache(5, clock=Ticks())
    seen = cache.generation  # the read starts
    cache.forget([("session", 1)])  # a revocation commits meanwhile
    cache.put("a", "stale", tags=[("session", 1)], generation=seen)
    assert cache.get("a") is None
    cache.put("a", "fresh", tags=[("session", 1)], generation=cache.generation)
    assert cache.get("a") == "fresh"


async def test_read_through_reads_once_and_keeps_nothing_a_change_overtook():
    cache = RowCache(5, clock=Ticks())
    reads: list[str] = []

    async def read(value: str) -> str | None:
        reads.append(value)
        if value == "changed":
            cache.forget([("user", 1)])  # a change commits while this read is on its way
        return None if value == "gone" else value

    def through(value: str) -> object:
        return cache.read_through("k", read=lambda: read(value), keep=lambda v: ({"v": v}, [("user", 1)]),
                                  restore=lambda kept: kept["v"] if isinstance(kept, dict) else None)

    assert await through("gone") is None and cache.get("k") is None  # nothing found, nothing kept
    assert await through("changed") == "changed" and cache.get("k") is None
    assert await through("first") == "first"
    assert await through("second") == "first"  # restored, not read again
    assert reads == ["gone", "changed", "first"]
    cache.put("k", "not what restore takes", tags=[], generation=cache.generation)
    assert await through("third") == "third" and reads[-1] == "third"


def test_the_oldest_entry_makes_room_and_zero_keeps_nothing():
    cache = RowCache(5, max_entries=2, clock=Ticks())
    for key in "abc":
        cache.put(key, key, tags=[], generation=cache.generation)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, "b", "c")
    off = RowCache(0, clock=Ticks())
    off.put("a", 1, tags=[], generation=off.generation)
    assert off.get("a") is None


async def test_a_sockets_chat_messages_read_its_user_once(factory, live):
    """A socket's frames act for the user it signed in as: the row is kept like the session's
    (and dropped as it is, at once, when the user changes), not read again for every message."""
    from tests.signaling.helpers import connect, make_visit

    visit = await make_visit(factory)
    ws = await connect(live.ws_url, visit.patient)
    frame = {"type": "chat.send", "appointment_id": visit.id, "body": "Hello"}
    await ws.send({**frame, "client_msg_id": "first", "ref": "r1"})
    assert (await ws.expect("chat.ack", ref="r1"))["seq"] == 1
    with statements(live.app) as sent:
        await ws.send({**frame, "client_msg_id": "second", "ref": "r2"})
        assert (await ws.expect("chat.ack", ref="r2"))["seq"] == 2
    assert [s for s in sent if "INSERT INTO messages" in s], sent  # the watch saw the message go in
    assert not [s for s in sent if "FROM users" in s], sent
    await ws.close()
