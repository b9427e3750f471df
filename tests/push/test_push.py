"""Ringing a phone whose app is closed: Web Push to the subscriptions of a callee with no open
socket, one push per ring, signed (VAPID) and encrypted (RFC 8291) as a real push service and
browser check them; a subscription the push service forgot is deleted; signing out deletes."""
from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from televisit.core.clock import FakeClock
from televisit.push.models import PushSubscription
from televisit.runtime import runtime_of
from tests.fixtures.app import START
from tests.fixtures.cluster import start_cluster
from tests.fixtures.databases import truncate_all
from tests.fixtures.factories import Factory
from tests.fixtures.live import WSClient
from tests.push.receiver import Browser, PushService, b64e

_ids = itertools.count(1)


async def subscribe(client, person, browser: Browser) -> dict:
    response = await client.post("/api/v1/push/subscriptions", headers=person.headers, json=browser.to_json())
    assert response.status_code == 201, response.text
    return response.json()


async def stored(app) -> list[PushSubscription]:
    async with runtime_of(app).session() as session:
        return list((await session.execute(select(PushSubscription))).scalars())


async def visit(factory):
    doctor = await factory.doctor(name="Dr. Ada Lovelace")
    patient = await factory.patient(name="Bob Patient")
    appointment = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=5))
    return doctor, patient, appointment


async def call(client, doctor, appointment) -> str:
    response = await client.post(f"/api/v1/appointments/{appointment['id']}/call", headers=doctor.headers)
    assert response.status_code == 201, response.text
    return response.json()["room"]["id"]


async def test_a_ring_reaches_an_offline_callee_once_signed_and_encrypted(app, client, factory, pushes):
    doctor, patient, appointment = await visit(factory)
    phone = pushes.browser()
    await subscribe(client, patient, phone)
    key = (await client.get("/api/v1/push/vapid-public-key", headers=patient.headers)).json()["public_key"]

    room_id = await call(client, doctor, appointment)

    [push] = await pushes.wait(1)
    assert push.browser is phone
    assert push.payload == {"kind": "call", "room_id": room_id, "appointment_id": appointment["id"],
                            "caller_name": "Dr. Ada Lovelace", "caller_role": "doctor"}
    assert push.vapid_key == key  # signed with the key the browser subscribed with
    assert push.claims["aud"] == pushes.origin
    assert push.headers["Urgency"] == "high" and push.headers["TTL"] == "60"
    # The same call again (its live room) rings nobody twice.
    again = await client.post(f"/api/v1/appointments/{appointment['id']}/call", headers=doctor.headers)
    assert again.status_code == 200
    assert len(await pushes.wait(1)) == 1


async def test_every_device_rings_and_the_caller_hanging_up_stops_it(app, client, factory, pushes):
    doctor, patient, appointment = await visit(factory)
    phone, tablet = pushes.browser(), pushes.browser()
    await subscribe(client, patient, phone)
    await subscribe(client, patient, tablet)
    room_id = await call(client, doctor, appointment)
    await pushes.wait(2)
    ended = await client.post(f"/api/v1/rooms/{room_id}/end", headers=doctor.headers)
    assert ended.status_code == 200, ended.text
    received = await pushes.wait(4)
    for device in (phone, tablet):
        ring, stop = [r.payload for r in pushes.for_browser(device)]
        assert ring["kind"] == "call"
        assert stop == {"kind": "call_ended", "room_id": room_id, "appointment_id": appointment["id"]}
    assert len(received) == 4


async def test_a_callee_with_the_app_open_is_rung_on_the_socket_only(app, client, factory, pushes, live):
    doctor, patient, appointment = await visit(factory)
    await subscribe(client, patient, pushes.browser())
    ws = await WSClient.connect(live.ws_url, patient.token)
    try:
        room_id = await call(client, doctor, appointment)
        await ws.expect("call.incoming", room_id=room_id)
        runtime_of(app).push.notice([])  # nothing queued for later either
        await runtime_of(app).push.drain()
        assert pushes.received == []
    finally:
        await ws.close()


async def test_new_messages_push_without_their_text(app, client, factory, pushes):
    doctor, patient, appointment = await visit(factory)
    phone, doctors_laptop = pushes.browser(), pushes.browser()
    await subscribe(client, patient, phone)
    await subscribe(client, doctor, doctors_laptop)
    response = await client.post(f"/api/v1/appointments/{appointment['id']}/messages", headers=doctor.headers,
                                 json={"client_msg_id": f"m{next(_ids)}", "body": "Your blood test is fine"})
    assert response.status_code == 201
    [push] = await pushes.wait(1)  # the sender's own devices are not told
    assert push.browser is phone
    assert push.payload == {"kind": "message", "appointment_id": appointment["id"]}
    assert push.headers["Urgency"] == "normal"


async def test_a_subscription_the_push_service_forgot_is_deleted(app, client, factory, pushes):
    doctor, patient, appointment = await visit(factory)
    old_phone, phone = pushes.browser(), pushes.browser()
    old_phone.answer = 410  # the browser unsubscribed (or the app was uninstalled)
    await subscribe(client, patient, old_phone)
    await subscribe(client, patient, phone)
    await call(client, doctor, appointment)
    await pushes.wait(2)
    assert [s.endpoint for s in await stored(app)] == [phone.endpoint]


