from datetime import timedelta

import httpx

from tests.fixtures.factories import Factory
from tests.fixtures.live import WSClient


async def test_two_instances_ring_and_signal(cluster):
    async with httpx.AsyncClient(base_url=cluster.a.http_url) as http_a, \
            httpx.AsyncClient(base_url=cluster.b.http_url) as http_b:
        fa = Factory(cluster.a.app, http_a, cluster.clock)
        doctor, patient = await fa.doctor(), await fa.patient()
        appt = await fa.appointment(doctor, patient, starts_in=timedelta(minutes=5))
        d = await WSClient.connect(cluster.a.ws_url, doctor.token)
        p = await WSClient.connect(cluster.b.ws_url, patient.token)
        r = await http_b.post(f"/api/v1/appointments/{appt['id']}/call", headers=doctor.headers)
        assert r.status_code == 201
        room_id = r.json()["room"]["id"]
        assert (await p.expect("call.incoming"))["room_id"] == room_id
        await d.send({"type": "room.join", "room_id": room_id})
        await d.expect("room.joined")
        await p.send({"type": "room.join", "room_id": room_id})
        await p.expect("room.joined")
        await p.send({"type": "signal", "room_id": room_id, "data": {"candidate": "c"}})
        assert (await d.expect("signal"))["data"] == {"candidate": "c"}
        await d.close()
        await p.close()
