"""Deactivation takes effect at once: the person's open sockets close, on a real server."""

from __future__ import annotations

import httpx
import websockets

from tests.audit.helpers import USERS
from tests.auth.helpers import ME
from tests.fixtures.live import WSClient
from tests.signaling.helpers import connect, roundtrip


async def test_deactivation_closes_every_open_socket_of_the_person_and_kills_the_token(factory, live):
    admin, patient, doctor = await factory.admin(), await factory.patient(), await factory.doctor()
    laptop = await connect(live.ws_url, patient)
    phone = await WSClient.connect(live.ws_url, await factory.login(patient))  # another session
    bystander = await connect(live.ws_url, doctor)

    async with httpx.AsyncClient(base_url=live.http_url) as http:
        response = await http.post(f"{USERS}/{patient.id}/deactivate", headers=admin.headers)
        assert response.status_code == 200, response.text

        for ws in (laptop, phone):
            assert await ws.expect("session.ended") == {"type": "session.ended", "reason": "deactivated"}
            try:
                await ws.recv(timeout=5)
                raise AssertionError("the socket stayed open")
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4401
        assert (await http.get(ME, headers=patient.headers)).status_code == 401
        refused = await WSClient.connect(live.ws_url)
        await refused.send({"type": "auth", "token": patient.token})
        assert (await refused.expect("error"))["code"] == "invalid_token"

        await roundtrip(bystander)  # someone else's socket lives on
        assert (await http.get(ME, headers=doctor.headers)).status_code == 200
    await bystander.close()
