"""Caps on open sockets: per user and per client address. The socket over the cap gets
`error` `too_many_connections` and close 4429; the ones already open keep working."""

from __future__ import annotations

import pytest

from televisit.runtime import runtime_of
from tests.fixtures.cluster import wait_for
from tests.fixtures.live import WSClient
from tests.signaling.helpers import closed_with, connect, roundtrip

ADDRESS_CAP = 4


async def assert_refused(ws: WSClient) -> None:
    assert await closed_with(ws) == 4429
    errors = [f for f in ws.seen if f.get("type") == "error"]
    assert [e["code"] for e in errors] == ["too_many_connections"]


async def test_the_eleventh_socket_of_a_user_is_refused(factory, live, settings):
    assert settings.ws_max_per_user == 10
    person, other = await factory.patient(), await factory.patient()
    open_ = [await connect(live.ws_url, person) for _ in range(10)]
    # A second sign-in of the same person counts too: the cap is per user, not per token.
    extra = await WSClient.connect(live.ws_url)
    await extra.send({"type": "auth", "token": await factory.login(person), "ref": "a"})
    await assert_refused(extra)
    assert extra.seen[0]["ref"] == "a"
    assert not any(f["type"] == "ready" for f in extra.seen)
    for ws in open_:
        await roundtrip(ws)
    someone_else = await connect(live.ws_url, other)  # other users are not affected
    await roundtrip(someone_else)

    await open_.pop().close()  # one closed: a slot is free again
    hub = runtime_of(live.app).hub
    await wait_for(lambda: hub.user_count(person.id) < 10)
    again = await connect(live.ws_url, person)
    await roundtrip(again)
    for ws in [*open_, again, someone_else]:
        await ws.close()


@pytest.mark.parametrize("settings_overrides", [{"ws_max_per_address": ADDRESS_CAP}])
async def test_sockets_over_the_address_cap_are_refused_before_authenticating(factory, live):
    person, other = await factory.patient(), await factory.doctor()
    signed_in = [await connect(live.ws_url, person), await connect(live.ws_url, other)]
    unauthenticated = [await WSClient.connect(live.ws_url) for _ in range(ADDRESS_CAP - 2)]
    for ws in signed_in:
        await roundtrip(ws)
    refused = await WSClient.connect(live.ws_url)  # never sends a frame: refused at once
    await assert_refused(refused)
    for ws in signed_in:
        await roundtrip(ws)
    await unauthenticated.pop().close()
    hub = runtime_of(live.app).hub
    await wait_for(lambda: sum(hub.by_address.values()) < ADDRESS_CAP)
    fresh = await connect(live.ws_url, other)
    await roundtrip(fresh)
    for ws in [*signed_in, *unauthenticated, fresh]:
        await ws.close()