@pytest.mark.parametrize("endpoint", [
    "https://push.attacker.example/x",                 # not a push service
    "https://169.254.169.254/latest/meta-data",        # an internal address
    "http://fcm.googleapis.com/fcm/send/abc",          # not https
    "https://fcm.googleapis.com:8443/fcm/send/abc",    # not the https port
    "https://user:pw@fcm.googleapis.com/fcm/send/abc",  # user info
    "https://fcm.googleapis.com.attacker.example/x",   # an allowed name as a prefix
    "https://notify.windows.com.evil/x",
    "http://localhost:9/push/x",                       # loopback by name
    "not a url at all",
])
async def test_endpoints_off_the_allowlist_are_refused_and_nothing_is_stored(
        app, client, factory, pushes, endpoint, settings):
    patient = await factory.patient()
    body = {**pushes.browser().to_json(), "endpoint": endpoint}
    response = await client.post("/api/v1/push/subscriptions", headers=patient.headers, json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] in ("push_endpoint_not_allowed", "validation_error")
    assert await stored(app) == []


async def test_default_hosts_are_the_browsers_push_services(factory, client):
    """Without the test's setting: the major browsers' services pass, the local receiver does not."""
    patient = await factory.patient()
    keys = PushService("").browser().to_json()["keys"]
    for endpoint, ok in [("https://fcm.googleapis.com/fcm/send/abc", True),
                         ("https://updates.push.services.mozilla.com/wpush/v2/abc", True),
                         ("https://wns2-par02p.notify.windows.com/w/?token=abc", True),
                         ("https://web.push.apple.com/QabcD", True),
                         ("http://127.0.0.1:9/push/abc", False)]:
        response = await client.post("/api/v1/push/subscriptions", headers=patient.headers,
                                     json={"endpoint": endpoint, "expirationTime": None, "keys": keys})
        assert (response.status_code == 201) == ok, (endpoint, response.text)


@pytest.fixture
def settings_overrides(request) -> dict:
    if request.node.name.startswith("test_default_hosts"):
        return {"push_sender_enabled": False}
    return {"push_allowed_hosts": ["127.0.0.1"], "push_allow_loopback": True, "push_sender_enabled": True}


async def test_bad_keys_are_refused(client, factory, pushes):
    patient = await factory.patient()
    body = pushes.browser().to_json()
    body["keys"]["p256dh"] = b64e(b"\x04" + bytes(64))  # the right length, not a point on the curve
    response = await client.post("/api/v1/push/subscriptions", headers=patient.headers, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("push_keys_invalid", "validation_error")


async def test_signing_out_stops_that_device_ringing(app, client, factory, pushes):
    doctor, patient, appointment = await visit(factory)
    phone = pushes.browser()
    await subscribe(client, patient, phone)
    out = await client.post("/api/v1/auth/logout", headers=patient.headers)
    assert out.status_code == 204
    assert await stored(app) == []
    await call(client, doctor, appointment)
    await runtime_of(app).push.drain()
    assert pushes.received == []


async def test_unsubscribe_and_subscribing_again_replaces(app, client, factory, pushes):
    patient = await factory.patient()
    phone = pushes.browser()
    await subscribe(client, patient, phone)
    await subscribe(client, patient, phone)  # the app subscribes at every start
    assert len(await stored(app)) == 1
    stranger = await factory.patient()
    gone = await client.request("DELETE", "/api/v1/push/subscriptions", headers=stranger.headers,
                                json={"endpoint": phone.endpoint})
    assert gone.status_code == 204 and len(await stored(app)) == 1  # not theirs to delete
    gone = await client.request("DELETE", "/api/v1/push/subscriptions", headers=patient.headers,
                                json={"endpoint": phone.endpoint})
    assert gone.status_code == 204 and await stored(app) == []


async def test_subscribing_is_audited(app, client, factory, pushes):
    admin, patient = await factory.admin(), await factory.patient()
    sub = await subscribe(client, patient, pushes.browser())
    trail = await client.get("/api/v1/admin/audit", headers=admin.headers,
                             params={"object_id": sub["id"]})
    assert [e["action"] for e in trail.json()["items"]] == ["push.subscribe"]


async def test_logs_name_the_subscription_never_its_endpoint_keys_or_payload(
        app, client, factory, pushes, logs):
    doctor, patient, appointment = await visit(factory)
    broken = pushes.browser()
    broken.answer = 500  # the push service fails
    sub = await subscribe(client, patient, broken)
    await call(client, doctor, appointment)
    await pushes.wait(1)
    text = logs.getvalue()
    assert "push_refused" in text and sub["id"] in text
    keys = broken.to_json()["keys"]
    for secret in (broken.token, keys["p256dh"], keys["auth"], "Ada Lovelace"):
        assert secret not in text
    assert len(await stored(app)) == 1  # a failing push service does not lose the subscription


async def test_two_instances_send_one_push_per_ring(pg_database, redis_url, pushes):
    """Both instances hear the ring on the callee's channel; only the one that committed it
    pushes. (A callee whose app is open on the other instance is pushed too, and the service
    worker shows nothing while a window is visible: docs/operations.md, "Push".)"""
    clock = FakeClock(START)
    try:
        async with start_cluster(pg_database, redis_url, clock, push_allowed_hosts=["127.0.0.1"],
                                 push_allow_loopback=True, push_sender_enabled=True) as cluster, \
                httpx.AsyncClient(base_url=cluster.a.http_url) as http_a, \
                httpx.AsyncClient(base_url=cluster.b.http_url) as http_b:
            factory = Factory(cluster.a.app, http_a, clock)
            doctor, patient, appointment = await visit(factory)
            await subscribe(http_b, patient, pushes.browser())
            await call(http_b, doctor, appointment)
            [push] = await pushes.wait(1)
            await asyncio.sleep(0.5)
            assert len(pushes.received) == 1 and push.payload["kind"] == "call"
    finally:
        await truncate_all(pg_database)
