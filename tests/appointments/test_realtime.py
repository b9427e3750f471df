"""The other party hears about a cancellation at once, on every device, over the WebSocket."""

from datetime import timedelta

from tests.fixtures.live import WSClient


async def test_cancel_notifies_the_other_party(factory, client, live):
    doctor, patient = await factory.doctor(), await factory.patient()
    appt = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    phone = await WSClient.connect(live.ws_url, patient.token)
    laptop = await WSClient.connect(live.ws_url, patient.token)
    try:
        r = await client.post(f"/api/v1/appointments/{appt['id']}/cancel",
                              json={"reason": "Doctor is ill"}, headers=doctor.headers)
        assert r.status_code == 200
        for device in (phone, laptop):
            update = await device.expect("appointment.updated")
            assert update["appointment"]["id"] == appt["id"]
            assert update["appointment"]["status"] == "cancelled"
            assert update["appointment"]["cancel_reason"] == "Doctor is ill"
    finally:
        await phone.close()
        await laptop.close()


async def test_refused_cancel_notifies_nobody(factory, client, live):
    doctor, patient = await factory.doctor(), await factory.patient()
    appt = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=doctor.headers)
    ws = await WSClient.connect(live.ws_url, patient.token)
    try:
        again = await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=doctor.headers)
        assert again.status_code == 409
        await ws.send({"type": "ping", "ref": "after"})
        await ws.expect("pong", ref="after")
        assert not [f for f in ws.seen if f["type"] == "appointment.updated"]
    finally:
        await ws.close()
