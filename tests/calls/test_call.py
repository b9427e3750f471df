"""Real 1:1 video calls (aiortc on both ends) through one server instance."""

from __future__ import annotations

from tests.calls.helpers import (
    DOCTOR_CAMERA,
    FRAMES,
    PATIENT_CAMERA,
    assert_sees,
    assert_video_both_ways,
    book,
    hang_up,
    start_and_join,
)
from tests.fixtures.live import WSClient
from tests.fixtures.webrtc import call_peer, candidate_types


async def test_doctor_and_patient_see_each_other_then_hang_up(factory, client, live):
    doctor, patient, appointment = await book(factory)
    async with call_peer("doctor", live.ws_url, doctor.token, **DOCTOR_CAMERA.kwargs()) as d, \
            call_peer("patient", live.ws_url, patient.token, **PATIENT_CAMERA.kwargs()) as p:
        room_id = await start_and_join(client, appointment, doctor, d, p)

        await assert_video_both_ways(d, p)
        # No TURN configured: host candidates, straight between the two.
        assert "host" in candidate_types(d.pc.localDescription.sdp)
        assert "host" in candidate_types(p.pc.localDescription.sdp)

        await hang_up(client, room_id, patient, d, p)

    room = (await client.get(f"/api/v1/rooms/{room_id}", headers=doctor.headers)).json()
    assert room["status"] == "completed" and room["end_reason"] == "ended"
    assert {x["user_id"] for x in room["participants"]} == {str(doctor.id), str(patient.id)}
    visit = (await client.get(f"/api/v1/appointments/{appointment['id']}", headers=patient.headers)).json()
    assert visit["status"] == "completed"


async def test_outsiders_are_refused_while_the_call_goes_on(factory, client, live):
    doctor, patient, appointment = await book(factory)
    other_patient, other_doctor = await factory.patient(), await factory.doctor()
    outsiders = [await WSClient.connect(live.ws_url, person.token)
                 for person in (other_patient, other_doctor)]
    try:
        async with call_peer("doctor", live.ws_url, doctor.token, **DOCTOR_CAMERA.kwargs()) as d, \
                call_peer("patient", live.ws_url, patient.token, **PATIENT_CAMERA.kwargs()) as p:
            response = await client.post(f"/api/v1/appointments/{appointment['id']}/call",
                                          headers=doctor.headers)
            room_id = response.json()["room"]["id"]
            # Ringing before anyone joined, and again once the call is up.
            for outsider in outsiders:
                await assert_refused(outsider, room_id)
            assert (await d.join(room_id))["polite"] is False
            await p.expect("call.incoming", room_id=room_id)
            assert (await p.join(room_id))["polite"] is True
            await assert_video_both_ways(d, p)

            for outsider, person in zip(outsiders, (other_patient, other_doctor), strict=True):
                await assert_refused(outsider, room_id)
                r = await client.get(f"/api/v1/rooms/{room_id}", headers=person.headers)
                assert r.status_code == 404 and r.json()["error"]["code"] == "room_not_found"
                r = await client.post(f"/api/v1/rooms/{room_id}/end", headers=person.headers)
                assert r.status_code == 404 and r.json()["error"]["code"] == "room_not_found"

            # The call is untouched: still in progress, and fresh video keeps arriving both ways.
            room = (await client.get(f"/api/v1/rooms/{room_id}", headers=doctor.headers)).json()
            assert room["status"] == "in-progress"
            assert {x["user_id"] for x in room["participants"]} == {str(doctor.id), str(patient.id)}
            seen_d, seen_p = len(d.received), len(p.received)
            assert_sees((await d.wait_frames(seen_d + FRAMES))[seen_d:], PATIENT_CAMERA)
            assert_sees((await p.wait_frames(seen_p + FRAMES))[seen_p:], DOCTOR_CAMERA)
            # Nobody in the call heard from the outsiders.
            strangers = {str(other_patient.id), str(other_doctor.id)}
            for peer in (d, p):
                assert not [f for f in peer.frames if f["type"] in ("signal", "media.state")
                            and f["from"] in strangers]
                assert not [f for f in peer.frames if f["type"].startswith("participant.")
                            and f["participant"]["user_id"] in strangers]
            await hang_up(client, room_id, doctor, d, p)
        # ...and the outsiders heard nothing of the call: no ringing, no signals, no room events.
        for outsider in outsiders:
            await outsider.send({"type": "ping", "ref": "last"})
            await outsider.expect("pong", ref="last")
            assert not [f for f in outsider.seen if f.get("room_id") == room_id and f["type"] != "error"]
    finally:
        for outsider in outsiders:
            await outsider.close()


async def assert_refused(outsider: WSClient, room_id: str) -> None:
    await outsider.send({"type": "room.join", "room_id": room_id, "ref": "join"})
    error = await outsider.expect("error", ref="join")
    assert error["code"] == "room_not_found", error
    await outsider.send({"type": "signal", "room_id": room_id, "ref": "sig",
                         "data": {"description": {"type": "offer", "sdp": "v=0\r\n"}}})
    error = await outsider.expect("error", ref="sig")
    assert error["code"] == "not_in_room", error
