"""A real video call with the doctor on instance A and the patient on instance B (PostgreSQL + Redis)."""

from __future__ import annotations

import httpx

from tests.calls.helpers import (
    DOCTOR_CAMERA,
    PATIENT_CAMERA,
    assert_video_both_ways,
    book,
    hang_up,
    start_and_join,
)
from tests.fixtures.factories import Factory
from tests.fixtures.webrtc import call_peer


async def test_call_across_two_instances(cluster):
    async with httpx.AsyncClient(base_url=cluster.a.http_url) as http_a, \
            httpx.AsyncClient(base_url=cluster.b.http_url) as http_b:
        doctor, patient, appointment = await book(Factory(cluster.a.app, http_a, cluster.clock))
        async with call_peer("doctor@A", cluster.a.ws_url, doctor.token, **DOCTOR_CAMERA.kwargs()) as d, \
                call_peer("patient@B", cluster.b.ws_url, patient.token, **PATIENT_CAMERA.kwargs()) as p:
            # The doctor starts the call on A; the ring, the joins and every signal cross Redis.
            room_id = await start_and_join(http_a, appointment, doctor, d, p)
            await assert_video_both_ways(d, p)
            # The patient hangs up through B; the doctor on A hears it.
            await hang_up(http_b, room_id, patient, d, p)
        room = (await http_a.get(f"/api/v1/rooms/{room_id}", headers=doctor.headers)).json()
        assert room["status"] == "completed" and room["end_reason"] == "ended"
