"""Revoking a session, or deactivating an account, closes its sockets on every instance (Redis)
within moments: the service publishes on the user's channel after its commit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
from sqlalchemy import select

from televisit.auth import service as auth_service
from televisit.auth.models import AuthSession
from televisit.runtime import runtime_of
from televisit.users.repository import UserRepository
from tests.auth.helpers import ME, assert_unauthorized
from tests.fixtures.cluster import Cluster
from tests.fixtures.factories import Factory, Person
from tests.fixtures.live import LiveServer, WSClient
from tests.signaling.helpers import closed_with, roundtrip

WITHIN = 3.0  # seconds: "within seconds", with room to spare on a busy machine


async def sessions_of(server: LiveServer, user_id: uuid.UUID) -> list[uuid.UUID]:
    async with runtime_of(server.app).session() as session:
        rows = await session.execute(select(AuthSession.id).where(AuthSession.user_id == user_id)
                                     .order_by(AuthSession.created_at, AuthSession.id))
        return list(rows.scalars())


async def assert_closed(ws: WSClient, reason: str) -> None:
    assert await closed_with(ws, WITHIN) == 4401
    assert {"type": "session.ended", "reason": reason} in ws.seen


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_revoked_session_closes_its_sockets_on_the_other_instance(cluster: Cluster):
    async with httpx.AsyncClient(base_url=cluster.a.http_url) as http:
        factory = Factory(cluster.a.app, http, cluster.clock)
        person = await factory.patient()
        first = person.token
        assert first
        doomed = await WSClient.connect(cluster.b.ws_url, first)
        target = (await sessions_of(cluster.a, person.id))[0]
        second = await factory.login(person)
        kept = await WSClient.connect(cluster.b.ws_url, second)

        started = asyncio.get_running_loop().time()
        async with runtime_of(cluster.a.app).session() as session:
            assert await auth_service.revoke_session(session, user_id=person.id, session_id=target,
                                                     now=cluster.clock.now())
        await assert_closed(doomed, "revoked")
        assert asyncio.get_running_loop().time() - started < WITHIN
        assert_unauthorized(await http.get(ME, headers=bearer(first)), "invalid_token")
        await roundtrip(kept)  # the other sign-in is untouched
        assert (await http.get(ME, headers=bearer(second))).status_code == 200

        # A session is revoked only as its own user's: another user id changes nothing.
        stranger = await factory.doctor()
        live = [s for s in await sessions_of(cluster.a, person.id) if s != target]
        async with runtime_of(cluster.a.app).session() as session:
            assert not await auth_service.revoke_session(session, user_id=stranger.id,
                                                         session_id=live[0], now=cluster.clock.now())
        await roundtrip(kept)
        await kept.close()


async def deactivate(server: LiveServer, person: Person, now: datetime) -> int:
    """What an admin's deactivation does: the account off, then every session of it ended."""
    async with runtime_of(server.app).session() as session:
        user = await UserRepository(session).get(person.id)
        assert user is not None
        user.is_active = False
        return await auth_service.end_sessions_of_user(session, user_id=person.id, now=now,
                                                       reason="deactivated")


async def test_deactivation_closes_every_socket_of_the_account_on_both_instances(cluster: Cluster):
    async with httpx.AsyncClient(base_url=cluster.a.http_url) as http:
        factory = Factory(cluster.a.app, http, cluster.clock)
        person, bystander = await factory.doctor(), await factory.doctor()
        tokens = [person.token, await factory.login(person), await factory.login(person)]
        sockets = [await WSClient.connect(cluster.a.ws_url, tokens[0]),
                   await WSClient.connect(cluster.b.ws_url, tokens[1]),
                   await WSClient.connect(cluster.b.ws_url, tokens[2])]
        other = await WSClient.connect(cluster.b.ws_url, bystander.token)

        assert await deactivate(cluster.b, person, cluster.clock.now()) == 3
        for ws in sockets:
            await assert_closed(ws, "deactivated")
        for token in tokens:
            assert_unauthorized(await http.get(ME, headers=bearer(token)), "invalid_token")
        login = await http.post("/api/v1/auth/login",
                                json={"email": person.email, "password": person.password})
        assert login.status_code == 401
        await roundtrip(other)
        await other.close()


async def test_the_sweeper_catches_a_deactivation_whose_event_was_lost(cluster: Cluster):
    """Belt and braces: the account is off but nothing was published (a bug, or an outage)."""
    async with httpx.AsyncClient(base_url=cluster.a.http_url) as http:
        factory = Factory(cluster.a.app, http, cluster.clock)
        person = await factory.patient()
        ws = await WSClient.connect(cluster.b.ws_url, person.token)
        async with runtime_of(cluster.a.app).session() as session:
            user = await UserRepository(session).get(person.id)
            assert user is not None
            user.is_active = False
        await roundtrip(ws)
        cluster.clock.advance(minutes=30)  # the socket's deadline: re-read, and found off
        assert await runtime_of(cluster.b.app).session_sweeper.run_once() == 1
        await assert_closed(ws, "deactivated")
