"""Two instances (PostgreSQL + Redis) racing to end the same rooms end each exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from televisit.rooms import service as rooms_service
from televisit.runtime import runtime_of
from tests.fixtures.cluster import Cluster, start_cluster
from tests.fixtures.databases import truncate_all
from tests.fixtures.factories import Factory
from tests.signaling.helpers import (
    assert_error,
    connect,
    join,
    make_visit,
    of_type,
    roundtrip,
    settle,
    start_call,
)


@pytest.fixture
async def cluster(pg_database: str, redis_url: str, clock) -> AsyncIterator[Cluster]:
    # The test jumps the shared clock by hours. With a real clock each instance beats every few
    # seconds; here a jump would briefly make the other instance look dead and its participants
    # be released, so the staleness window is made longer than any jump.
    async with start_cluster(pg_database, redis_url, clock, instance_heartbeat=86400) as c:
        yield c
    await truncate_all(pg_database)


@pytest.fixture
async def http(cluster: Cluster) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with httpx.AsyncClient(base_url=cluster.a.http_url) as a, \
            httpx.AsyncClient(base_url=cluster.b.http_url) as b:
        yield a, b


async def test_both_instances_sweep_at_once_and_each_room_ends_once(cluster, http, clock):
    http_a, http_b = http
    factory = Factory(cluster.a.app, http_a, clock)
    live_call, ring_b, ring_a = [await make_visit(factory) for _ in range(3)]
    d = await connect(cluster.a.ws_url, live_call.doctor)
    p = await connect(cluster.b.ws_url, live_call.patient)
    rb = await connect(cluster.b.ws_url, ring_b.patient)
    ra = await connect(cluster.a.ws_url, ring_a.patient)
    room = await start_call(http_a, live_call, live_call.doctor)
    await join(d, room["id"])
    await join(p, room["id"])
    ringing = {"b": await start_call(http_b, ring_b, ring_b.doctor),
               "a": await start_call(http_a, ring_a, ring_a.doctor)}
    await rb.expect("call.incoming", room_id=ringing["b"]["id"])
    await ra.expect("call.incoming", room_id=ringing["a"]["id"])
    # Both instances beat before either looks for orphans. (Their first sweeps run at once: the
    # one that ran before the other had ever beaten released that instance's participants, an
    # instance without a heartbeat row counting as dead, and the doctor "left" the live call.)
    for app in (cluster.a.app, cluster.b.app):
        rt = runtime_of(app)
        async with rt.session() as session:
            await rooms_service.heartbeat(session, instance_id=rt.instance_id, now=clock.now())

    clock.advance(hours=4)  # the live call hits the maximum; the ringing ones went unused
    ended_a, ended_b = await asyncio.gather(runtime_of(cluster.a.app).room_timers.run_once(),
                                            runtime_of(cluster.b.app).room_timers.run_once())
    everything = {room["id"], ringing["a"]["id"], ringing["b"]["id"]}
    assert {str(x) for x in ended_a} | {str(x) for x in ended_b} == everything
    assert not set(ended_a) & set(ended_b), (ended_a, ended_b)

    for ws, person, app in ((d, live_call.doctor, cluster.b.app), (p, live_call.patient, cluster.a.app)):
        frames = await settle(ws, app, person.id)
        assert of_type(frames, "room.ended") == [{"type": "room.ended", "room_id": room["id"],
                                                  "reason": "max-duration", "status": "completed"}]
        assert of_type(frames, "participant.left") == []
    for ws, person, ring in ((rb, ring_b.patient, ringing["b"]), (ra, ring_a.patient, ringing["a"])):
        frames = await settle(ws, cluster.a.app, person.id)
        assert [f["reason"] for f in of_type(frames, "call.cancelled")] == ["unused-timeout"]
        assert [f["room_id"] for f in of_type(frames, "room.ended")] == [ring["id"]]

    await factory.login(live_call.doctor)
    for url in (f"/api/v1/rooms/{room['id']}", f"/api/v1/rooms/{ringing['b']['id']}"):
        r = await http_b.get(url, headers=live_call.doctor.headers)
        if r.status_code == 404:  # not this doctor's ringing room
            continue
        assert r.json()["end_reason"] == "max-duration"
    for ws in (d, p, rb, ra):
        await ws.close()


async def test_concurrent_hang_ups_on_two_instances_end_the_room_once(cluster, http, clock):
    http_a, http_b = http
    v = await make_visit(Factory(cluster.a.app, http_a, clock))
    d = await connect(cluster.a.ws_url, v.doctor)
    old = await connect(cluster.b.ws_url, v.patient)
    room = await start_call(http_b, v, v.doctor)
    await join(d, room["id"])
    await join(old, room["id"])
    await d.expect("participant.joined")

    # The patient's second device, on the other instance, takes over the identity.
    new = await connect(cluster.a.ws_url, v.patient)
    await join(new, room["id"])
    assert (await old.expect("room.replaced"))["reason"] == "duplicate-identity"
    await d.send({"type": "signal", "room_id": room["id"], "data": {"sdp": "offer"}})
    assert (await new.expect("signal"))["data"] == {"sdp": "offer"}
    await new.send({"type": "signal", "room_id": room["id"], "data": {"sdp": "answer"}})
    assert (await d.expect("signal"))["data"] == {"sdp": "answer"}
    await roundtrip(d)
    assert of_type(await settle(old, cluster.a.app, v.patient.id), "signal") == []

    responses = await asyncio.gather(
        http_a.post(f"/api/v1/rooms/{room['id']}/end", headers=v.doctor.headers),
        http_b.post(f"/api/v1/rooms/{room['id']}/end", headers=v.patient.headers),
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert_error(loser, 409, "room_ended")
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["status"] == "completed" and winner["end_reason"] == "ended"

    for ws, person in ((d, v.doctor), (new, v.patient), (old, v.patient)):
        frames = await settle(ws, cluster.b.app, person.id)
        assert len(of_type(frames, "room.ended", room_id=room["id"])) == 1, frames
    r = await http_a.get(f"/api/v1/appointments/{v.id}", headers=v.patient.headers)
    assert r.json()["status"] == "completed"
    for ws in (d, old, new):
        await ws.close()
