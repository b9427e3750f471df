"""Chat over REST: idempotent sends, gap-free ordering under concurrency, limits and privacy."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.signaling.helpers import (
    assert_error,
    connect,
    end_call,
    join,
    make_visit,
    of_type,
    settle,
    start_call,
)

MESSAGE_KEYS = {"id", "seq", "appointment_id", "sender_id", "client_msg_id", "body", "created_at"}


def url(visit) -> str:
    return f"/api/v1/appointments/{visit.id}/messages"


async def test_send_then_resend_returns_the_same_message(factory, client):
    v = await make_visit(factory)
    r = await client.post(url(v), json={"client_msg_id": "m-1", "body": "Hello, doctor"},
                          headers=v.patient.headers)
    assert r.status_code == 201, r.text
    message = r.json()
    assert set(message) == MESSAGE_KEYS
    assert message["seq"] == 1 and message["body"] == "Hello, doctor"
    assert message["sender_id"] == str(v.patient.id) and message["appointment_id"] == v.id
    assert message["created_at"] == "2030-03-04T09:00:00Z"

    # A retry (even with a different body: the first one was stored) gets the stored message.
    for body in ("Hello, doctor", "edited"):
        again = await client.post(url(v), json={"client_msg_id": "m-1", "body": body},
                                  headers=v.patient.headers)
        assert again.status_code == 200, again.text
        assert again.json() == message
    # The same client id from the other person is their own message.
    other = await client.post(url(v), json={"client_msg_id": "m-1", "body": "Hello"},
                              headers=v.doctor.headers)
    assert other.status_code == 201 and other.json()["seq"] == 2

    listed = await client.get(url(v), headers=v.doctor.headers)
    assert listed.status_code == 200
    assert listed.json() == {"items": [message, other.json()], "next_cursor": None}


async def test_paging_with_after_seq_and_limit(factory, client):
    v = await make_visit(factory)
    for i in range(5):
        r = await client.post(url(v), json={"client_msg_id": f"c{i}", "body": f"#{i}"},
                              headers=v.doctor.headers)
        assert r.status_code == 201
    page = (await client.get(url(v), params={"limit": 2}, headers=v.patient.headers)).json()
    assert [m["seq"] for m in page["items"]] == [1, 2] and page["next_cursor"] == "2"
    page = (await client.get(url(v), params={"limit": 2, "after_seq": page["next_cursor"]},
                             headers=v.patient.headers)).json()
    assert [m["seq"] for m in page["items"]] == [3, 4] and page["next_cursor"] == "4"
    page = (await client.get(url(v), params={"limit": 2, "after_seq": 4},
                             headers=v.patient.headers)).json()
    assert [m["body"] for m in page["items"]] == ["#4"] and page["next_cursor"] is None
    for bad in ({"limit": 0}, {"limit": 501}, {"after_seq": -1}, {"after_seq": "x"}):
        assert_error(await client.get(url(v), params=bad, headers=v.patient.headers), 422,
                     "validation_error")


async def test_concurrent_sends_from_both_sides_get_gap_free_ascending_seqs(factory, client):
    v = await make_visit(factory)
    n = 15

    async def send(person, i):
        return await client.post(url(v), json={"client_msg_id": f"{person.role}-{i}",
                                               "body": f"{person.role} {i}"}, headers=person.headers)

    responses = await asyncio.gather(*(send(p, i) for i in range(n) for p in (v.doctor, v.patient)))
    assert [r.status_code for r in responses] == [201] * (2 * n), [r.text for r in responses]
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 2 * n + 1))
    listed = (await client.get(url(v), headers=v.doctor.headers)).json()["items"]
    assert [m["seq"] for m in listed] == list(range(1, 2 * n + 1))
    # Each person's own messages keep the order they were sent in... as far as the server saw it;
    # what matters to a reader is one total order, the same for both people.
    assert listed == (await client.get(url(v), headers=v.patient.headers)).json()["items"]

    # The same message retried concurrently is stored once.
    retries = await asyncio.gather(*(
        client.post(url(v), json={"client_msg_id": "dup", "body": "once"}, headers=v.patient.headers)
        for _ in range(6)))
    assert sorted(r.status_code for r in retries) == [200] * 5 + [201], [r.text for r in retries]
    assert {r.json()["id"] for r in retries} == {retries[0].json()["id"]}
    assert retries[0].json()["seq"] == 2 * n + 1


@pytest.mark.parametrize("settings_overrides", [{"chat_max_length": 20}])
async def test_bad_messages_are_refused_with_the_contract_error(factory, client):
    v = await make_visit(factory)
    h = v.patient.headers
    err = assert_error(await client.post(url(v), json={"client_msg_id": "a", "body": "x" * 21},
                                         headers=h), 422, "message_too_long")
    assert err["details"] == {"max_length": 20}
    ok = await client.post(url(v), json={"client_msg_id": "a", "body": "é" * 20}, headers=h)
    assert ok.status_code == 201, ok.text
    assert_error(await client.post(url(v), json={"client_msg_id": "b", "body": "  \n "}, headers=h),
                 422, "empty_message")
    for bad in ({"client_msg_id": "c", "body": ""}, {"client_msg_id": "", "body": "hi"},
                {"client_msg_id": "has space", "body": "hi"}, {"client_msg_id": "x" * 65, "body": "hi"},
                {"body": "hi"}, {"client_msg_id": "d"}, {"client_msg_id": "e", "body": 5},
                {"client_msg_id": "f", "body": "hi", "extra": 1}, {"client_msg_id": "h", "body": "a\x00b"},
                {"client_msg_id": "i", "body": "bell\x07"}):
        assert_error(await client.post(url(v), json=bad, headers=h), 422, "validation_error")
    # Nothing but the valid message was stored, and seq has no gap from the refusals.
    items = (await client.get(url(v), headers=h)).json()["items"]
    assert [(m["seq"], m["client_msg_id"]) for m in items] == [(1, "a")]
    nxt = await client.post(url(v), json={"client_msg_id": "g", "body": "next"}, headers=h)
    assert nxt.json()["seq"] == 2


async def test_a_stranger_cannot_read_or_write(factory, client):
    v = await make_visit(factory)
    await client.post(url(v), json={"client_msg_id": "a", "body": "private"}, headers=v.patient.headers)
    for stranger in (await factory.doctor(), await factory.patient(), await factory.admin()):
        assert_error(await client.get(url(v), headers=stranger.headers), 404, "appointment_not_found")
        assert_error(await client.post(url(v), json={"client_msg_id": "b", "body": "hi"},
                                       headers=stranger.headers), 404, "appointment_not_found")
    missing = f"/api/v1/appointments/{uuid.uuid4()}/messages"
    assert_error(await client.get(missing, headers=v.doctor.headers), 404, "appointment_not_found")
    assert_error(await client.get(url(v)), 401, "not_authenticated")
    assert_error(await client.post(url(v), json={"client_msg_id": "c", "body": "hi"}), 401,
                 "not_authenticated")
    items = (await client.get(url(v), headers=v.doctor.headers)).json()["items"]
    assert [m["body"] for m in items] == ["private"]


async def test_chat_works_before_during_and_after_the_call_and_when_cancelled(factory, client, live):
    v = await make_visit(factory)
    d = await connect(live.ws_url, v.doctor)

    async def say(i: int) -> None:
        r = await client.post(url(v), json={"client_msg_id": f"m{i}", "body": f"msg {i}"},
                              headers=v.patient.headers)
        assert r.status_code == 201, r.text

    await say(1)  # before
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await say(2)  # during
    await end_call(client, room["id"], v.doctor)
    await say(3)  # after
    frames = await settle(d, live.app, v.doctor.id)
    assert [f["message"]["seq"] for f in of_type(frames, "chat.message")] == [1, 2, 3]

    cancelled = await factory.appointment(v.doctor, v.patient, starts_in=timedelta(days=2))
    r = await client.post(f"/api/v1/appointments/{cancelled['id']}/cancel", json={},
                          headers=v.doctor.headers)
    assert r.status_code == 200
    r = await client.post(f"/api/v1/appointments/{cancelled['id']}/messages",
                          json={"client_msg_id": "why", "body": "Why was it cancelled?"},
                          headers=v.patient.headers)
    assert r.status_code == 201 and r.json()["seq"] == 1
    await d.close()
