"""/metrics, read the way Prometheus reads it, after the things an operator wants counted happen."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from televisit.runtime import runtime_of
from tests.signaling.helpers import connect, join, make_visit, roundtrip, settle, start_call


async def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_call_with_chat_and_a_cancelled_call_are_counted(factory, client, live, clock):
    before = await scrape(client)
    assert value(before, "televisit_rooms_live") == 0
    assert value(before, "televisit_websockets_open") == 0

    v = await make_visit(factory)
    doctor = await connect(live.ws_url, v.doctor)
    patient = await connect(live.ws_url, v.patient)
    await roundtrip(doctor), await roundtrip(patient)
    room = await start_call(client, v, v.doctor)
    await patient.expect("call.incoming")
    await join(doctor, room["id"]), await join(patient, room["id"])
    for n in range(3):
        await doctor.send({"type": "signal", "room_id": room["id"], "data": {"n": n}})
    await patient.expect("signal", data={"n": 2})
    await patient.send({"type": "chat.send", "appointment_id": v.id, "client_msg_id": "m1", "body": "hi"})
    await patient.expect("chat.ack")
    # The same client_msg_id again is an idempotent repeat, not a second message.
    await patient.send({"type": "chat.send", "appointment_id": v.id, "client_msg_id": "m1", "body": "hi"})
    await patient.expect("chat.ack")
    await settle(doctor, live.app, v.doctor.id)

    during = await scrape(client)
    assert value(during, "televisit_websockets_open") == 2
    assert value(during, "televisit_rooms_live") == 1
    assert value(during, "televisit_signals_relayed_total") == 3
    assert value(during, "televisit_chat_messages_total") == 1
    assert value(during, "televisit_call_setups_total", stage="started") == 1
    assert value(during, "televisit_call_setups_total", stage="answered") == 1

    other = await make_visit(factory)
    unanswered = await start_call(client, other, other.doctor)
    response = await client.post(f"/api/v1/rooms/{unanswered['id']}/end", headers=other.doctor.headers)
    assert response.status_code == 200
    await doctor.close(), await patient.close()

    after = await scrape(client)
    assert value(after, "televisit_call_setups_total", stage="started") == 2
    assert value(after, "televisit_call_setups_total", stage="cancelled") == 1
    assert value(after, "televisit_rooms_live") == 1


async def test_room_timeouts_are_counted_by_reason(factory, client, live, clock):
    v = await make_visit(factory)
    await start_call(client, v, v.doctor)
    clock.advance(seconds=301)
    assert len(await runtime_of(live.app).room_timers.run_once()) == 1
    samples = await scrape(client)
    assert value(samples, "televisit_room_timeouts_total", reason="unused-timeout") == 1
    assert value(samples, "televisit_room_timeouts_total", reason="empty-timeout") == 0
    assert value(samples, "televisit_rooms_live") == 0


async def test_request_latency_is_labelled_by_route_template_not_raw_path(factory, client):
    patient = await factory.patient()
    for _ in range(2):
        response = await client.get("/api/v1/appointments/00000000-0000-0000-0000-000000000000",
                                    headers=patient.headers)
        assert response.status_code == 404
    await client.get("/api/v1/no/such/a1"), await client.get("/api/v1/no/such/b2")
    samples = await scrape(client)
    route = "/api/v1/appointments/{appointment_id}"
    assert value(samples, "televisit_http_request_duration_seconds_count",
                 method="GET", route=route, status="404") == 2
    assert value(samples, "televisit_http_request_duration_seconds_count",
                 method="GET", route="unmatched", status="404") == 2
    assert not any("a1" in dict(labels).get("route", "") for _, labels in samples)
